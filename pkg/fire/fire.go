// Package fire is fleetcron's fire service: it turns one delivery of a
// schedule (events.Fire: job id and scheduled instant) into at most one run
// and one queue message, however many times the same instant is delivered.
//
// The run record keyed on (job id, scheduled time) is the lock (guarantee 1).
// The record says whether its message was sent; a fire that finds it locked but
// not enqueued, with the sender's lease expired, sends it (guarantee 2).
package fire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// Defaults of the fire service.
const (
	// DefaultSendLease is how long a fire may take between lock and send
	// before a retried fire may send in its place. It is longer than the fire
	// function's own timeout, so two senders never overlap.
	DefaultSendLease = 30 * time.Second
	// DefaultRetention is how long run records are kept (the TTL).
	DefaultRetention = 90 * 24 * time.Hour
)

// JobGetter reads the job a fire is for.
type JobGetter interface {
	GetJob(ctx context.Context, id string) (*fleetcron.Job, error)
}

// Runs is what the fire service needs of the run store.
type Runs interface {
	fleetcron.RunLocker
	fleetcron.RunReader
	fleetcron.RunFinisher
}

// Outcome is told about runs that end without an agent (skipped, canceled),
// so the job's last-run fields follow.
type Outcome interface {
	RecordRun(ctx context.Context, r *fleetcron.Run) error
}

// Service handles fires.
type Service struct {
	jobs      JobGetter
	runs      Runs
	queue     fleetcron.Sender
	outcome   Outcome
	now       func() time.Time
	sendLease time.Duration
	retention time.Duration
	log       *slog.Logger
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithSendLease sets the send lease (DefaultSendLease).
func WithSendLease(d time.Duration) Option { return func(s *Service) { s.sendLease = d } }

// WithRetention sets how long run records are kept (DefaultRetention).
func WithRetention(d time.Duration) Option { return func(s *Service) { s.retention = d } }

// WithLogger sets the logger (slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithOutcome sets who is told about runs that end at fire time.
func WithOutcome(o Outcome) Option { return func(s *Service) { s.outcome = o } }

// New returns a fire service.
func New(jobs JobGetter, runs Runs, queue fleetcron.Sender, opts ...Option) *Service {
	s := &Service{jobs: jobs, runs: runs, queue: queue, now: time.Now,
		sendLease: DefaultSendLease, retention: DefaultRetention, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// ErrIgnored marks a fire that is acknowledged without a run: the job is
// paused, or finished. Callers (the fire function, the ticker) must not retry.
var ErrIgnored = errors.New("fire ignored")

// Fire handles one delivery. It returns the run of (job, scheduled time),
// whether this delivery created it or found it. A nil error means the run is
// recorded and, unless skipped, its message sent; an error means the caller
// should retry the delivery (except ErrIgnored and fleetcron.ErrNotFound,
// which are final).
func (s *Service) Fire(ctx context.Context, f events.Fire) (*fleetcron.Run, error) {
	at, err := f.Time()
	if err != nil {
		return nil, fmt.Errorf("fire: %w", errors.Join(fleetcron.ErrInvalid, err))
	}
	job, err := s.jobs.GetJob(ctx, f.JobID)
	if err != nil {
		return nil, fmt.Errorf("fire job %s at %s: %w", f.JobID, f.ScheduledTime, err)
	}
	switch {
	case job.Deleted() || job.Status == fleetcron.JobFinished:
		return nil, fmt.Errorf("fire job %s: job is finished: %w", job.ID, ErrIgnored)
	case job.Paused && !f.Manual:
		return nil, fmt.Errorf("fire job %s: job is paused: %w", job.ID, ErrIgnored)
	}
	now := s.now().UTC()
	run := &fleetcron.Run{
		ID:             fleetcron.RunID(job.ID, at),
		JobID:          job.ID,
		ScheduledAt:    at.Truncate(time.Millisecond),
		FiredAt:        now,
		Trigger:        fleetcron.TriggerSchedule,
		Pool:           job.Pool,
		State:          fleetcron.RunQueued,
		SendLeaseUntil: now.Add(s.sendLease),
		MaxAttempts:    job.MaxAttempts,
		Spec:           fleetcron.SpecOf(job),
		ExpiresAt:      now.Add(s.retention),
	}
	if f.Manual {
		run.Trigger = fleetcron.TriggerManual
	}
	log := s.log.With("job", job.ID, "run", run.ID, "scheduled", at.Format(time.RFC3339),
		"late_ms", now.Sub(at).Milliseconds())

	// Existing record first: the common duplicate costs one read, no write.
	if existing, err := s.runs.GetRun(ctx, run.ID); err == nil {
		return s.resume(ctx, existing, log)
	} else if !errors.Is(err, fleetcron.ErrNotFound) {
		return nil, fmt.Errorf("fire %s: read run: %w", run.ID, err)
	}

	if job.Overlap != fleetcron.OverlapAllow {
		active, err := s.active(ctx, job.ID, run.ID)
		if err != nil {
			return nil, err
		}
		if len(active) > 0 {
			if job.Overlap == fleetcron.OverlapForbid {
				return s.skip(ctx, run, active[0], log)
			}
			s.replace(ctx, run, active, log)
		}
	}

	if err := s.runs.CreateRun(ctx, run); err != nil {
		if errors.Is(err, fleetcron.ErrConflict) {
			existing, gerr := s.runs.GetRun(ctx, run.ID)
			if gerr != nil {
				return nil, fmt.Errorf("fire %s: read locked run: %w", run.ID, gerr)
			}
			return s.resume(ctx, existing, log)
		}
		return nil, fmt.Errorf("fire %s: lock: %w", run.ID, err)
	}
	log.Info("run locked", "trigger", run.Trigger, "pool", run.Pool)
	return s.send(ctx, run, log)
}

// resume handles a delivery that found the run already recorded: a duplicate
// is collapsed; a run locked but never enqueued is sent if its sender's lease
// expired (that sender crashed).
func (s *Service) resume(ctx context.Context, r *fleetcron.Run, log *slog.Logger) (*fleetcron.Run, error) {
	if r.Enqueued || r.State != fleetcron.RunQueued {
		log.Debug("duplicate fire collapsed", "state", r.State)
		return r, nil
	}
	now := s.now().UTC()
	until := now.Add(s.sendLease)
	if err := s.runs.TakeSendLease(ctx, r.ID, now, until); err != nil {
		if errors.Is(err, fleetcron.ErrConflict) {
			// Another sender holds the lease (or just finished). If it dies,
			// the next retry or the sweeper sends after its lease.
			log.Info("fire found run being enqueued by another delivery", "send_lease_until", r.SendLeaseUntil)
			return r, nil
		}
		return nil, fmt.Errorf("fire %s: take send lease: %w", r.ID, err)
	}
	r.SendLeaseUntil = until
	log.Warn("re-sending run locked but not enqueued by an earlier delivery")
	return s.send(ctx, r, log)
}

// Repair sends a run found locked but not enqueued (the sweeper calls it).
func (s *Service) Repair(ctx context.Context, r *fleetcron.Run) (*fleetcron.Run, error) {
	return s.resume(ctx, r, s.log.With("job", r.JobID, "run", r.ID))
}

func (s *Service) send(ctx context.Context, r *fleetcron.Run, log *slog.Logger) (*fleetcron.Run, error) {
	// The send must end well inside the lease, or a retry could send too.
	sctx, cancel := context.WithTimeout(ctx, s.sendLease/2)
	defer cancel()
	msg := events.RunMessage{RunID: r.ID, JobID: r.JobID,
		ScheduledTime: r.ScheduledAt.UTC().Format(time.RFC3339Nano), Pool: r.Pool}
	if err := s.queue.Send(sctx, r.Pool, msg, 0); err != nil {
		return nil, fmt.Errorf("fire %s: send to pool %s (locked, not enqueued; a retry re-sends): %w", r.ID, r.Pool, err)
	}
	if err := s.runs.MarkEnqueued(ctx, r.ID); err != nil {
		// The message is out; a retry would send a second one, which the
		// claim fences. Report success: the run will execute.
		log.Warn("run enqueued but not marked", "err", err)
	}
	r.Enqueued = true
	log.Info("run enqueued")
	return r, nil
}

func (s *Service) active(ctx context.Context, jobID, except string) ([]fleetcron.Run, error) {
	var out []fleetcron.Run
	q := fleetcron.RunQuery{JobID: jobID, ActiveOnly: true, Limit: fleetcron.MaxPageSize}
	for {
		page, err := s.runs.ListRuns(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("fire: list active runs of job %s: %w", jobID, err)
		}
		for _, r := range page.Runs {
			if r.ID != except && r.State.Active() {
				out = append(out, r)
			}
		}
		if page.Next == "" {
			return out, nil
		}
		q.Cursor = page.Next
	}
}

func (s *Service) skip(ctx context.Context, r *fleetcron.Run, blocker fleetcron.Run, log *slog.Logger) (*fleetcron.Run, error) {
	r.State = fleetcron.RunSkipped
	r.Enqueued = true // nothing to send
	r.SendLeaseUntil = time.Time{}
	r.EndedAt = r.FiredAt
	r.Reason = fmt.Sprintf("overlap policy forbid: run %s is still %s", blocker.ID, blocker.State)
	if err := s.runs.CreateRun(ctx, r); err != nil {
		if errors.Is(err, fleetcron.ErrConflict) {
			existing, gerr := s.runs.GetRun(ctx, r.ID)
			if gerr != nil {
				return nil, fmt.Errorf("fire %s: read locked run: %w", r.ID, gerr)
			}
			return s.resume(ctx, existing, log)
		}
		return nil, fmt.Errorf("fire %s: record skipped run: %w", r.ID, err)
	}
	log.Info("run skipped", "reason", r.Reason)
	s.record(ctx, r, log)
	return r, nil
}

// replace cancels the job's active runs: a queued one ends at once, a
// running one is asked to stop (its agent sees it on the next heartbeat).
func (s *Service) replace(ctx context.Context, r *fleetcron.Run, active []fleetcron.Run, log *slog.Logger) {
	reason := "canceled: replaced by run " + r.ID + " (overlap policy replace)"
	for _, a := range active {
		if a.State == fleetcron.RunQueued {
			done, err := s.runs.FinishRun(ctx, a.ID, a.Attempt, fleetcron.RunFailed, reason, s.now().UTC())
			if err == nil {
				log.Info("queued run replaced", "replaced", a.ID)
				s.record(ctx, done, log)
				continue
			}
			// Claimed in the meantime: ask its agent instead.
		}
		if err := s.runs.RequestCancel(ctx, a.ID, reason); err != nil && !errors.Is(err, fleetcron.ErrConflict) {
			log.Warn("could not cancel replaced run", "replaced", a.ID, "err", err)
			continue
		}
		log.Info("running run asked to stop", "replaced", a.ID)
	}
}

func (s *Service) record(ctx context.Context, r *fleetcron.Run, log *slog.Logger) {
	if s.outcome == nil {
		return
	}
	if err := s.outcome.RecordRun(ctx, r); err != nil {
		log.Warn("could not record run outcome on job", "err", err)
	}
}
