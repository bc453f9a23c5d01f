package localcron

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/fleetcron/fleetcrontest"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func job(id, sched string) *fleetcron.Job {
	j := &fleetcron.Job{ID: id, Schedule: sched, Executable: "true"}
	j.ApplyDefaults()
	return j
}

var t0 = time.Date(2026, 11, 22, 10, 7, 0, 0, time.UTC)

func TestCollectFiresAtScheduledInstants(t *testing.T) {
	clk := &fakeClock{now: t0}
	tk := New(nil, WithClock(clk.Now))
	ctx := context.Background()
	if err := tk.PutSchedule(ctx, job("a", "*/15 * * * *")); err != nil {
		t.Fatal(err)
	}
	if got := tk.Next("a"); !got.Equal(t0.Add(8 * time.Minute)) {
		t.Fatalf("next = %v", got)
	}
	if b, wait := tk.collect(t0.Add(8*time.Minute - time.Second)); len(b) != 0 || wait != time.Second {
		t.Fatalf("early collect: %v, wait %v", b, wait)
	}
	b, _ := tk.collect(t0.Add(8 * time.Minute))
	if len(b) != 1 || b[0].JobID != "a" || b[0].ScheduledTime != "2026-11-22T10:15:00Z" {
		t.Fatalf("batch %+v", b)
	}
	if got := tk.Next("a"); got.Format(time.RFC3339) != "2026-11-22T10:30:00Z" {
		t.Fatalf("rescheduled to %v", got)
	}
	// A late collect inside MissedAfter still delivers the instant it is for.
	b, _ = tk.collect(t0.Add(23*time.Minute + 30*time.Second))
	if len(b) != 1 || b[0].ScheduledTime != "2026-11-22T10:30:00Z" {
		t.Fatalf("late batch %+v", b)
	}
	// Instants missed long ago are skipped, not backfilled.
	b, _ = tk.collect(t0.Add(3 * time.Hour))
	if len(b) != 0 || tk.Next("a").Format(time.RFC3339) != "2026-11-22T13:15:00Z" {
		t.Fatalf("missed: batch %+v next %v", b, tk.Next("a"))
	}
}

func TestPausedReplacedAndDeleted(t *testing.T) {
	clk := &fakeClock{now: t0}
	tk := New(nil, WithClock(clk.Now))
	ctx := context.Background()
	j := job("a", "* * * * *")
	j.Paused = true
	_ = tk.PutSchedule(ctx, j)
	if b, _ := tk.collect(t0.Add(time.Hour)); len(b) != 0 {
		t.Fatalf("paused job fired: %v", b)
	}
	info, _ := tk.GetSchedule(ctx, "a")
	if info.Enabled {
		t.Fatal("paused schedule enabled")
	}
	j.Paused = false
	j.Schedule = "0 * * * *"
	_ = tk.PutSchedule(ctx, j)
	_ = tk.PutSchedule(ctx, j) // replacing twice keeps one entry
	if b, _ := tk.collect(t0.Add(53 * time.Minute)); len(b) != 1 {
		t.Fatalf("batch %v, want exactly one fire", b)
	}
	_ = tk.DeleteSchedule(ctx, "a")
	if _, err := tk.GetSchedule(ctx, "a"); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := tk.PutSchedule(ctx, job("b", "61 * * * *")); !errors.Is(err, fleetcron.ErrInvalid) {
		t.Fatalf("bad schedule: %v", err)
	}
}

func TestRunDeliversAndRetries(t *testing.T) {
	clk := &fakeClock{now: t0}
	var calls atomic.Int32
	got := make(chan events.Fire, 4)
	fire := func(_ context.Context, f events.Fire) error {
		if calls.Add(1) <= 2 {
			return errors.New("injected delivery failure")
		}
		got <- f
		return nil
	}
	tk := New(fire, WithClock(clk.Now), WithRetries(3, time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tk.Run(ctx) }()
	_ = tk.PutSchedule(ctx, job("a", "8 * * * *"))
	clk.Set(t0.Add(time.Minute))
	tk.poke()
	select {
	case f := <-got:
		if f.ScheduledTime != "2026-11-22T10:08:00Z" || calls.Load() != 3 {
			t.Fatalf("fire %+v after %d calls", f, calls.Load())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no fire delivered")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFinalErrorsAreNotRetried(t *testing.T) {
	final := errors.New("ignored")
	var calls atomic.Int32
	tk := New(func(context.Context, events.Fire) error { calls.Add(1); return final },
		WithRetries(3, time.Millisecond), WithFinalErrors(final))
	tk.deliver(context.Background(), events.Fire{JobID: "a"})
	if calls.Load() != 1 {
		t.Fatalf("calls = %d, want 1", calls.Load())
	}
}

func TestSchedulerContract(t *testing.T) {
	fleetcrontest.TestScheduler(t, func(t *testing.T) (fleetcron.Scheduler, fleetcron.ScheduleReader) {
		tk := New(nil)
		return tk, tk
	})
}

func TestJitterSpreadsFiresReproducibly(t *testing.T) {
	const window = time.Minute
	at := t0.Add(53 * time.Minute) // 11:00
	var buckets [6]int
	for i := range 6000 {
		id := fmt.Sprintf("job-%d", i)
		off := JitterOffset(id, at, window)
		if off < 0 || off >= window {
			t.Fatalf("offset %v outside [0, %v)", off, window)
		}
		if off != JitterOffset(id, at, window) {
			t.Fatal("offset not reproducible")
		}
		buckets[off/(10*time.Second)]++
	}
	for i, n := range buckets { // 1000 expected in each 10 s bucket
		if n < 850 || n > 1150 {
			t.Errorf("bucket %d holds %d of 6000 fires: not spread evenly: %v", i, n, buckets)
		}
	}
	if JitterOffset("a", at, 0) != 0 {
		t.Error("no jitter must mean no offset")
	}
	// The ticker fires at the instant plus the offset, and reports the instant.
	clk := &fakeClock{now: t0}
	tk := New(nil, WithClock(clk.Now))
	j := job("a", "0 * * * *")
	j.JitterSec = 60
	if err := tk.PutSchedule(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	due := at.Add(JitterOffset("a", at, window))
	if b, _ := tk.collect(due.Add(-time.Nanosecond)); len(b) != 0 {
		t.Fatalf("fired before its offset: %v", b)
	}
	if b, _ := tk.collect(due); len(b) != 1 || b[0].ScheduledTime != "2026-11-22T11:00:00Z" {
		t.Fatalf("batch at the offset: %+v", b)
	}
}
