package sweeper_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fire"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/testenv"
	"github.com/fleetcron/fleetcron/pkg/jobs"
	"github.com/fleetcron/fleetcron/pkg/localcron"
	"github.com/fleetcron/fleetcron/pkg/sweeper"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type failOnce struct {
	fleetcron.Sender
	failed atomic.Bool
}

func (f *failOnce) Send(ctx context.Context, pool string, m events.RunMessage, d time.Duration) error {
	if f.failed.CompareAndSwap(false, true) {
		return errors.New("injected: died before the send")
	}
	return f.Sender.Send(ctx, pool, m, d)
}

func TestSweeper(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 10, 0, 30, 0, time.UTC)
	clock := func() time.Time { return now }
	js := jobs.New(env.Jobs, env.Runs, env.Blobs, localcron.New(nil), jobs.WithLogger(quiet))
	fs := fire.New(env.Jobs, env.Runs, &failOnce{Sender: env.Queue}, fire.WithClock(clock), fire.WithOutcome(js), fire.WithLogger(quiet))
	sw := sweeper.New(env.Jobs, env.Runs, fs, js, quiet)
	sw.SetClock(clock)

	// A run locked but never sent is re-sent once its sender's lease passed.
	unsent := env.Job(t, func(j *fleetcron.Job) {})
	at := now.Truncate(time.Minute)
	if _, err := fs.Fire(ctx, events.Fire{JobID: unsent.ID, ScheduledTime: at.Format(time.RFC3339)}); err == nil {
		t.Fatal("the failed send reported success")
	}
	if rep, _ := sw.Sweep(ctx); rep.Resent != 0 {
		t.Fatalf("re-sent inside the sender's lease: %+v", rep)
	}
	now = now.Add(fire.DefaultSendLease + time.Second)
	rep, err := sw.Sweep(ctx)
	if err != nil || rep.Resent != 1 {
		t.Fatalf("sweep: %+v %v", rep, err)
	}
	if n := env.DrainQueue(t, unsent.Pool); n != 1 {
		t.Fatalf("messages after repair: %d", n)
	}

	// A run out of attempts and free of any lease ends lost; its job errors.
	tired := env.Job(t, func(j *fleetcron.Job) { j.MaxAttempts = 1 })
	r, _ := fs.Fire(ctx, events.Fire{JobID: tired.ID, ScheduledTime: at.Format(time.RFC3339)})
	if _, err := env.Runs.ClaimRun(ctx, fleetcron.Claim{RunID: r.ID, Owner: "dead/1", Now: now, LeaseUntil: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if rep, _ := sw.Sweep(ctx); rep.Lost != 0 {
		t.Fatalf("ended a run under a live lease: %+v", rep)
	}
	now = now.Add(2 * time.Minute)
	if rep, _ := sw.Sweep(ctx); rep.Lost != 1 {
		t.Fatalf("sweep: %+v", rep)
	}
	got, _ := env.Runs.GetRun(ctx, r.ID)
	j, _ := env.Jobs.GetJob(ctx, tired.ID)
	if got.State != fleetcron.RunLost || j.Status != fleetcron.JobError {
		t.Fatalf("run %s, job %s", got.State, j.Status)
	}

	// A dead-lettered message ends its run lost.
	dl := env.Job(t, func(j *fleetcron.Job) {})
	r2, _ := fs.Fire(ctx, events.Fire{JobID: dl.ID, ScheduledTime: at.Format(time.RFC3339)})
	if err := sw.DeadRun(ctx, events.RunMessage{RunID: r2.ID, JobID: dl.ID}, 10); err != nil {
		t.Fatal(err)
	}
	got, _ = env.Runs.GetRun(ctx, r2.ID)
	if got.State != fleetcron.RunLost || !strings.Contains(got.Reason, "dead-lettered after 10") {
		t.Fatalf("dead-lettered run: %+v", got)
	}
	if err := sw.DeadRun(ctx, events.RunMessage{RunID: "nosuchjob-1"}, 3); err != nil {
		t.Fatalf("unknown run: %v", err)
	}

	// A fire Scheduler could not deliver is recorded, once.
	missed := env.Job(t, func(j *fleetcron.Job) {})
	f := events.Fire{JobID: missed.ID, ScheduledTime: at.Add(time.Hour).Format(time.RFC3339)}
	for range 2 {
		if err := sw.MissedFire(ctx, f, "Lambda.TooManyRequestsException", "Rate exceeded"); err != nil {
			t.Fatal(err)
		}
	}
	page, _ := env.Runs.ListRuns(ctx, fleetcron.RunQuery{JobID: missed.ID})
	if len(page.Runs) != 1 || page.Runs[0].State != fleetcron.RunLost || !strings.Contains(page.Runs[0].Reason, "could not deliver") {
		t.Fatalf("missed fire: %+v", page.Runs)
	}
	if j, _ := env.Jobs.GetJob(ctx, missed.ID); j.Status != fleetcron.JobError {
		t.Fatalf("job after a missed fire: %s", j.Status)
	}
}
