// Package fleetcron is the domain of fleetcron: jobs and runs, their states and
// validation, the sentinel errors every layer maps from, and the ports (small
// interfaces) the services need from storage, queues, blobs and schedulers.
//
// Adapters live in sibling packages named after what they wrap (bolt, blobdir,
// localcron, and the AWS ones) and assert that they implement these ports; the
// contract suites in package fleetcrontest hold every adapter to the same tests.
package fleetcron
