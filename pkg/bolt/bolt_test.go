package bolt

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/fleetcron/fleetcrontest"
)

const testMaxReceives = 3

func openTest(t *testing.T, path string) *DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "fleetcron.db")
	}
	db, err := Open(path, func(o *Options) { o.MaxReceives = testMaxReceives })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestJobStore(t *testing.T) {
	fleetcrontest.TestJobStore(t, func(t *testing.T) fleetcron.JobStore { return openTest(t, "") })
}

func TestRunStore(t *testing.T) {
	fleetcrontest.TestRunStore(t, func(t *testing.T) fleetcron.RunStore { return openTest(t, "") })
}

func TestTokenStore(t *testing.T) {
	fleetcrontest.TestTokenStore(t, func(t *testing.T) fleetcron.TokenStore { return openTest(t, "") })
}

func TestAgentStore(t *testing.T) {
	fleetcrontest.TestAgentStore(t, func(t *testing.T) fleetcron.AgentStore { return openTest(t, "") })
}

func TestQueue(t *testing.T) {
	fleetcrontest.TestQueue(t, func(t *testing.T) fleetcron.Queue { return openTest(t, "") },
		fleetcrontest.QueueOptions{Pools: []string{"default", "batch"}, MaxReceives: testMaxReceives, Tick: 250 * time.Millisecond})
}

func runMessage(i int) events.RunMessage {
	at := time.Date(2030, 1, 1, 0, i, 0, 0, time.UTC)
	return events.RunMessage{RunID: fleetcron.RunID("job", at), JobID: "job", ScheduledTime: at.Format(time.RFC3339), Pool: "default"}
}

// TestRestart checks that jobs, runs and queue messages survive Close and
// Open, a received message still invisible.
func TestRestart(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "fleetcron.db")
	db := openTest(t, path)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	job := &fleetcron.Job{ID: "job", Executable: "true", Schedule: "* * * * *", Owner: "alice", CreatedAt: now}
	job.ApplyDefaults()
	if err := db.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	run := &fleetcron.Run{ID: fleetcron.RunID("job", now), JobID: "job", ScheduledAt: now, State: fleetcron.RunQueued, MaxAttempts: 3}
	if err := db.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimRun(ctx, fleetcron.Claim{RunID: run.ID, Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := db.Send(ctx, "default", runMessage(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	inflight, err := db.Receive(ctx, "default", 1, time.Hour, 0)
	if err != nil || len(inflight) != 1 {
		t.Fatalf("receive: %d, %v", len(inflight), err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetJob(ctx, "job"); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetJob on a closed DB: %v, want ErrClosed", err)
	}

	db = openTest(t, path)
	if j, err := db.GetJob(ctx, "job"); err != nil || j.Owner != "alice" {
		t.Fatalf("job after reopen: %+v, %v", j, err)
	}
	if p, err := db.ListJobs(ctx, fleetcron.JobQuery{Owner: "alice"}); err != nil || len(p.Jobs) != 1 {
		t.Fatalf("jobs of alice after reopen: %d, %v", len(p.Jobs), err)
	}
	if r, err := db.GetRun(ctx, run.ID); err != nil || r.State != fleetcron.RunRunning || r.LeaseOwner != "a" {
		t.Fatalf("run after reopen: %+v, %v", r, err)
	}
	if p, err := db.ListRuns(ctx, fleetcron.RunQuery{JobID: "job", ActiveOnly: true}); err != nil || len(p.Runs) != 1 {
		t.Fatalf("active runs after reopen: %d, %v", len(p.Runs), err)
	}
	ds, err := db.Receive(ctx, "default", 10, time.Minute, time.Second)
	if err != nil || len(ds) != 1 {
		t.Fatalf("receive after reopen: %d messages, %v; want the one not in flight", len(ds), err)
	}
	if ds[0].MessageID == inflight[0].MessageID || ds[0].ReceiveCount != 1 {
		t.Fatalf("received %+v; the in-flight message must stay invisible", ds[0])
	}
	// The in-flight receipt still works across the restart.
	if err := db.ChangeVisibility(ctx, "default", inflight[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	ds, err = db.Receive(ctx, "default", 10, time.Minute, time.Second)
	if err != nil || len(ds) != 1 || ds[0].MessageID != inflight[0].MessageID || ds[0].ReceiveCount != 2 {
		t.Fatalf("receive of the released message: %+v, %v", ds, err)
	}
}

func TestStaleReceipt(t *testing.T) {
	ctx := t.Context()
	db := openTest(t, "")
	if err := db.Send(ctx, "default", runMessage(0), 0); err != nil {
		t.Fatal(err)
	}
	first, err := db.Receive(ctx, "default", 1, time.Minute, 0)
	if err != nil || len(first) != 1 {
		t.Fatal(len(first), err)
	}
	if err := db.ChangeVisibility(ctx, "default", first[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	second, err := db.Receive(ctx, "default", 1, time.Minute, 0)
	if err != nil || len(second) != 1 {
		t.Fatal(len(second), err)
	}
	old := first[0].Receipt
	if err := db.Delete(ctx, "default", old); !errors.Is(err, ErrStaleReceipt) || !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("delete with a stale receipt: %v, want ErrStaleReceipt", err)
	}
	if err := db.ChangeVisibility(ctx, "default", old, 0); !errors.Is(err, ErrStaleReceipt) {
		t.Fatalf("change visibility with a stale receipt: %v, want ErrStaleReceipt", err)
	}
	if ds, _ := db.Receive(ctx, "default", 1, time.Minute, 0); len(ds) != 0 {
		t.Fatal("a stale receipt released the message")
	}
	cur := second[0].Receipt
	if err := db.Delete(ctx, "default", cur); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, "default", cur); err != nil {
		t.Fatalf("second delete: %v, want nil (as SQS)", err)
	}
	if err := db.ChangeVisibility(ctx, "default", cur, time.Minute); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("change visibility of a deleted message: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "garbage", "x.1.2"} {
		if err := db.ChangeVisibility(ctx, "default", bad, 0); !errors.Is(err, fleetcron.ErrNotFound) {
			t.Fatalf("change visibility with receipt %q: %v, want ErrNotFound", bad, err)
		}
	}
}

func TestCloseEndsLongPoll(t *testing.T) {
	db := openTest(t, "")
	done := make(chan error, 1)
	go func() {
		_, err := db.Receive(t.Context(), "default", 1, time.Second, time.Minute)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("long poll ended with %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll still waiting after Close")
	}
}

func TestLongPollWakesAtVisibleAt(t *testing.T) {
	db := openTest(t, "")
	if err := db.Send(t.Context(), "default", runMessage(0), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ds, err := db.Receive(t.Context(), "default", 1, time.Second, 10*time.Second)
	if err != nil || len(ds) != 1 {
		t.Fatalf("receive: %d, %v", len(ds), err)
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("delayed message received after %v, want about 200ms", took)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fleetcron.db")
	openTest(t, path)
	start := time.Now()
	db, err := Open(path, func(o *Options) { o.LockTimeout = 100 * time.Millisecond })
	if err == nil {
		db.Close()
		t.Fatal("opened a file another DB holds")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Open waited %v past its lock timeout", time.Since(start))
	}
}

func TestBadCursor(t *testing.T) {
	db := openTest(t, "")
	if _, err := db.ListJobs(t.Context(), fleetcron.JobQuery{Cursor: "!!"}); !errors.Is(err, fleetcron.ErrInvalid) {
		t.Fatalf("ListJobs with a bad cursor: %v, want ErrInvalid", err)
	}
	if _, err := db.ListRuns(t.Context(), fleetcron.RunQuery{JobID: "a", Cursor: encodeCursor([]byte("b/1"))}); !errors.Is(err, fleetcron.ErrInvalid) {
		t.Fatalf("ListRuns with another job's cursor: %v, want ErrInvalid", err)
	}
}
