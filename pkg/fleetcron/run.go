package fleetcron

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RunState is where a run is in its life.
type RunState string

// Run states.
const (
	RunQueued    RunState = "queued"    // locked by a fire, waiting for (or back with) an agent
	RunRunning   RunState = "running"   // claimed by an agent holding a lease
	RunSucceeded RunState = "succeeded" // exited 0
	RunFailed    RunState = "failed"    // exited non-zero, could not start, or was canceled
	RunTimedOut  RunState = "timed_out" // killed at the job's timeout
	RunSkipped   RunState = "skipped"   // the overlap policy said no; Reason says why
	RunLost      RunState = "lost"      // attempts exhausted without a result
)

// Terminal reports whether no further transition can happen.
func (s RunState) Terminal() bool {
	switch s {
	case RunSucceeded, RunFailed, RunTimedOut, RunSkipped, RunLost:
		return true
	}
	return false
}

// Active reports whether the run is queued or running.
func (s RunState) Active() bool { return s == RunQueued || s == RunRunning }

// Trigger says what created a run.
type Trigger string

// Triggers.
const (
	TriggerSchedule Trigger = "schedule"
	TriggerManual   Trigger = "manual"
)

// Run is one execution of a job for one scheduled instant. Its ID is derived
// from (job id, scheduled time), so creating it is the fire lock.
type Run struct {
	ID          string    `json:"id"`
	JobID       string    `json:"job_id"`
	ScheduledAt time.Time `json:"scheduled_at"`
	FiredAt     time.Time `json:"fired_at"`
	Trigger     Trigger   `json:"trigger"`
	Pool        string    `json:"pool"`
	State       RunState  `json:"state"`
	Reason      string    `json:"reason,omitempty"`

	// Enqueued is false between the lock and the send of the queue message;
	// a retried fire that finds it false (and the send lease expired) sends again.
	Enqueued       bool      `json:"enqueued"`
	SendLeaseUntil time.Time `json:"send_lease_until,omitzero"`

	// Attempt counts claims; it is the fencing token of every agent write.
	// Released counts claims handed back unfinished (drain), which do not
	// consume the job's attempts.
	Attempt        int       `json:"attempt"`
	Released       int       `json:"released,omitempty"`
	MaxAttempts    int       `json:"max_attempts"`
	LeaseOwner     string    `json:"lease_owner,omitempty"`
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	CancelRequest  string    `json:"cancel_requested,omitempty"`

	StartedAt   time.Time `json:"started_at,omitzero"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	ExitCode    *int      `json:"exit_code,omitempty"`
	Output      string    `json:"output,omitempty"`
	OutputBytes int64     `json:"output_bytes,omitempty"`
	OutputKey   string    `json:"output_sha256,omitempty"`

	// Spec is what the run executes: a snapshot of the job when it fired.
	Spec RunSpec `json:"spec"`
	// ExpiresAt is when the record may be deleted (DynamoDB TTL; retention).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// RunSpec is the part of a job an agent needs to execute a run.
type RunSpec struct {
	Type          JobType           `json:"type"`
	Executable    string            `json:"executable"`
	Args          []string          `json:"args,omitempty"`
	ContentSHA256 string            `json:"content_sha256,omitempty"`
	ContentSize   int64             `json:"content_size,omitempty"`
	TimeoutSec    int               `json:"timeout_seconds"`
	Env           map[string]string `json:"env,omitempty"`
	RunAs         string            `json:"run_as,omitempty"`
	RetryOnFail   bool              `json:"retry_on_failure,omitempty"`
	RetryBackoffS int               `json:"retry_backoff_seconds,omitempty"`
}

// SpecOf snapshots what a run of j executes.
func SpecOf(j *Job) RunSpec {
	return RunSpec{
		Type: j.Type, Executable: j.Executable, Args: j.Args,
		ContentSHA256: j.ContentSHA256, ContentSize: j.ContentSize,
		TimeoutSec: j.TimeoutSec, Env: j.Env, RunAs: j.RunAs,
		RetryOnFail: j.RetryOnFailure, RetryBackoffS: j.RetryBackoffS,
	}
}

// AttemptsUsed is the number of claims that consumed one of the job's attempts.
func (r *Run) AttemptsUsed() int { return r.Attempt - r.Released }

// RunID is the run id of (job, scheduled time): the job id, a dash and the
// scheduled time in Unix milliseconds. Two fires of the same instant agree on it.
func RunID(jobID string, scheduled time.Time) string {
	return jobID + "-" + strconv.FormatInt(scheduled.UnixMilli(), 10)
}

// ParseRunID splits a run id into its job id and scheduled time.
func ParseRunID(id string) (jobID string, scheduled time.Time, err error) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", time.Time{}, fmt.Errorf("run id %q: %w", id, ErrNotFound)
	}
	ms, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || !ValidJobID(id[:i]) {
		return "", time.Time{}, fmt.Errorf("run id %q: %w", id, ErrNotFound)
	}
	return id[:i], time.UnixMilli(ms).UTC(), nil
}

// Claim asks for the lease of a run.
type Claim struct {
	RunID string
	Owner string
	// Attempt is the attempt the caller saw (the run's current Attempt); the
	// claim succeeds only if it is still current, and sets Attempt+1.
	Attempt    int
	Now        time.Time
	LeaseUntil time.Time
}

// Lease identifies the holder of a run: every agent write is fenced on it.
type Lease struct {
	RunID   string
	Owner   string
	Attempt int
}

// Result is what an agent reports when a run ends.
type Result struct {
	State       RunState // succeeded, failed, timed_out
	ExitCode    *int
	Reason      string
	Output      string
	OutputBytes int64
	OutputKey   string
	StartedAt   time.Time
	EndedAt     time.Time
}

// Agent is the heartbeat record of one agent (behind GET /agents).
type Agent struct {
	ID         string    `json:"id"`
	InstanceID string    `json:"instance_id,omitempty"`
	Hostname   string    `json:"hostname,omitempty"`
	Pools      []string  `json:"pools"`
	Slots      int       `json:"slots"`
	Busy       int       `json:"busy"`
	Version    string    `json:"version,omitempty"`
	State      string    `json:"state"` // polling, draining, stopped
	StartedAt  time.Time `json:"started_at"`
	SeenAt     time.Time `json:"seen_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
}
