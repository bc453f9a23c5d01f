package fleetcrontest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// QueueOptions describes the queue under test.
type QueueOptions struct {
	// Pools are pools the queue knows (SQS: queues it was given). At least
	// two; the suite uses the first two, e.g. "default" and "batch".
	Pools []string
	// MaxReceives is how many times a message is received before it moves
	// to the dead-letter pool (SQS: the redrive policy's maxReceiveCount).
	MaxReceives int
	// Tick is the smallest visibility timeout, delay and wait the queue
	// honours; the suite's timeouts are small multiples of it. SQS counts in
	// whole seconds: time.Second, the default. An embedded queue may be
	// tested with less.
	Tick time.Duration
}

// TestQueue is the contract suite of fleetcron.Queue: SQS semantics of
// visibility, delay, long polling, dead-lettering, and neither loss nor
// duplication under concurrent consumers. newQueue returns a queue whose
// pools are empty, fresh for each subtest.
func TestQueue(t *testing.T, newQueue func(t *testing.T) fleetcron.Queue, opts QueueOptions) {
	if len(opts.Pools) < 2 {
		t.Fatalf("QueueOptions.Pools = %q: the suite needs two pools", opts.Pools)
	}
	if opts.MaxReceives < 1 {
		t.Fatalf("QueueOptions.MaxReceives = %d: want at least 1", opts.MaxReceives)
	}
	tick := opts.Tick
	if tick <= 0 {
		tick = time.Second
	}
	pool, other := opts.Pools[0], opts.Pools[1]

	t.Run("SendReceiveDelete", func(t *testing.T) {
		q := newQueue(t)
		m := runMessage(pool, 0)
		must(t, q.Send(t.Context(), pool, m, 0), "send")
		ds := receiveN(t, q, pool, 1, tick, 3*tick)
		d := ds[0]
		if d.Message != m {
			t.Fatalf("received %+v, want %+v", d.Message, m)
		}
		if d.MessageID == "" || d.Receipt == "" || d.ReceiveCount != 1 {
			t.Fatalf("delivery: MessageID %q Receipt %q ReceiveCount %d; want both set and 1", d.MessageID, d.Receipt, d.ReceiveCount)
		}
		must(t, q.Delete(t.Context(), pool, d.Receipt), "delete")
		// Deleted: it does not come back after its visibility timeout.
		wantEmpty(t, q, pool, 2*tick, "after delete")
	})

	t.Run("VisibilityTimeout", func(t *testing.T) {
		q := newQueue(t)
		m := runMessage(pool, 0)
		must(t, q.Send(t.Context(), pool, m, 0), "send")
		first := receiveN(t, q, pool, 1, tick, 3*tick)[0]
		received := time.Now()
		wantEmpty(t, q, pool, 0, "while the received message is invisible")
		again := receiveN(t, q, pool, 1, tick, 5*tick)[0]
		if waited := time.Since(received); waited < tick/2 {
			t.Fatalf("message came back after %v, before its visibility timeout of %v", waited, tick)
		}
		if again.MessageID != first.MessageID || again.Message != m || again.ReceiveCount != 2 {
			t.Fatalf("second delivery: id %q count %d, want %q 2", again.MessageID, again.ReceiveCount, first.MessageID)
		}
		if again.Receipt == first.Receipt {
			t.Fatalf("receipt %q did not change between receives", again.Receipt)
		}
		must(t, q.Delete(t.Context(), pool, again.Receipt), "delete with the current receipt")
		wantEmpty(t, q, pool, 2*tick, "after delete")
	})

	t.Run("ChangeVisibilityZeroReleases", func(t *testing.T) {
		q := newQueue(t)
		must(t, q.Send(t.Context(), pool, runMessage(pool, 0), 0), "send")
		d := receiveN(t, q, pool, 1, 60*tick, 3*tick)[0]
		must(t, q.ChangeVisibility(t.Context(), pool, d.Receipt, 0), "change visibility to 0")
		// Back long before its 60-tick visibility timeout.
		again := receiveN(t, q, pool, 1, 60*tick, 3*tick)[0]
		if again.MessageID != d.MessageID || again.ReceiveCount != 2 {
			t.Fatalf("after release: id %q count %d, want %q 2", again.MessageID, again.ReceiveCount, d.MessageID)
		}
	})

	t.Run("ChangeVisibilityExtends", func(t *testing.T) {
		q := newQueue(t)
		must(t, q.Send(t.Context(), pool, runMessage(pool, 0), 0), "send")
		d := receiveN(t, q, pool, 1, tick, 3*tick)[0]
		must(t, q.ChangeVisibility(t.Context(), pool, d.Receipt, 4*tick), "extend visibility")
		extended := time.Now()
		sleep(t, 2*tick)
		wantEmpty(t, q, pool, 0, "past the original visibility timeout, inside the extended one")
		again := receiveN(t, q, pool, 1, tick, 6*tick)[0]
		if waited := time.Since(extended); waited < 3*tick {
			t.Fatalf("message came back %v after the extension to %v", waited, 4*tick)
		}
		if again.MessageID != d.MessageID || again.ReceiveCount != 2 {
			t.Fatalf("after the extension: id %q count %d, want %q 2", again.MessageID, again.ReceiveCount, d.MessageID)
		}
		must(t, q.Delete(t.Context(), pool, again.Receipt), "delete")
	})

	t.Run("Delay", func(t *testing.T) {
		q := newQueue(t)
		must(t, q.Send(t.Context(), pool, runMessage(pool, 0), 2*tick), "send with delay")
		sent := time.Now()
		wantEmpty(t, q, pool, 0, "while the message is delayed")
		receiveN(t, q, pool, 1, tick, 6*tick)
		if waited := time.Since(sent); waited < tick {
			t.Fatalf("delayed message received after %v, want about %v", waited, 2*tick)
		}
	})

	t.Run("LongPollReturnsEarly", func(t *testing.T) {
		q := newQueue(t)
		wait := 10 * tick
		type result struct {
			ds  []fleetcron.Delivery
			err error
			at  time.Time
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			ds, err := q.Receive(t.Context(), pool, 1, 5*tick, wait)
			done <- result{ds, err, time.Now()}
		}()
		sleep(t, tick)
		must(t, q.Send(t.Context(), pool, runMessage(pool, 0), 0), "send during a long poll")
		select {
		case r := <-done:
			must(t, r.err, "long poll")
			if len(r.ds) != 1 {
				t.Fatalf("long poll returned %d messages, want 1", len(r.ds))
			}
			if took := r.at.Sub(start); took > wait-3*tick {
				t.Fatalf("long poll returned after %v: it waited out its %v instead of returning on the send", took, wait)
			}
		case <-time.After(wait + 5*tick):
			t.Fatalf("long poll did not return within %v", wait+5*tick)
		}
	})

	t.Run("LongPollWaitsAndStops", func(t *testing.T) {
		q := newQueue(t)
		start := time.Now()
		ds, err := q.Receive(t.Context(), pool, 1, tick, tick)
		must(t, err, "receive from an empty pool")
		if len(ds) != 0 {
			t.Fatalf("empty pool gave %d messages", len(ds))
		}
		if took := time.Since(start); took < tick/2 {
			t.Fatalf("receive with wait %v on an empty pool returned after %v: a poller would spin", tick, took)
		}
		// Canceling the context ends a long poll (an agent stops polling).
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(tick/2, cancel)
		start = time.Now()
		ds, _ = q.Receive(ctx, pool, 1, tick, 20*tick)
		if took := time.Since(start); took > 5*tick || len(ds) != 0 {
			t.Fatalf("canceled long poll returned %d messages after %v", len(ds), took)
		}
	})

	t.Run("MaxMessages", func(t *testing.T) {
		q := newQueue(t)
		want := map[string]bool{}
		for i := range 5 {
			m := runMessage(pool, i)
			want[m.RunID] = true
			must(t, q.Send(t.Context(), pool, m, 0), "send %d", i)
		}
		ds, err := q.Receive(t.Context(), pool, 2, 30*tick, tick)
		must(t, err, "receive")
		if len(ds) < 1 || len(ds) > 2 {
			t.Fatalf("Receive(max 2) gave %d messages", len(ds))
		}
		rest := receiveN(t, q, pool, 5-len(ds), 30*tick, 5*tick)
		seen := map[string]int{}
		for _, d := range append(ds, rest...) {
			seen[d.Message.RunID]++
		}
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("message %s received %d times, want once", id, seen[id])
			}
		}
	})

	t.Run("PoolsIsolated", func(t *testing.T) {
		q := newQueue(t)
		a, b := runMessage(pool, 1), runMessage(other, 2)
		must(t, q.Send(t.Context(), pool, a, 0), "send to %s", pool)
		must(t, q.Send(t.Context(), other, b, 0), "send to %s", other)
		got := receiveN(t, q, other, 1, 30*tick, 3*tick)[0]
		if got.Message != b {
			t.Fatalf("pool %s gave %+v, want %+v", other, got.Message, b)
		}
		wantEmpty(t, q, other, tick, "pool "+other+" after its one message")
		got = receiveN(t, q, pool, 1, 30*tick, 3*tick)[0]
		if got.Message != a {
			t.Fatalf("pool %s gave %+v, want %+v", pool, got.Message, a)
		}
	})

	t.Run("DeadLetter", func(t *testing.T) {
		q := newQueue(t)
		m := runMessage(pool, 0)
		must(t, q.Send(t.Context(), pool, m, 0), "send")
		for i := 1; i <= opts.MaxReceives; i++ {
			d := receiveN(t, q, pool, 1, 30*tick, 3*tick)[0]
			if d.ReceiveCount != i || d.Message != m {
				t.Fatalf("receive %d: count %d message %+v", i, d.ReceiveCount, d.Message)
			}
			must(t, q.ChangeVisibility(t.Context(), pool, d.Receipt, 0), "release receive %d", i)
		}
		wantEmpty(t, q, pool, tick, fmt.Sprintf("after %d receives (MaxReceives)", opts.MaxReceives))
		dlq := fleetcron.DeadLetterPool(pool)
		d := receiveN(t, q, dlq, 1, 30*tick, 5*tick)[0]
		if d.Message != m {
			t.Fatalf("dead-letter pool %s gave %+v, want %+v", dlq, d.Message, m)
		}
		must(t, q.Delete(t.Context(), dlq, d.Receipt), "delete from the dead-letter pool")
	})

	t.Run("NoLossNoDuplicates", func(t *testing.T) {
		q := newQueue(t)
		const n, senders, consumers = 200, 4, 4
		msgs := make([]events.RunMessage, n)
		for i := range msgs {
			msgs[i] = runMessage(pool, i)
		}
		var wg sync.WaitGroup
		sendErrs := make([]error, senders)
		for s := range senders {
			wg.Go(func() {
				for i := s; i < n; i += senders {
					if err := q.Send(t.Context(), pool, msgs[i], 0); err != nil {
						sendErrs[s] = fmt.Errorf("send %d: %w", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		for _, err := range sendErrs {
			must(t, err, "concurrent send")
		}

		var (
			mu     sync.Mutex
			seen   = map[string]int{}
			total  atomic.Int64
			errs   = make([]error, consumers)
			cutoff = time.Now().Add(60 * tick)
		)
		for c := range consumers {
			wg.Go(func() {
				for total.Load() < n && time.Now().Before(cutoff) {
					ds, err := q.Receive(t.Context(), pool, 10, 60*tick, tick)
					if err != nil {
						errs[c] = fmt.Errorf("consumer %d: receive: %w", c, err)
						return
					}
					for _, d := range ds {
						mu.Lock()
						seen[d.Message.RunID]++
						mu.Unlock()
						total.Add(1)
						if err := q.Delete(t.Context(), pool, d.Receipt); err != nil {
							errs[c] = fmt.Errorf("consumer %d: delete: %w", c, err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			must(t, err, "consume")
		}
		for i, m := range msgs {
			id := m.RunID
			if seen[id] != 1 {
				t.Errorf("message %d (%s) received %d times, want exactly once", i, id, seen[id])
			}
		}
		if len(seen) != n {
			t.Errorf("received %d distinct messages, want %d", len(seen), n)
		}
		wantEmpty(t, q, pool, tick, "after all messages were deleted")
	})
}

// runMessage is the i-th message of a test in pool, of a new job.
func runMessage(pool string, i int) events.RunMessage {
	jobID := fleetcron.NewID()
	at := base.Add(time.Duration(i) * time.Minute)
	return events.RunMessage{
		RunID:         fleetcron.RunID(jobID, at),
		JobID:         jobID,
		ScheduledTime: at.Format(time.RFC3339Nano),
		Pool:          pool,
	}
}

// receiveN receives until it has n messages (with visibility vis), or fails
// the test after within.
func receiveN(t *testing.T, q fleetcron.Receiver, pool string, n int, vis, within time.Duration) []fleetcron.Delivery {
	t.Helper()
	var out []fleetcron.Delivery
	deadline := time.Now().Add(within)
	for len(out) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("pool %s: received %d of %d messages within %v", pool, len(out), n, within)
		}
		wait := min(left, 20*time.Second).Truncate(time.Second) // SQS: whole seconds, at most 20
		if wait == 0 {
			wait = left
		}
		ds, err := q.Receive(t.Context(), pool, min(n-len(out), 10), vis, wait)
		must(t, err, "receive from pool %s", pool)
		out = append(out, ds...)
	}
	if len(out) > n {
		t.Fatalf("pool %s: received %d messages, want %d", pool, len(out), n)
	}
	return out
}

// wantEmpty fails the test if pool gives a message within wait.
func wantEmpty(t *testing.T, q fleetcron.Receiver, pool string, wait time.Duration, when string) {
	t.Helper()
	ds, err := q.Receive(t.Context(), pool, 10, time.Minute, wait)
	must(t, err, "receive from pool %s %s", pool, when)
	if len(ds) > 0 {
		t.Fatalf("pool %s %s: received %d messages (first %+v, count %d), want none",
			pool, when, len(ds), ds[0].Message, ds[0].ReceiveCount)
	}
}

func sleep(t *testing.T, d time.Duration) {
	select {
	case <-t.Context().Done():
	case <-time.After(d):
	}
}
