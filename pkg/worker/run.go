package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/runner"
)

var errLeaseLost = errors.New("lease lost: another agent took the run over")

// cancelRequested is the cancel cause when the run was asked to stop.
type cancelRequested struct{ reason string }

func (c cancelRequested) Error() string { return c.reason }

// handle takes one delivery from claim to delete.
func (w *Worker) handle(ctx context.Context, pool, owner string, d fleetcron.Delivery) {
	log := w.log.With("run", d.Message.RunID, "job", d.Message.JobID, "pool", pool, "owner", owner, "receive", d.ReceiveCount)
	run, err := w.runs.GetRun(ctx, d.Message.RunID)
	switch {
	case errors.Is(err, fleetcron.ErrNotFound):
		log.Warn("message for an unknown run dropped")
		w.deleteMessage(ctx, pool, d, log)
		return
	case err != nil:
		log.Warn("read run failed; the message comes back", "err", err)
		return
	case run.State.Terminal():
		log.Debug("message for an ended run dropped", "state", run.State)
		w.deleteMessage(ctx, pool, d, log)
		return
	}
	now := w.now()
	claimed, err := w.runs.ClaimRun(ctx, fleetcron.Claim{RunID: run.ID, Owner: owner, Attempt: run.Attempt,
		Now: now, LeaseUntil: now.Add(w.cfg.Lease)})
	if errors.Is(err, fleetcron.ErrConflict) {
		w.notClaimed(ctx, pool, d, log)
		return
	}
	if err != nil {
		log.Warn("claim failed; the message comes back", "err", err)
		return
	}
	w.execute(ctx, pool, d, claimed, owner, log.With("attempt", claimed.Attempt))
}

// notClaimed decides about a message whose run could not be claimed: it is
// held by a live agent (leave the message for when its lease ends), ended,
// canceled, or out of attempts (lost).
func (w *Worker) notClaimed(ctx context.Context, pool string, d fleetcron.Delivery, log *slog.Logger) {
	run, err := w.runs.GetRun(ctx, d.Message.RunID)
	if err != nil {
		log.Warn("read run failed; the message comes back", "err", err)
		return
	}
	now := w.now()
	free := run.State == fleetcron.RunQueued || !run.LeaseExpiresAt.After(now)
	var state fleetcron.RunState
	var reason string
	switch {
	case run.State.Terminal():
		w.deleteMessage(ctx, pool, d, log)
		return
	case free && run.CancelRequest != "":
		state, reason = fleetcron.RunFailed, run.CancelRequest
	case free && run.AttemptsUsed() >= run.MaxAttempts:
		state = fleetcron.RunLost
		reason = fmt.Sprintf("attempts exhausted: %d of %d attempts ended without a result", run.AttemptsUsed(), run.MaxAttempts)
	case !free:
		// Another agent holds a live lease. If it dies, this message must
		// still exist: hide it until the lease would have expired.
		wait := run.LeaseExpiresAt.Sub(now) + time.Second
		log.Debug("run held by another agent; message deferred", "holder", run.LeaseOwner, "for", wait)
		w.changeVisibility(ctx, pool, d, wait, log)
		return
	default:
		// The attempt moved between read and claim: try again shortly.
		w.changeVisibility(ctx, pool, d, time.Second, log)
		return
	}
	done, err := w.runs.FinishRun(ctx, run.ID, run.Attempt, state, reason, now)
	if err != nil {
		log.Warn("could not end run; the message comes back", "state", state, "err", err)
		return
	}
	log.Warn("run ended without executing", "state", state, "reason", reason)
	w.record(ctx, done, log)
	w.deleteMessage(ctx, pool, d, log)
}

// execute runs a claimed run and reports it.
func (w *Worker) execute(ctx context.Context, pool string, d fleetcron.Delivery, run *fleetcron.Run, owner string, log *slog.Logger) {
	lease := fleetcron.Lease{RunID: run.ID, Owner: owner, Attempt: run.Attempt}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		w.heartbeat(runCtx, cancel, pool, d, lease, log)
	}()

	started := w.now()
	var res runner.Result
	spec, err := w.spec(runCtx, run)
	full := w.fullOutput(log)
	if full != nil {
		defer full.close()
		spec.Output = full
	}
	if err == nil {
		log.Info("run started", "type", run.Spec.Type, "user", spec.User, "scheduled", run.ScheduledAt.Format(time.RFC3339),
			"late_ms", started.Sub(run.ScheduledAt).Milliseconds())
		res, err = w.exec(runCtx, spec)
	}
	cause := context.Cause(runCtx)
	cancel(nil)
	<-hbDone
	// The writes below must happen even when the run was canceled by a drain.
	ctx, cancelWrites := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Lease)
	defer cancelWrites()

	var cr cancelRequested
	switch {
	case errors.Is(cause, errLeaseLost):
		log.Warn("lease lost while running; result discarded (the new holder reports)")
		return
	case errors.Is(cause, ErrDrained):
		if _, rerr := w.runs.ReleaseRun(ctx, lease, false, "handed back: agent "+w.cfg.ID+" drained"); rerr != nil {
			log.Warn("hand back failed; the lease expires instead", "err", rerr)
		}
		w.changeVisibility(ctx, pool, d, 0, log)
		log.Warn("run handed back at drain deadline")
		return
	}

	result := fleetcron.Result{StartedAt: started, EndedAt: w.now()}
	if !res.StartedAt.IsZero() {
		result.StartedAt, result.EndedAt = res.StartedAt, res.EndedAt
	}
	result.Output, result.OutputBytes = string(res.Output), res.OutputBytes
	if res.Truncated && full != nil {
		result.OutputKey = full.store(ctx, w.outputs, log)
	}
	switch {
	case errors.As(cause, &cr):
		result.State, result.Reason = fleetcron.RunFailed, cr.reason
	case err != nil:
		result.State, result.Reason = fleetcron.RunFailed, err.Error()
	case res.TimedOut:
		result.State = fleetcron.RunTimedOut
		result.Reason = fmt.Sprintf("killed after the timeout of %ds", run.Spec.TimeoutSec)
	case res.ExitCode == 0:
		result.State = fleetcron.RunSucceeded
	default:
		result.State = fleetcron.RunFailed
		if res.Signal != "" {
			result.Reason = "terminated by signal: " + res.Signal
		} else {
			result.Reason = "exit code " + strconv.Itoa(res.ExitCode)
		}
	}
	if err == nil && !errors.As(cause, &cr) {
		code := res.ExitCode
		result.ExitCode = &code
	}

	if result.State != fleetcron.RunSucceeded && cr.reason == "" && run.Spec.RetryOnFail && run.AttemptsUsed() < run.MaxAttempts {
		backoff := time.Duration(run.Spec.RetryBackoffS) * time.Second
		reason := fmt.Sprintf("attempt %d %s (%s); retrying in %s", run.AttemptsUsed(), result.State, result.Reason, backoff)
		if _, err := w.runs.ReleaseRun(ctx, lease, true, reason); err != nil {
			log.Warn("could not release run for retry", "err", err)
			return
		}
		w.changeVisibility(ctx, pool, d, backoff, log)
		log.Info("run will be retried", "reason", reason)
		return
	}

	done, err := w.runs.CompleteRun(ctx, lease, result)
	if errors.Is(err, fleetcron.ErrFenced) {
		log.Warn("late completion refused: another agent holds the run", "state", result.State)
		return
	}
	if err != nil {
		log.Error("could not write result; the run will be retried when its lease expires", "err", err)
		return
	}
	log.Info("run ended", "state", done.State, "exit_code", res.ExitCode, "reason", done.Reason,
		"duration_ms", result.EndedAt.Sub(result.StartedAt).Milliseconds(), "output_bytes", res.OutputBytes)
	w.record(ctx, done, log)
	w.deleteMessage(ctx, pool, d, log)
}

// heartbeat extends the lease and the message's visibility every Lease/3
// until ctx ends. It cancels the run when the lease is lost, when it cannot
// be extended before it expires (so two agents never run it at once), or
// when a cancel is requested.
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, pool string, d fleetcron.Delivery, lease fleetcron.Lease, log *slog.Logger) {
	every := w.cfg.Lease / 3
	t := time.NewTicker(every)
	defer t.Stop()
	held := w.now().Add(w.cfg.Lease)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := w.now()
		until := now.Add(w.cfg.Lease)
		r, err := w.runs.ExtendLease(ctx, lease, until)
		switch {
		case errors.Is(err, fleetcron.ErrFenced):
			cancel(errLeaseLost)
			return
		case err != nil:
			log.Warn("heartbeat failed", "err", err, "lease_left", held.Sub(now))
			if held.Sub(now) < every {
				cancel(errLeaseLost)
				return
			}
			continue
		}
		held = until
		w.changeVisibility(ctx, pool, d, w.cfg.Lease, log)
		if r.CancelRequest != "" {
			log.Info("cancel requested", "reason", r.CancelRequest)
			cancel(cancelRequested{r.CancelRequest})
			return
		}
	}
}

// spec turns a run into what the runner executes.
func (w *Worker) spec(ctx context.Context, run *fleetcron.Run) (runner.Spec, error) {
	s := run.Spec
	env := make(map[string]string, len(s.Env)+4)
	for k, v := range s.Env {
		env[k] = v
	}
	env["FLEETCRON_JOB_ID"] = run.JobID
	env["FLEETCRON_RUN_ID"] = run.ID
	env["FLEETCRON_SCHEDULED_TIME"] = run.ScheduledAt.UTC().Format(time.RFC3339Nano)
	env["FLEETCRON_ATTEMPT"] = strconv.Itoa(run.Attempt)
	spec := runner.Spec{Type: runner.Type(s.Type), Args: s.Args, Env: env,
		Timeout: time.Duration(s.TimeoutSec) * time.Second, User: w.cfg.User, OutputLimit: w.cfg.OutputLimit}
	switch s.RunAs {
	case "":
	case fleetcron.RootUser:
		if !w.cfg.AllowRoot {
			return spec, fmt.Errorf("run_as root refused: this agent does not allow root jobs")
		}
		spec.User = fleetcron.RootUser
	default:
		spec.User = s.RunAs
	}
	switch s.Type {
	case fleetcron.TypeCommand:
		spec.Command = s.Executable
	case fleetcron.TypeScript, fleetcron.TypeBinary:
		if w.fetch == nil {
			return spec, fmt.Errorf("%s job: this agent has no blob store", s.Type)
		}
		path, err := w.fetch.Fetch(ctx, s.ContentSHA256)
		if err != nil {
			return spec, fmt.Errorf("fetch %s %s: %w", s.Type, s.ContentSHA256, err)
		}
		spec.Path = path
	default:
		return spec, fmt.Errorf("unknown job type %q", s.Type)
	}
	return spec, nil
}

func (w *Worker) record(ctx context.Context, r *fleetcron.Run, log *slog.Logger) {
	if w.outcome == nil {
		return
	}
	if err := w.outcome.RecordRun(ctx, r); err != nil {
		log.Warn("could not record run outcome on job", "err", err)
	}
}

func (w *Worker) deleteMessage(ctx context.Context, pool string, d fleetcron.Delivery, log *slog.Logger) {
	if err := w.queue.Delete(ctx, pool, d.Receipt); err != nil {
		log.Warn("delete message failed; it comes back and is dropped then", "err", err)
	}
}

func (w *Worker) changeVisibility(ctx context.Context, pool string, d fleetcron.Delivery, v time.Duration, log *slog.Logger) {
	if err := w.queue.ChangeVisibility(ctx, pool, d.Receipt, v); err != nil {
		log.Warn("change visibility failed", "to", v, "err", err)
	}
}

// fullOutput spools a run's whole output to a temporary file, up to
// FullOutputMax, so that an output longer than the run record's tail can be
// kept in the output store. nil when there is no store.
func (w *Worker) fullOutput(log *slog.Logger) *spool {
	if w.outputs == nil {
		return nil
	}
	f, err := os.CreateTemp("", "fleetcron-output-*")
	if err != nil {
		log.Warn("no spool for the full output; only the tail is kept", "err", err)
		return nil
	}
	return &spool{f: f, max: w.cfg.FullOutputMax}
}

// spool is a size-bounded output file.
type spool struct {
	mu      sync.Mutex
	f       *os.File
	max, n  int64
	clipped bool
}

func (s *spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	room := s.max - s.n
	if room <= 0 {
		s.clipped = true
		return len(p), nil
	}
	q := p
	if int64(len(q)) > room {
		q, s.clipped = q[:room], true
	}
	if _, err := s.f.Write(q); err != nil {
		return len(p), nil // the tail is still kept; losing the spool is not fatal
	}
	s.n += int64(len(q))
	return len(p), nil
}

// store puts the spooled output in the store and returns its sha256.
func (s *spool) store(ctx context.Context, o OutputStore, log *slog.Logger) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.f.Name())
	if err != nil {
		log.Warn("full output not stored", "err", err)
		return ""
	}
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])
	if err := o.PutBlob(ctx, key, data); err != nil {
		log.Warn("full output not stored", "err", err)
		return ""
	}
	log.Info("full output stored", "output_sha256", key, "bytes", len(data), "clipped", s.clipped)
	return key
}

func (s *spool) close() {
	s.f.Close()
	os.Remove(s.f.Name())
}
