// Package bolt is fleetcron's embedded store over go.etcd.io/bbolt: jobs,
// runs, agents and the run queues in one file, for the dev server and the
// services' tests. It implements fleetcron.JobStore, RunStore, AgentStore and
// Queue on *DB, and passes their contract suites in fleetcrontest.
//
// Every conditional write (the fire lock, the send lease, the fenced agent
// lease) is one bbolt read-write transaction, and bbolt runs those one at a
// time, so a condition read in a transaction still holds when its write
// commits. Records are JSON. The queue keeps SQS's semantics: a received
// message is invisible for its visibility timeout, then comes back with a new
// receipt handle, and moves to the pool's dead-letter pool after MaxReceives
// receives; long polls wake when a message is sent.
//
// A file is opened by one process at a time (bbolt holds an exclusive lock).
package bolt
