// Package jobs is fleetcron's job service: create, read, update, delete,
// pause, resume and run jobs for an authenticated caller, keep each job's
// schedule in the Scheduler, and keep the job's status following its runs.
// The HTTP API and the CLI sit on it; so do the embedded dev server and the
// API Lambda.
package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// Caller is who is asking: an API token's subject and role.
type Caller struct {
	ID    string
	Admin bool
}

// Firer runs a job now (the fire service).
type Firer interface {
	Fire(ctx context.Context, f events.Fire) (*fleetcron.Run, error)
}

// Runs is what the job service reads of runs.
type Runs interface {
	fleetcron.RunReader
}

// Service is the job service.
type Service struct {
	jobs  fleetcron.JobStore
	runs  Runs
	blobs fleetcron.BlobStore
	sched fleetcron.Scheduler
	fire  Firer
	now   func() time.Time
	log   *slog.Logger
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New returns a job service. fire may be set later with SetFirer (the fire
// service and the job service refer to each other).
func New(jobs fleetcron.JobStore, runs Runs, blobs fleetcron.BlobStore, sched fleetcron.Scheduler, opts ...Option) *Service {
	s := &Service{jobs: jobs, runs: runs, blobs: blobs, sched: sched, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// SetFirer sets the fire service used by RunNow.
func (s *Service) SetFirer(f Firer) { s.fire = f }

// Input is a job create or update request. Nil fields are not set (update)
// or take their defaults (create).
type Input struct {
	Executable     *string                  `json:"executable,omitempty"`
	Schedule       *string                  `json:"schedule,omitempty"`
	Type           *fleetcron.JobType       `json:"type,omitempty"`
	Name           *string                  `json:"name,omitempty"`
	TimeZone       *string                  `json:"timezone,omitempty"`
	Args           *[]string                `json:"args,omitempty"`
	TimeoutSec     *int                     `json:"timeout_seconds,omitempty"`
	MaxAttempts    *int                     `json:"max_attempts,omitempty"`
	RetryOnFailure *bool                    `json:"retry_on_failure,omitempty"`
	RetryBackoffS  *int                     `json:"retry_backoff_seconds,omitempty"`
	Overlap        *fleetcron.OverlapPolicy `json:"overlap,omitempty"`
	Pool           *string                  `json:"pool,omitempty"`
	Env            *map[string]string       `json:"env,omitempty"`
	RunAs          *string                  `json:"run_as,omitempty"`
	Paused         *bool                    `json:"paused,omitempty"`
	JitterSec      *int                     `json:"jitter_seconds,omitempty"`
	// Content is the script or binary (decoded), for script and binary jobs.
	Content []byte `json:"content,omitempty"`
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func (in *Input) apply(j *fleetcron.Job) {
	set(&j.Executable, in.Executable)
	set(&j.Schedule, in.Schedule)
	set(&j.Type, in.Type)
	set(&j.Name, in.Name)
	set(&j.TimeZone, in.TimeZone)
	if in.Args != nil {
		j.Args = slices.Clone(*in.Args)
	}
	set(&j.TimeoutSec, in.TimeoutSec)
	set(&j.MaxAttempts, in.MaxAttempts)
	set(&j.RetryOnFailure, in.RetryOnFailure)
	set(&j.RetryBackoffS, in.RetryBackoffS)
	set(&j.Overlap, in.Overlap)
	set(&j.Pool, in.Pool)
	if in.Env != nil {
		j.Env = maps.Clone(*in.Env)
	}
	set(&j.RunAs, in.RunAs)
	set(&j.Paused, in.Paused)
	set(&j.JitterSec, in.JitterSec)
	if in.Content != nil {
		sum := sha256.Sum256(in.Content)
		j.ContentSHA256 = hex.EncodeToString(sum[:])
		j.ContentSize = int64(len(in.Content))
	}
}

// authorizeRunAs refuses a non-admin who asks to choose the run-as user.
func (s *Service) authorizeRunAs(ctx context.Context, c Caller, in *Input, jobID string) error {
	if in.RunAs == nil || *in.RunAs == "" || c.Admin {
		return nil
	}
	// The attempt is recorded: an operator sees who tried what.
	s.log.WarnContext(ctx, "audit: non-admin asked for run_as", "caller", c.ID, "run_as", *in.RunAs, "job", jobID)
	return fmt.Errorf("run_as %q: only admins choose the user a job runs as: %w", *in.RunAs, fleetcron.ErrForbidden)
}

func (s *Service) checkContent(j *fleetcron.Job, in *Input) error {
	switch {
	case j.Type == fleetcron.TypeCommand && in.Content != nil:
		return fleetcron.Invalid("content", "command jobs take no content; use type script or binary")
	case len(in.Content) > fleetcron.MaxContentSize:
		return fleetcron.Invalid("content", "%d bytes is over the limit of %d bytes", len(in.Content), fleetcron.MaxContentSize)
	case j.Type != fleetcron.TypeCommand && in.Content != nil && len(in.Content) == 0:
		return fleetcron.Invalid("content", "must not be empty")
	}
	return nil
}

func (s *Service) storeContent(ctx context.Context, j *fleetcron.Job, in *Input) error {
	if in.Content == nil {
		return nil
	}
	if err := s.blobs.PutBlob(ctx, j.ContentSHA256, in.Content); err != nil {
		return fmt.Errorf("store content of job %s: %w", j.ID, err)
	}
	return nil
}

// Create validates and stores a new job and its schedule.
func (s *Service) Create(ctx context.Context, c Caller, in Input) (*fleetcron.Job, error) {
	now := s.now().UTC()
	j := &fleetcron.Job{ID: fleetcron.NewID(), Owner: c.ID, CreatedAt: now, UpdatedAt: now, Version: 1}
	in.apply(j)
	j.ApplyDefaults()
	if in.Executable == nil && j.Type != fleetcron.TypeCommand {
		j.Executable = string(j.Type)
	}
	if err := s.validate(ctx, c, j, &in); err != nil {
		return nil, err
	}
	if err := s.storeContent(ctx, j, &in); err != nil {
		return nil, err
	}
	// Schedule first: until the job record exists a fire of it is dropped as
	// not found, so a failure here leaves nothing a user can see.
	if err := s.sched.PutSchedule(ctx, j); err != nil {
		return nil, fmt.Errorf("create job %s: put schedule: %w", j.ID, err)
	}
	if err := s.jobs.CreateJob(ctx, j); err != nil {
		if derr := s.sched.DeleteSchedule(ctx, j.ID); derr != nil {
			s.log.ErrorContext(ctx, "orphan schedule left after failed job create", "job", j.ID, "err", derr)
		}
		return nil, fmt.Errorf("create job %s: %w", j.ID, err)
	}
	s.log.InfoContext(ctx, "job created", "job", j.ID, "owner", c.ID, "schedule", j.Schedule, "type", j.Type, "pool", j.Pool)
	return j, nil
}

func (s *Service) validate(ctx context.Context, c Caller, j *fleetcron.Job, in *Input) error {
	if err := s.authorizeRunAs(ctx, c, in, j.ID); err != nil {
		return err
	}
	if err := s.checkContent(j, in); err != nil {
		return err
	}
	return j.Validate()
}

// Get returns a job the caller may see. Another user's job is not found.
func (s *Service) Get(ctx context.Context, c Caller, id string) (*fleetcron.Job, error) {
	if !fleetcron.ValidJobID(id) {
		return nil, fmt.Errorf("job %q: %w", id, fleetcron.ErrNotFound)
	}
	j, err := s.jobs.GetJob(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get job %s: %w", id, err)
	}
	if !c.Admin && j.Owner != c.ID {
		return nil, fmt.Errorf("get job %s: %w", id, fleetcron.ErrNotFound)
	}
	return j, nil
}

// List returns a page of the caller's jobs (all jobs for an admin).
func (s *Service) List(ctx context.Context, c Caller, cursor string, limit int) (fleetcron.JobPage, error) {
	q := fleetcron.JobQuery{Cursor: cursor, Limit: fleetcron.PageLimit(limit)}
	if !c.Admin {
		q.Owner = c.ID
	}
	p, err := s.jobs.ListJobs(ctx, q)
	if err != nil {
		return p, fmt.Errorf("list jobs: %w", err)
	}
	return p, nil
}

// update applies change to the job under optimistic concurrency, retrying
// on a concurrent write, then syncs its schedule if asked.
func (s *Service) update(ctx context.Context, c Caller, id string, syncSchedule bool, change func(*fleetcron.Job) error) (*fleetcron.Job, error) {
	for attempt := 0; ; attempt++ {
		j, err := s.Get(ctx, c, id)
		if err != nil {
			return nil, err
		}
		if err := change(j); err != nil {
			return nil, err
		}
		j.UpdatedAt = s.now().UTC()
		err = s.jobs.UpdateJob(ctx, j)
		if errors.Is(err, fleetcron.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update job %s: %w", id, err)
		}
		if syncSchedule {
			if err := s.syncSchedule(ctx, j); err != nil {
				return nil, err
			}
		}
		return j, nil
	}
}

func (s *Service) syncSchedule(ctx context.Context, j *fleetcron.Job) error {
	if j.Deleted() {
		if err := s.sched.DeleteSchedule(ctx, j.ID); err != nil {
			return fmt.Errorf("job %s: delete schedule (the job is finished and its fires are ignored; retry the delete): %w", j.ID, err)
		}
		return nil
	}
	if err := s.sched.PutSchedule(ctx, j); err != nil {
		return fmt.Errorf("job %s: put schedule (saved; retry the request to apply it): %w", j.ID, err)
	}
	return nil
}

var errFinished = fmt.Errorf("job is finished: %w", fleetcron.ErrConflict)

// Update changes a job's fields.
func (s *Service) Update(ctx context.Context, c Caller, id string, in Input) (*fleetcron.Job, error) {
	j, err := s.update(ctx, c, id, true, func(j *fleetcron.Job) error {
		if j.Deleted() {
			return fmt.Errorf("update job %s: %w", id, errFinished)
		}
		if in.Type != nil && *in.Type != j.Type && in.Content == nil && *in.Type != fleetcron.TypeCommand {
			return fleetcron.Invalid("content", "changing type to %s needs content", *in.Type)
		}
		in.apply(j)
		if j.Type == fleetcron.TypeCommand {
			j.ContentSHA256, j.ContentSize = "", 0
		}
		if err := s.validate(ctx, c, j, &in); err != nil {
			return err
		}
		return s.storeContent(ctx, j, &in)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "job updated", "job", id, "caller", c.ID)
	return j, nil
}

// Delete finishes a job: its schedule is removed, its record and run history
// kept with status finished.
func (s *Service) Delete(ctx context.Context, c Caller, id string) (*fleetcron.Job, error) {
	j, err := s.update(ctx, c, id, true, func(j *fleetcron.Job) error {
		if !j.Deleted() {
			j.DeletedAt = s.now().UTC()
		}
		j.Status = fleetcron.JobFinished
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "job deleted", "job", id, "caller", c.ID)
	return j, nil
}

// Pause stops a job's schedule from firing; Resume starts it again.
func (s *Service) Pause(ctx context.Context, c Caller, id string) (*fleetcron.Job, error) {
	return s.setPaused(ctx, c, id, true)
}

// Resume undoes Pause.
func (s *Service) Resume(ctx context.Context, c Caller, id string) (*fleetcron.Job, error) {
	return s.setPaused(ctx, c, id, false)
}

func (s *Service) setPaused(ctx context.Context, c Caller, id string, paused bool) (*fleetcron.Job, error) {
	j, err := s.update(ctx, c, id, true, func(j *fleetcron.Job) error {
		if j.Deleted() {
			return fmt.Errorf("job %s: %w", id, errFinished)
		}
		j.Paused = paused
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "job paused", "job", id, "paused", paused, "caller", c.ID)
	return j, nil
}

// RunNow fires the job for the current instant, paused or not.
func (s *Service) RunNow(ctx context.Context, c Caller, id string) (*fleetcron.Run, error) {
	j, err := s.Get(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if j.Deleted() {
		return nil, fmt.Errorf("run job %s: %w", id, errFinished)
	}
	if s.fire == nil {
		return nil, fmt.Errorf("run job %s: no fire service configured", id)
	}
	at := s.now().UTC().Truncate(time.Millisecond)
	r, err := s.fire.Fire(ctx, events.Fire{JobID: id, ScheduledTime: at.Format(time.RFC3339Nano), Manual: true})
	if err != nil {
		return nil, fmt.Errorf("run job %s now: %w", id, err)
	}
	return r, nil
}

// Runs lists a job's runs, newest first.
func (s *Service) Runs(ctx context.Context, c Caller, jobID, cursor string, limit int) (fleetcron.RunPage, error) {
	if _, err := s.Get(ctx, c, jobID); err != nil {
		return fleetcron.RunPage{}, err
	}
	p, err := s.runs.ListRuns(ctx, fleetcron.RunQuery{JobID: jobID, Cursor: cursor, Limit: fleetcron.PageLimit(limit)})
	if err != nil {
		return p, fmt.Errorf("list runs of job %s: %w", jobID, err)
	}
	return p, nil
}

// Run returns one run of a job the caller may see.
func (s *Service) Run(ctx context.Context, c Caller, runID string) (*fleetcron.Run, error) {
	jobID, _, err := fleetcron.ParseRunID(runID)
	if err != nil {
		return nil, err
	}
	if _, err := s.Get(ctx, c, jobID); err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, fleetcron.ErrNotFound)
	}
	r, err := s.runs.GetRun(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", runID, err)
	}
	return r, nil
}

// RunOutput opens the full output of a run: the stored blob when the output
// outgrew the run record's tail, else the tail itself.
func (s *Service) RunOutput(ctx context.Context, c Caller, runID string) (io.ReadCloser, error) {
	r, err := s.Run(ctx, c, runID)
	if err != nil {
		return nil, err
	}
	if r.OutputKey == "" {
		return io.NopCloser(strings.NewReader(r.Output)), nil
	}
	rc, err := s.blobs.GetBlob(ctx, r.OutputKey)
	if err != nil {
		return nil, fmt.Errorf("output of run %s: %w", runID, err)
	}
	return rc, nil
}

// RecordRun makes a job follow the end of one of its runs: last run fields,
// and status error after a failure, scheduled after a success. A run older
// than the job's last recorded run changes nothing. Finished jobs stay finished.
func (s *Service) RecordRun(ctx context.Context, r *fleetcron.Run) error {
	for attempt := 0; ; attempt++ {
		j, err := s.jobs.GetJob(ctx, r.JobID)
		if err != nil {
			return fmt.Errorf("record run %s on job: %w", r.ID, err)
		}
		if r.ScheduledAt.Before(j.LastRunAt) {
			return nil
		}
		j.LastRunAt, j.LastRunID, j.LastRunState = r.ScheduledAt, r.ID, r.State
		if j.Status != fleetcron.JobFinished {
			switch r.State {
			case fleetcron.RunSucceeded:
				j.Status = fleetcron.JobScheduled
			case fleetcron.RunFailed, fleetcron.RunTimedOut, fleetcron.RunLost:
				j.Status = fleetcron.JobError
			}
		}
		err = s.jobs.UpdateJob(ctx, j)
		if errors.Is(err, fleetcron.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return fmt.Errorf("record run %s on job %s: %w", r.ID, r.JobID, err)
		}
		return nil
	}
}
