// Package sweeper makes sure nothing in fleetcron ends silently: a run whose
// queue message reached the dead-letter queue ends lost (its job error), a
// fire EventBridge Scheduler could not deliver is recorded as a lost run of
// its instant, and a periodic sweep re-sends runs locked but never enqueued
// and ends runs whose attempts ran out while no agent held them.
package sweeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// Repairer re-sends a locked, unsent run (the fire service).
type Repairer interface {
	Repair(ctx context.Context, r *fleetcron.Run) (*fleetcron.Run, error)
}

// Outcome is told about the runs the sweeper ends.
type Outcome interface {
	RecordRun(ctx context.Context, r *fleetcron.Run) error
}

// Service is the sweeper.
type Service struct {
	jobs    fleetcron.JobStore
	runs    fleetcron.RunStore
	fire    Repairer
	outcome Outcome
	now     func() time.Time
	log     *slog.Logger
}

// New returns a sweeper.
func New(jobs fleetcron.JobStore, runs fleetcron.RunStore, fire Repairer, outcome Outcome, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{jobs: jobs, runs: runs, fire: fire, outcome: outcome, now: time.Now, log: log}
}

// SetClock sets the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func (s *Service) end(ctx context.Context, r *fleetcron.Run, state fleetcron.RunState, reason string) error {
	done, err := s.runs.FinishRun(ctx, r.ID, r.Attempt, state, reason, s.now().UTC())
	if err != nil {
		return err
	}
	s.log.Warn("run ended by the sweeper", "job", r.JobID, "run", r.ID, "state", state, "reason", reason)
	if s.outcome != nil {
		if err := s.outcome.RecordRun(ctx, done); err != nil {
			return fmt.Errorf("record run %s on job: %w", r.ID, err)
		}
	}
	return nil
}

// DeadRun handles a run message that reached a dead-letter queue after
// receives: its run, unless it ended or an agent holds a live lease, ends lost.
func (s *Service) DeadRun(ctx context.Context, m events.RunMessage, receives int) error {
	r, err := s.runs.GetRun(ctx, m.RunID)
	if errors.Is(err, fleetcron.ErrNotFound) {
		s.log.Warn("dead-lettered message for an unknown run dropped", "run", m.RunID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweeper: dead run %s: %w", m.RunID, err)
	}
	if r.State.Terminal() {
		return nil
	}
	if r.State == fleetcron.RunRunning && r.LeaseExpiresAt.After(s.now()) {
		return nil // an agent holds it and heartbeats: it will report
	}
	reason := fmt.Sprintf("lost: its queue message was dead-lettered after %d receives", receives)
	if err := s.end(ctx, r, fleetcron.RunLost, reason); err != nil && !errors.Is(err, fleetcron.ErrConflict) {
		return fmt.Errorf("sweeper: dead run %s: %w", m.RunID, err)
	}
	return nil
}

// MissedFire records a fire EventBridge Scheduler gave up on: the run of its
// instant is created lost (or, if it exists unsent, left to Sweep).
func (s *Service) MissedFire(ctx context.Context, f events.Fire, code, message string) error {
	at, err := f.Time()
	if err != nil {
		s.log.Error("undeliverable fire with a bad scheduled time dropped", "job", f.JobID, "err", err)
		return nil
	}
	j, err := s.jobs.GetJob(ctx, f.JobID)
	if errors.Is(err, fleetcron.ErrNotFound) {
		s.log.Warn("undeliverable fire for an unknown job dropped", "job", f.JobID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweeper: missed fire of job %s: %w", f.JobID, err)
	}
	now := s.now().UTC()
	r := &fleetcron.Run{ID: fleetcron.RunID(j.ID, at), JobID: j.ID, ScheduledAt: at, FiredAt: now,
		Trigger: fleetcron.TriggerSchedule, Pool: j.Pool, State: fleetcron.RunLost, Enqueued: true,
		MaxAttempts: j.MaxAttempts, Spec: fleetcron.SpecOf(j), EndedAt: now,
		Reason: fmt.Sprintf("missed: EventBridge Scheduler could not deliver the fire (%s: %s)", code, message)}
	if err := s.runs.CreateRun(ctx, r); err != nil {
		if errors.Is(err, fleetcron.ErrConflict) {
			return nil // the instant has its run: a retry got through
		}
		return fmt.Errorf("sweeper: missed fire of job %s: %w", f.JobID, err)
	}
	s.log.Error("fire missed: recorded as a lost run", "job", j.ID, "run", r.ID, "code", code, "message", message)
	if s.outcome != nil {
		if err := s.outcome.RecordRun(ctx, r); err != nil {
			return fmt.Errorf("sweeper: record missed run %s: %w", r.ID, err)
		}
	}
	return nil
}

// Report counts what a sweep did.
type Report struct {
	Jobs, ActiveRuns, Resent, Lost int
}

// Sweep walks every job's active runs: a run locked but not enqueued whose
// sender's lease passed is re-sent; a run out of attempts that no live lease
// holds ends lost.
func (s *Service) Sweep(ctx context.Context) (Report, error) {
	var rep Report
	q := fleetcron.JobQuery{Limit: fleetcron.MaxPageSize}
	for {
		page, err := s.jobs.ListJobs(ctx, q)
		if err != nil {
			return rep, fmt.Errorf("sweeper: list jobs: %w", err)
		}
		for _, j := range page.Jobs {
			rep.Jobs++
			if err := s.sweepJob(ctx, j.ID, &rep); err != nil {
				return rep, err
			}
		}
		if page.Next == "" {
			s.log.Info("sweep done", "jobs", rep.Jobs, "active_runs", rep.ActiveRuns, "resent", rep.Resent, "lost", rep.Lost)
			return rep, nil
		}
		q.Cursor = page.Next
	}
}

func (s *Service) sweepJob(ctx context.Context, jobID string, rep *Report) error {
	q := fleetcron.RunQuery{JobID: jobID, ActiveOnly: true, Limit: fleetcron.MaxPageSize}
	for {
		page, err := s.runs.ListRuns(ctx, q)
		if err != nil {
			return fmt.Errorf("sweeper: list runs of job %s: %w", jobID, err)
		}
		now := s.now()
		for i := range page.Runs {
			r := &page.Runs[i]
			rep.ActiveRuns++
			switch {
			case r.State == fleetcron.RunQueued && !r.Enqueued && !r.SendLeaseUntil.After(now) && s.fire != nil:
				if _, err := s.fire.Repair(ctx, r); err != nil {
					s.log.Warn("re-send of an unsent run failed", "run", r.ID, "err", err)
					continue
				}
				rep.Resent++
			case r.AttemptsUsed() >= r.MaxAttempts && (r.State == fleetcron.RunQueued || !r.LeaseExpiresAt.After(now)):
				reason := fmt.Sprintf("attempts exhausted: %d of %d attempts ended without a result", r.AttemptsUsed(), r.MaxAttempts)
				if err := s.end(ctx, r, fleetcron.RunLost, reason); err == nil {
					rep.Lost++
				} else if !errors.Is(err, fleetcron.ErrConflict) {
					return fmt.Errorf("sweeper: %w", err)
				}
			}
		}
		if page.Next == "" {
			return nil
		}
		q.Cursor = page.Next
	}
}
