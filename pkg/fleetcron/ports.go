package fleetcron

import (
	"context"
	"io"
	"time"

	"github.com/fleetcron/fleetcron/events"
)

// The ports. Each is small; services declare the combination they use. Every
// adapter passes the contract suite of each port it implements (package
// fleetcrontest). Times are passed in by callers, so adapters hold no clock.

// JobStore keeps jobs.
type JobStore interface {
	// CreateJob stores a new job. ErrConflict if the id exists.
	CreateJob(ctx context.Context, j *Job) error
	// GetJob returns a job, deleted ones included. ErrNotFound.
	GetJob(ctx context.Context, id string) (*Job, error)
	// UpdateJob replaces a job if its stored Version equals j.Version, and
	// stores it with Version+1 (j.Version is updated). ErrConflict if the
	// stored version differs, ErrNotFound if there is no such job.
	UpdateJob(ctx context.Context, j *Job) error
	// ListJobs returns a page of jobs; every job appears in exactly one page.
	ListJobs(ctx context.Context, q JobQuery) (JobPage, error)
}

// JobQuery selects a page of jobs.
type JobQuery struct {
	Owner  string // "" = all owners
	Cursor string // "" = first page; else JobPage.Next of the previous page
	Limit  int    // 0 = DefaultPageSize; capped at MaxPageSize
}

// JobPage is one page of jobs; Next is "" on the last page.
type JobPage struct {
	Jobs []Job
	Next string
}

// Page sizes of list calls.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// PageLimit applies the default and the cap to a requested page size.
func PageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultPageSize
	case n > MaxPageSize:
		return MaxPageSize
	}
	return n
}

// RunLocker is the fire side of runs: the lock and the enqueue bookkeeping.
type RunLocker interface {
	// CreateRun stores r if no run with r.ID exists: the fire lock.
	// ErrConflict if it exists.
	CreateRun(ctx context.Context, r *Run) error
	// TakeSendLease lets a retried fire re-send a run that was locked but not
	// enqueued: it succeeds only if the run is queued, not Enqueued, and its
	// SendLeaseUntil is at or before now; it sets SendLeaseUntil to until.
	// ErrConflict otherwise.
	TakeSendLease(ctx context.Context, runID string, now, until time.Time) error
	// MarkEnqueued records that the run's message was sent. Idempotent.
	MarkEnqueued(ctx context.Context, runID string) error
}

// RunReader reads runs.
type RunReader interface {
	// GetRun returns a run. ErrNotFound.
	GetRun(ctx context.Context, id string) (*Run, error)
	// ListRuns returns a job's runs, newest scheduled time first.
	ListRuns(ctx context.Context, q RunQuery) (RunPage, error)
}

// RunQuery selects a page of a job's runs.
type RunQuery struct {
	JobID      string
	ActiveOnly bool // only queued and running runs
	Cursor     string
	Limit      int
}

// RunPage is one page of runs; Next is "" on the last page.
type RunPage struct {
	Runs []Run
	Next string
}

// Leaser holds the agent side of runs. Every write after the claim is fenced
// on the Lease (owner and attempt), so a zombie agent cannot overwrite its
// successor: it gets ErrFenced.
type Leaser interface {
	// ClaimRun leases a run to c.Owner if c.Attempt is still the run's
	// Attempt, its AttemptsUsed is below MaxAttempts, it has no cancel
	// request, and it is queued or running with a lease expired at c.Now. It
	// sets State running, Attempt+1, the owner and LeaseExpiresAt, and
	// StartedAt. ErrConflict if the condition fails, ErrNotFound.
	ClaimRun(ctx context.Context, c Claim) (*Run, error)
	// ExtendLease moves the lease expiry to until; the returned run shows a
	// cancel request, if any.
	ExtendLease(ctx context.Context, l Lease, until time.Time) (*Run, error)
	// CompleteRun ends the run with res (a terminal state) and clears the lease.
	CompleteRun(ctx context.Context, l Lease, res Result) (*Run, error)
	// ReleaseRun hands the run back: State queued, lease cleared. If
	// countAttempt is false (a drain), the claim does not consume one of the
	// job's attempts (Released+1). Reason is recorded.
	ReleaseRun(ctx context.Context, l Lease, countAttempt bool, reason string) (*Run, error)
}

// RunFinisher ends runs no agent holds: the sweeper marks exhausted runs
// lost, and the replace policy cancels.
type RunFinisher interface {
	// FinishRun sets a terminal state on a run whose Attempt equals attempt,
	// that is not terminal and that is queued or whose lease expired at at.
	// It clears the lease, so the agent that held it gets ErrFenced.
	// ErrConflict otherwise.
	FinishRun(ctx context.Context, runID string, attempt int, state RunState, reason string, at time.Time) (*Run, error)
	// RequestCancel asks the agent holding an active run to stop it (the agent
	// sees it on its next heartbeat). ErrConflict if the run is terminal.
	RequestCancel(ctx context.Context, runID, reason string) error
}

// RunStore is every run port; the embedded and DynamoDB stores implement it.
type RunStore interface {
	RunLocker
	RunReader
	Leaser
	RunFinisher
}

// AgentStore keeps agents' heartbeat records.
type AgentStore interface {
	PutAgent(ctx context.Context, a *Agent) error
	// ListAgents returns the agents seen at or after since.
	ListAgents(ctx context.Context, since time.Time) ([]Agent, error)
}

// Sender puts run messages on a pool's queue.
type Sender interface {
	// Send enqueues m on the queue of pool, visible after delay.
	Send(ctx context.Context, pool string, m events.RunMessage, delay time.Duration) error
}

// Receiver takes run messages off a pool's queue, SQS-style: a received
// message is invisible for the visibility timeout, then comes back unless
// deleted; after the queue's max receives it moves to the dead-letter pool.
type Receiver interface {
	// Receive waits up to wait for at most max messages.
	Receive(ctx context.Context, pool string, max int, visibility, wait time.Duration) ([]Delivery, error)
	// ChangeVisibility extends a received message's invisibility (heartbeat),
	// releases it (0), or delays its return (retry backoff).
	ChangeVisibility(ctx context.Context, pool, receipt string, visibility time.Duration) error
	// Delete removes a received message.
	Delete(ctx context.Context, pool, receipt string) error
}

// Queue is both sides of the run queues.
type Queue interface {
	Sender
	Receiver
}

// Delivery is a received message.
type Delivery struct {
	Message      events.RunMessage
	MessageID    string
	Receipt      string
	ReceiveCount int
}

// DeadLetterPool names the dead-letter queue of pool, for Receive.
func DeadLetterPool(pool string) string { return pool + ".dlq" }

// BlobStore keeps scripts, binaries and run output by sha256.
type BlobStore interface {
	// PutBlob stores data under sum, its lowercase hex sha256; ErrHashMismatch
	// if it is not. Storing an existing blob again is a no-op.
	PutBlob(ctx context.Context, sum string, data []byte) error
	// GetBlob opens a blob. ErrNotFound. Readers verify the hash themselves:
	// what runs must be what was uploaded, whatever the store returns.
	GetBlob(ctx context.Context, sum string) (io.ReadCloser, error)
}

// Scheduler turns jobs into schedules that fire events.Fire at due times.
type Scheduler interface {
	// PutSchedule creates or replaces the schedule(s) of a job; a paused job's
	// schedules are disabled.
	PutSchedule(ctx context.Context, j *Job) error
	// DeleteSchedule removes a job's schedules. Idempotent.
	DeleteSchedule(ctx context.Context, jobID string) error
}

// ScheduleReader reads back what a Scheduler stored (tests, the harness).
type ScheduleReader interface {
	// GetSchedule returns the schedules of a job. ErrNotFound.
	GetSchedule(ctx context.Context, jobID string) (ScheduleInfo, error)
}

// ScheduleInfo is what a Scheduler stored for one job.
type ScheduleInfo struct {
	JobID       string
	Expressions []string // in the backend's dialect
	TimeZone    string
	Enabled     bool
	Inputs      []string // the Fire input template of each expression
}
