// Package fleetcrontest holds the contract suites of fleetcron's ports: one
// exported function per port, whose subtests every adapter of that port runs,
// the embedded ones (bolt, blobdir) and the AWS ones (DynamoDB, SQS, S3,
// EventBridge Scheduler) alike, so that they all keep the semantics documented
// in package fleetcron.
//
// An adapter's test calls the suite with a constructor that returns a fresh,
// empty store for each subtest:
//
//	func TestBolt(t *testing.T) {
//		fleetcrontest.TestRunStore(t, func(t *testing.T) fleetcron.RunStore {
//			db, err := bolt.Open(filepath.Join(t.TempDir(), "fleetcron.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { db.Close() })
//			return db
//		})
//	}
//
// The suites hold no clock: like the services, they pass every instant to the
// store (a claim's Now, a lease's expiry), on a timeline of their own in the
// future, with millisecond precision. Only the queue suite waits in real time,
// in multiples of QueueOptions.Tick and with polling loops bounded by deadlines.
// Errors are checked with errors.Is against the fleetcron sentinels.
package fleetcrontest
