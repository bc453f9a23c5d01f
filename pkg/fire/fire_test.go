package fire_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fire"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/testenv"
)

var at = time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)

func fireOf(jobID string, t time.Time) events.Fire {
	return events.Fire{JobID: jobID, ScheduledTime: t.Format(time.RFC3339)}
}

func TestConcurrentDeliveriesMakeOneRunOneMessage(t *testing.T) {
	env := testenv.New(t)
	job := env.Job(t, func(j *fleetcron.Job) {})
	svc := fire.New(env.Jobs, env.Runs, env.Queue)
	var wg sync.WaitGroup
	var errs atomic.Int32
	for range 50 {
		wg.Go(func() {
			if _, err := svc.Fire(context.Background(), fireOf(job.ID, at)); err != nil {
				errs.Add(1)
				t.Error(err)
			}
		})
	}
	wg.Wait()
	page, err := env.Runs.ListRuns(context.Background(), fleetcron.RunQuery{JobID: job.ID})
	if err != nil || len(page.Runs) != 1 {
		t.Fatalf("runs = %d (%v), want 1", len(page.Runs), err)
	}
	if r := page.Runs[0]; !r.Enqueued || r.State != fleetcron.RunQueued || r.ID != fleetcron.RunID(job.ID, at) {
		t.Fatalf("run %+v", r)
	}
	if n := env.DrainQueue(t, job.Pool); n != 1 {
		t.Fatalf("messages = %d, want 1", n)
	}
}

// failingSender fails the first n sends: the crash between lock and send.
type failingSender struct {
	fleetcron.Sender
	fail atomic.Int32
}

func (f *failingSender) Send(ctx context.Context, pool string, m events.RunMessage, d time.Duration) error {
	if f.fail.Add(-1) >= 0 {
		return errors.New("injected: process died before the send")
	}
	return f.Sender.Send(ctx, pool, m, d)
}

func TestLockedButNotEnqueuedIsResentByRetry(t *testing.T) {
	env := testenv.New(t)
	job := env.Job(t, func(j *fleetcron.Job) {})
	now := at.Add(10 * time.Second)
	clock := func() time.Time { return now }
	s := &failingSender{Sender: env.Queue}
	s.fail.Store(1)
	svc := fire.New(env.Jobs, env.Runs, s, fire.WithClock(clock), fire.WithSendLease(30*time.Second))

	if _, err := svc.Fire(context.Background(), fireOf(job.ID, at)); err == nil {
		t.Fatal("the failed send was reported as success")
	}
	r, err := env.Runs.GetRun(context.Background(), fleetcron.RunID(job.ID, at))
	if err != nil || r.Enqueued {
		t.Fatalf("after the crash the run should be locked, not enqueued: %+v %v", r, err)
	}
	// A retry inside the first sender's lease does not send (it may still be alive).
	now = now.Add(10 * time.Second)
	if _, err := svc.Fire(context.Background(), fireOf(job.ID, at)); err != nil {
		t.Fatal(err)
	}
	if n := env.DrainQueue(t, job.Pool); n != 0 {
		t.Fatalf("sent inside the lease: %d messages", n)
	}
	// After the lease, the retry sends exactly once; later retries are duplicates.
	now = now.Add(30 * time.Second)
	for range 3 {
		r, err = svc.Fire(context.Background(), fireOf(job.ID, at))
		if err != nil {
			t.Fatal(err)
		}
	}
	if !r.Enqueued {
		t.Fatalf("run not enqueued after the retry: %+v", r)
	}
	if n := env.DrainQueue(t, job.Pool); n != 1 {
		t.Fatalf("messages = %d, want 1", n)
	}
}

func TestOverlapForbidRecordsSkippedRun(t *testing.T) {
	env := testenv.New(t)
	job := env.Job(t, func(j *fleetcron.Job) { j.Overlap = fleetcron.OverlapForbid })
	svc := fire.New(env.Jobs, env.Runs, env.Queue)
	first, err := svc.Fire(context.Background(), fireOf(job.ID, at))
	if err != nil {
		t.Fatal(err)
	}
	second, err := svc.Fire(context.Background(), fireOf(job.ID, at.Add(time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if second.State != fleetcron.RunSkipped || second.Reason == "" {
		t.Fatalf("second run %+v, want skipped with a reason", second)
	}
	if want := first.ID; !contains(second.Reason, want) {
		t.Fatalf("reason %q does not name the blocking run %s", second.Reason, want)
	}
	if n := env.DrainQueue(t, job.Pool); n != 1 {
		t.Fatalf("messages = %d, want 1 (the skipped run sends none)", n)
	}
}

func TestOverlapReplaceCancelsActiveRuns(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	job := env.Job(t, func(j *fleetcron.Job) { j.Overlap = fleetcron.OverlapReplace })
	svc := fire.New(env.Jobs, env.Runs, env.Queue)
	queued, _ := svc.Fire(ctx, fireOf(job.ID, at))
	running, _ := svc.Fire(ctx, fireOf(job.ID, at.Add(time.Minute)))
	// An agent holds the second one; a replace fire must not finish it under the agent.
	now := at.Add(61 * time.Second)
	if _, err := env.Runs.ClaimRun(ctx, fleetcron.Claim{RunID: running.ID, Owner: "a/1", Attempt: running.Attempt,
		Now: now, LeaseUntil: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	// replace of "queued" happened when "running" fired; check it, then fire a third.
	q, _ := env.Runs.GetRun(ctx, queued.ID)
	if q.State != fleetcron.RunFailed || !contains(q.Reason, running.ID) {
		t.Fatalf("queued run after replace: %+v", q)
	}
	third, err := svc.Fire(ctx, fireOf(job.ID, at.Add(2*time.Minute)))
	if err != nil || third.State != fleetcron.RunQueued {
		t.Fatalf("third: %+v %v", third, err)
	}
	r, _ := env.Runs.GetRun(ctx, running.ID)
	if r.State != fleetcron.RunRunning || !contains(r.CancelRequest, third.ID) {
		t.Fatalf("running run should be asked to stop, not ended: %+v", r)
	}
}

func TestPausedAndDeletedJobsAreIgnored(t *testing.T) {
	env := testenv.New(t)
	svc := fire.New(env.Jobs, env.Runs, env.Queue)
	paused := env.Job(t, func(j *fleetcron.Job) { j.Paused = true })
	if _, err := svc.Fire(context.Background(), fireOf(paused.ID, at)); !errors.Is(err, fire.ErrIgnored) {
		t.Fatalf("paused: %v", err)
	}
	f := fireOf(paused.ID, at)
	f.Manual = true
	if r, err := svc.Fire(context.Background(), f); err != nil || r.Trigger != fleetcron.TriggerManual {
		t.Fatalf("run now of a paused job: %+v %v", r, err)
	}
	deleted := env.Job(t, func(j *fleetcron.Job) { j.DeletedAt = at; j.Status = fleetcron.JobFinished })
	if _, err := svc.Fire(context.Background(), fireOf(deleted.ID, at)); !errors.Is(err, fire.ErrIgnored) {
		t.Fatalf("deleted: %v", err)
	}
	if _, err := svc.Fire(context.Background(), fireOf("nosuchjob", at)); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	if _, err := svc.Fire(context.Background(), events.Fire{JobID: paused.ID, ScheduledTime: "yesterday"}); !errors.Is(err, fleetcron.ErrInvalid) {
		t.Fatalf("bad time: %v", err)
	}
}

func contains(s, sub string) bool { return sub != "" && strings.Contains(s, sub) }
