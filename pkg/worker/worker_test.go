package worker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/blobcache"
	"github.com/fleetcron/fleetcron/pkg/fire"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/testenv"
	"github.com/fleetcron/fleetcron/pkg/jobs"
	"github.com/fleetcron/fleetcron/pkg/worker"
)

// rig is a store, a queue, the fire and job services and helpers to start
// workers against them.
type rig struct {
	*testenv.Env
	fire *fire.Service
	jobs *jobs.Service
}

func newRig(t *testing.T) *rig {
	env := testenv.New(t)
	js := jobs.New(env.Jobs, env.Runs, env.Blobs, nopScheduler{})
	fs := fire.New(env.Jobs, env.Runs, env.Queue, fire.WithOutcome(js))
	js.SetFirer(fs)
	return &rig{Env: env, fire: fs, jobs: js}
}

type nopScheduler struct{}

func (nopScheduler) PutSchedule(context.Context, *fleetcron.Job) error { return nil }
func (nopScheduler) DeleteSchedule(context.Context, string) error      { return nil }

// start runs a worker until the test ends (or stop is called) and returns stop.
func (r *rig) start(t *testing.T, cfg worker.Config) (stop func()) {
	t.Helper()
	cache, err := blobcache.New(filepath.Join(t.TempDir(), "cache"), r.Blobs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PollWait == 0 {
		cfg.PollWait = 200 * time.Millisecond
	}
	w := worker.New(cfg, r.Queue, r.Runs, r.jobs, cache)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func (r *rig) fireNow(t *testing.T, jobID string, at time.Time) *fleetcron.Run {
	t.Helper()
	run, err := r.fire.Fire(context.Background(), events.Fire{JobID: jobID, ScheduledTime: at.UTC().Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// waitRun polls the run until cond holds or the deadline passes.
func (r *rig) waitRun(t *testing.T, id string, within time.Duration, cond func(*fleetcron.Run) bool) *fleetcron.Run {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		run, err := r.Runs.GetRun(context.Background(), id)
		if err == nil && cond(run) {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: condition not met within %s; last %+v (err %v)", id, within, run, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitJob polls the job until cond holds: the job follows its run right
// after the run record ends.
func (r *rig) waitJob(t *testing.T, id string, cond func(*fleetcron.Job) bool) *fleetcron.Job {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		j, err := r.Jobs.GetJob(context.Background(), id)
		if err == nil && cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: condition not met; last %+v (err %v)", id, j, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ended(r *fleetcron.Run) bool { return r.State.Terminal() }

func TestCommandRunSucceedsWithOutput(t *testing.T) {
	r := newRig(t)
	job := r.Job(t, func(j *fleetcron.Job) { j.Executable = `echo "hello from $FLEETCRON_JOB_ID"; echo oops >&2` })
	r.start(t, worker.Config{ID: "w1", Slots: 2, Lease: 3 * time.Second})
	run := r.fireNow(t, job.ID, time.Now())
	got := r.waitRun(t, run.ID, 10*time.Second, ended)
	if got.State != fleetcron.RunSucceeded || got.ExitCode == nil || *got.ExitCode != 0 || got.Attempt != 1 {
		t.Fatalf("run %+v", got)
	}
	if !strings.Contains(got.Output, "hello from "+job.ID) || !strings.Contains(got.Output, "oops") {
		t.Fatalf("output %q", got.Output)
	}
	r.waitJob(t, job.ID, func(j *fleetcron.Job) bool {
		return j.Status == fleetcron.JobScheduled && j.LastRunID == run.ID && j.LastRunState == fleetcron.RunSucceeded
	})
	if n := r.DrainQueue(t, job.Pool); n != 0 {
		t.Fatalf("message not deleted: %d left", n)
	}
}

func TestFailingRunTurnsJobError(t *testing.T) {
	r := newRig(t)
	job := r.Job(t, func(j *fleetcron.Job) { j.Executable = "exit 3" })
	r.start(t, worker.Config{ID: "w1", Lease: 3 * time.Second})
	run := r.fireNow(t, job.ID, time.Now())
	got := r.waitRun(t, run.ID, 10*time.Second, ended)
	if got.State != fleetcron.RunFailed || *got.ExitCode != 3 || got.Reason != "exit code 3" {
		t.Fatalf("run %+v", got)
	}
	r.waitJob(t, job.ID, func(j *fleetcron.Job) bool { return j.Status == fleetcron.JobError })
}

// A worker that claims a run and vanishes: after its lease, another worker
// runs it as attempt 2, and the vanished one's late completion is refused.
func TestVanishedWorkerIsReplacedAndFenced(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	job := r.Job(t, func(j *fleetcron.Job) { j.Executable = "echo second" })
	run := r.fireNow(t, job.ID, time.Now())

	// The zombie: receives with a 1 s visibility, claims with a 1 s lease,
	// then never heartbeats nor completes.
	ds, err := r.Queue.Receive(ctx, job.Pool, 1, time.Second, time.Second)
	if err != nil || len(ds) != 1 {
		t.Fatalf("zombie receive: %v %v", ds, err)
	}
	now := time.Now()
	zombie, err := r.Runs.ClaimRun(ctx, fleetcron.Claim{RunID: run.ID, Owner: "zombie/1", Attempt: 0, Now: now, LeaseUntil: now.Add(time.Second)})
	if err != nil || zombie.Attempt != 1 {
		t.Fatalf("zombie claim: %+v %v", zombie, err)
	}

	r.start(t, worker.Config{ID: "w2", Lease: 3 * time.Second})
	got := r.waitRun(t, run.ID, 15*time.Second, ended)
	if got.State != fleetcron.RunSucceeded || got.Attempt != 2 || !strings.Contains(got.Output, "second") {
		t.Fatalf("run after takeover %+v", got)
	}
	code := 0
	_, err = r.Runs.CompleteRun(ctx, fleetcron.Lease{RunID: run.ID, Owner: "zombie/1", Attempt: 1},
		fleetcron.Result{State: fleetcron.RunFailed, ExitCode: &code, Reason: "zombie"})
	if !errors.Is(err, fleetcron.ErrFenced) {
		t.Fatalf("zombie completion: %v, want ErrFenced", err)
	}
	final, _ := r.Runs.GetRun(ctx, run.ID)
	if final.State != fleetcron.RunSucceeded || final.Reason == "zombie" {
		t.Fatalf("zombie overwrote the result: %+v", final)
	}
}

func TestAttemptsExhaustedRunIsLostAndJobError(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	job := r.Job(t, func(j *fleetcron.Job) { j.MaxAttempts = 1 })
	run := r.fireNow(t, job.ID, time.Now())
	if _, err := r.Queue.Receive(ctx, job.Pool, 1, time.Second, time.Second); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := r.Runs.ClaimRun(ctx, fleetcron.Claim{RunID: run.ID, Owner: "dead/1", Now: now, LeaseUntil: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	r.start(t, worker.Config{ID: "w2", Lease: 3 * time.Second})
	got := r.waitRun(t, run.ID, 15*time.Second, ended)
	if got.State != fleetcron.RunLost || !strings.Contains(got.Reason, "attempts exhausted") {
		t.Fatalf("run %+v", got)
	}
	r.waitJob(t, job.ID, func(j *fleetcron.Job) bool {
		return j.Status == fleetcron.JobError && j.LastRunState == fleetcron.RunLost
	})
	if n := r.DrainQueue(t, job.Pool); n != 0 {
		t.Fatalf("message of a lost run not deleted")
	}
}

func TestDrainHandsBackAndAnotherWorkerFinishes(t *testing.T) {
	r := newRig(t)
	job := r.Job(t, func(j *fleetcron.Job) {
		j.Executable = `if [ -e "$MARK" ]; then echo finished; else touch "$MARK"; sleep 30; fi`
		j.Env = map[string]string{"MARK": filepath.Join(t.TempDir(), "started")}
	})
	stop1 := r.start(t, worker.Config{ID: "w1", Lease: 3 * time.Second, DrainTimeout: 300 * time.Millisecond})
	run := r.fireNow(t, job.ID, time.Now())
	r.waitRun(t, run.ID, 10*time.Second, func(x *fleetcron.Run) bool { return x.State == fleetcron.RunRunning })
	time.Sleep(200 * time.Millisecond) // the process is up
	begin := time.Now()
	stop1()
	if d := time.Since(begin); d > 10*time.Second {
		t.Fatalf("drain took %s with a deadline of 300ms", d)
	}
	back, _ := r.Runs.GetRun(context.Background(), run.ID)
	if back.State != fleetcron.RunQueued || back.Released != 1 || back.AttemptsUsed() != 0 {
		t.Fatalf("after drain %+v, want queued, released, no attempt used", back)
	}
	r.start(t, worker.Config{ID: "w2", Lease: 3 * time.Second})
	got := r.waitRun(t, run.ID, 10*time.Second, ended)
	if got.State != fleetcron.RunSucceeded || !strings.Contains(got.Output, "finished") || got.LeaseOwner != "" {
		t.Fatalf("run %+v", got)
	}
}

func TestCancelRequestStopsRun(t *testing.T) {
	r := newRig(t)
	job := r.Job(t, func(j *fleetcron.Job) { j.Executable = "sleep 30" })
	r.start(t, worker.Config{ID: "w1", Lease: 900 * time.Millisecond})
	run := r.fireNow(t, job.ID, time.Now())
	r.waitRun(t, run.ID, 10*time.Second, func(x *fleetcron.Run) bool { return x.State == fleetcron.RunRunning })
	if err := r.Runs.RequestCancel(context.Background(), run.ID, "canceled: replaced by run X"); err != nil {
		t.Fatal(err)
	}
	got := r.waitRun(t, run.ID, 10*time.Second, ended)
	if got.State != fleetcron.RunFailed || got.Reason != "canceled: replaced by run X" {
		t.Fatalf("run %+v", got)
	}
}

func TestScriptRunsAndTamperedContentIsRefused(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	script := []byte("#!/bin/sh\necho \"script says $1\"\n")
	sum := sha256.Sum256(script)
	hexsum := hex.EncodeToString(sum[:])
	if err := r.Blobs.PutBlob(ctx, hexsum, script); err != nil {
		t.Fatal(err)
	}
	job := r.Job(t, func(j *fleetcron.Job) {
		j.Type, j.Executable, j.Args = fleetcron.TypeScript, "hello.sh", []string{"hi"}
		j.ContentSHA256, j.ContentSize = hexsum, int64(len(script))
	})
	// A job whose stored object differs from its hash (a tampered object).
	bad := []byte("#!/bin/sh\necho pwned\n")
	bsum := sha256.Sum256([]byte("what was uploaded"))
	tampered := r.Job(t, func(j *fleetcron.Job) {
		j.Type, j.Executable = fleetcron.TypeBinary, "tool"
		j.ContentSHA256, j.ContentSize = hex.EncodeToString(bsum[:]), int64(len(bad))
	})
	r.TamperBlob(t, tampered.ContentSHA256, bad)

	r.start(t, worker.Config{ID: "w1", Lease: 3 * time.Second})
	ok := r.waitRun(t, r.fireNow(t, job.ID, time.Now()).ID, 10*time.Second, ended)
	if ok.State != fleetcron.RunSucceeded || !strings.Contains(ok.Output, "script says hi") {
		t.Fatalf("script run %+v", ok)
	}
	refused := r.waitRun(t, r.fireNow(t, tampered.ID, time.Now()).ID, 10*time.Second, ended)
	if refused.State != fleetcron.RunFailed || !strings.Contains(refused.Reason, "sha256") || strings.Contains(refused.Output, "pwned") {
		t.Fatalf("tampered run %+v", refused)
	}
}

func TestRetryOnFailureRunsAgainAfterBackoff(t *testing.T) {
	r := newRig(t)
	mark := filepath.Join(t.TempDir(), "once")
	job := r.Job(t, func(j *fleetcron.Job) {
		j.Executable = `if [ -e "$MARK" ]; then echo ok; else touch "$MARK"; exit 1; fi`
		j.Env = map[string]string{"MARK": mark}
		j.RetryOnFailure, j.RetryBackoffS, j.MaxAttempts = true, 1, 3
	})
	r.start(t, worker.Config{ID: "w1", Lease: 3 * time.Second})
	got := r.waitRun(t, r.fireNow(t, job.ID, time.Now()).ID, 15*time.Second, ended)
	if got.State != fleetcron.RunSucceeded || got.Attempt != 2 {
		t.Fatalf("run %+v, want succeeded on attempt 2", got)
	}
}

func TestFullOutputGoesToTheBlobStore(t *testing.T) {
	r := newRig(t)
	job := r.Job(t, func(j *fleetcron.Job) { j.Executable = `head -c 200000 /dev/zero | tr '\0' x; echo END` })
	cache, err := blobcache.New(filepath.Join(t.TempDir(), "cache"), r.Blobs, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := worker.New(worker.Config{ID: "w1", Lease: 3 * time.Second, PollWait: 200 * time.Millisecond}, r.Queue, r.Runs, r.jobs, cache,
		worker.WithOutputStore(r.Blobs))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	got := r.waitRun(t, r.fireNow(t, job.ID, time.Now()).ID, 10*time.Second, ended)
	if got.OutputBytes != 200004 || len(got.Output) != 64<<10 || got.OutputKey == "" {
		t.Fatalf("run: bytes %d tail %d key %q", got.OutputBytes, len(got.Output), got.OutputKey)
	}
	rc, err := r.Blobs.GetBlob(context.Background(), got.OutputKey)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	full, _ := io.ReadAll(rc)
	if len(full) != 200004 || !strings.HasSuffix(string(full), "xEND\n") {
		t.Fatalf("stored output: %d bytes", len(full))
	}
}
