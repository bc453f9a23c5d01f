package bolt

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	bbolt "go.etcd.io/bbolt"
)

// runKey is the runs key of (job, scheduled time): the job id, a slash and
// the scheduled Unix milliseconds zero-padded to 20 digits, so that a job's
// runs sort by scheduled time.
func runKey(jobID string, scheduled time.Time) []byte {
	return fmt.Appendf(nil, "%s/%020d", jobID, scheduled.UnixMilli())
}

func runPrefix(jobID string) []byte { return []byte(jobID + "/") }

// CreateRun stores r if no run with r.ID exists: the fire lock.
func (d *DB) CreateRun(ctx context.Context, r *fleetcron.Run) error {
	switch {
	case r.ID == "":
		return fmt.Errorf("bolt: create run: %w", fleetcron.Invalid("id", "must not be empty"))
	case r.JobID == "" || strings.Contains(r.JobID, "/"):
		return fmt.Errorf("bolt: create run %s: %w", r.ID, fleetcron.Invalid("job_id", "%q is not a job id", r.JobID))
	case r.ScheduledAt.UnixMilli() < 0:
		return fmt.Errorf("bolt: create run %s: %w", r.ID, fleetcron.Invalid("scheduled_at", "before 1970"))
	}
	key := runKey(r.JobID, r.ScheduledAt)
	err := d.update(func(tx *bbolt.Tx) error {
		byID := tx.Bucket(bucketRunsByID)
		if byID.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("run exists: %w", fleetcron.ErrConflict)
		}
		if tx.Bucket(bucketRuns).Get(key) != nil {
			return fmt.Errorf("job %s has a run for %s: %w", r.JobID, r.ScheduledAt.Format(time.RFC3339Nano), fleetcron.ErrConflict)
		}
		if err := byID.Put([]byte(r.ID), key); err != nil {
			return err
		}
		return putRun(tx, key, nil, r)
	})
	if err != nil {
		return fmt.Errorf("bolt: create run %s: %w", r.ID, err)
	}
	return nil
}

// putRun stores r under key and keeps the active index in step with its
// state; old is the stored run it replaces, if any.
func putRun(tx *bbolt.Tx, key []byte, old, r *fleetcron.Run) error {
	if err := put(tx.Bucket(bucketRuns), key, r); err != nil {
		return err
	}
	active := tx.Bucket(bucketRunsActive)
	switch {
	case r.State.Active() && (old == nil || !old.State.Active()):
		return active.Put(key, nil)
	case !r.State.Active() && old != nil && old.State.Active():
		return active.Delete(key)
	}
	return nil
}

// loadRun reads a run and its key. ErrNotFound.
func loadRun(tx *bbolt.Tx, id string) (*fleetcron.Run, []byte, error) {
	key := tx.Bucket(bucketRunsByID).Get([]byte(id))
	if key == nil {
		return nil, nil, fleetcron.ErrNotFound
	}
	r, err := get[fleetcron.Run](tx.Bucket(bucketRuns), key)
	if err != nil {
		return nil, nil, err
	}
	if r == nil {
		return nil, nil, fmt.Errorf("run index names missing record %q", key)
	}
	return r, clone(key), nil
}

// changeRun applies change to the stored run in one transaction and returns
// the run as stored.
func (d *DB) changeRun(op, id string, change func(r *fleetcron.Run) error) (*fleetcron.Run, error) {
	var out *fleetcron.Run
	err := d.update(func(tx *bbolt.Tx) error {
		old, key, err := loadRun(tx, id)
		if err != nil {
			return err
		}
		r := *old
		if err := change(&r); err != nil {
			return err
		}
		if err := putRun(tx, key, old, &r); err != nil {
			return err
		}
		out = &r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: %s run %s: %w", op, id, err)
	}
	return out, nil
}

// GetRun returns a run. ErrNotFound.
func (d *DB) GetRun(ctx context.Context, id string) (*fleetcron.Run, error) {
	var r *fleetcron.Run
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		r, _, err = loadRun(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: get run %s: %w", id, err)
	}
	return r, nil
}

// TakeSendLease sets SendLeaseUntil to until if the run is queued, not
// enqueued, and its send lease ended at or before now. ErrConflict otherwise.
func (d *DB) TakeSendLease(ctx context.Context, runID string, now, until time.Time) error {
	_, err := d.changeRun("take send lease of", runID, func(r *fleetcron.Run) error {
		switch {
		case r.State != fleetcron.RunQueued:
			return fmt.Errorf("run is %s: %w", r.State, fleetcron.ErrConflict)
		case r.Enqueued:
			return fmt.Errorf("run is enqueued: %w", fleetcron.ErrConflict)
		case r.SendLeaseUntil.After(now):
			return fmt.Errorf("send lease held until %s: %w", r.SendLeaseUntil.Format(time.RFC3339Nano), fleetcron.ErrConflict)
		}
		r.SendLeaseUntil = until
		return nil
	})
	return err
}

// MarkEnqueued records that the run's message was sent. Idempotent.
func (d *DB) MarkEnqueued(ctx context.Context, runID string) error {
	_, err := d.changeRun("mark enqueued", runID, func(r *fleetcron.Run) error {
		r.Enqueued = true
		return nil
	})
	return err
}

// ListRuns returns a job's runs, newest scheduled time first.
func (d *DB) ListRuns(ctx context.Context, q fleetcron.RunQuery) (fleetcron.RunPage, error) {
	var page fleetcron.RunPage
	limit := fleetcron.PageLimit(q.Limit)
	prefix := runPrefix(q.JobID)
	index := bucketRuns
	if q.ActiveOnly {
		index = bucketRunsActive
	}
	err := d.view(func(tx *bbolt.Tx) error {
		runs := tx.Bucket(bucketRuns)
		c := tx.Bucket(index).Cursor()
		// Position on the last key before `before`.
		before := append(bytes.Clone(prefix), 0xff)
		if q.Cursor != "" {
			var err error
			if before, err = decodeCursor(q.Cursor, prefix); err != nil {
				return err
			}
		}
		k, _ := c.Seek(before)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		var last []byte
		for ; k != nil && hasPrefix(k, prefix); k, _ = c.Prev() {
			if len(page.Runs) == limit {
				page.Next = encodeCursor(last)
				break
			}
			r, err := get[fleetcron.Run](runs, k)
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("active index key %q names no run", k)
			}
			page.Runs = append(page.Runs, *r)
			last = clone(k)
		}
		return nil
	})
	if err != nil {
		return fleetcron.RunPage{}, fmt.Errorf("bolt: list runs of job %s: %w", q.JobID, err)
	}
	return page, nil
}

// ClaimRun leases a run to c.Owner; see fleetcron.Leaser.
func (d *DB) ClaimRun(ctx context.Context, c fleetcron.Claim) (*fleetcron.Run, error) {
	return d.changeRun("claim", c.RunID, func(r *fleetcron.Run) error {
		switch {
		case r.Attempt != c.Attempt:
			return fmt.Errorf("claim of attempt %d, the run is at attempt %d: %w", c.Attempt, r.Attempt, fleetcron.ErrConflict)
		case r.AttemptsUsed() >= r.MaxAttempts:
			return fmt.Errorf("attempts exhausted (%d of %d used): %w", r.AttemptsUsed(), r.MaxAttempts, fleetcron.ErrConflict)
		case r.CancelRequest != "":
			return fmt.Errorf("cancel requested (%s): %w", r.CancelRequest, fleetcron.ErrConflict)
		case r.State == fleetcron.RunRunning && r.LeaseExpiresAt.After(c.Now):
			return fmt.Errorf("leased to %s until %s: %w", r.LeaseOwner, r.LeaseExpiresAt.Format(time.RFC3339Nano), fleetcron.ErrConflict)
		case !r.State.Active():
			return fmt.Errorf("run is %s: %w", r.State, fleetcron.ErrConflict)
		}
		r.State = fleetcron.RunRunning
		r.Attempt++
		r.LeaseOwner = c.Owner
		r.LeaseExpiresAt = c.LeaseUntil
		r.StartedAt = c.Now
		return nil
	})
}

// fence checks that l still holds r.
func fence(r *fleetcron.Run, l fleetcron.Lease) error {
	if r.State != fleetcron.RunRunning || r.LeaseOwner != l.Owner || r.Attempt != l.Attempt {
		return fmt.Errorf("lease of %s attempt %d; the run is %s, held by %q attempt %d: %w",
			l.Owner, l.Attempt, r.State, r.LeaseOwner, r.Attempt, fleetcron.ErrFenced)
	}
	return nil
}

// ExtendLease moves the lease expiry to until; the returned run shows a
// cancel request, if any.
func (d *DB) ExtendLease(ctx context.Context, l fleetcron.Lease, until time.Time) (*fleetcron.Run, error) {
	return d.changeRun("extend lease of", l.RunID, func(r *fleetcron.Run) error {
		if err := fence(r, l); err != nil {
			return err
		}
		r.LeaseExpiresAt = until
		return nil
	})
}

// CompleteRun ends the run with res and clears the lease.
func (d *DB) CompleteRun(ctx context.Context, l fleetcron.Lease, res fleetcron.Result) (*fleetcron.Run, error) {
	return d.changeRun("complete", l.RunID, func(r *fleetcron.Run) error {
		if err := fence(r, l); err != nil {
			return err
		}
		if !res.State.Terminal() {
			return fleetcron.Invalid("state", "%q is not a terminal state", res.State)
		}
		r.State = res.State
		r.ExitCode = res.ExitCode
		r.Reason = res.Reason
		r.Output = res.Output
		r.OutputBytes = res.OutputBytes
		r.OutputKey = res.OutputKey
		if !res.StartedAt.IsZero() {
			r.StartedAt = res.StartedAt
		}
		r.EndedAt = res.EndedAt
		r.LeaseOwner, r.LeaseExpiresAt = "", time.Time{}
		return nil
	})
}

// ReleaseRun hands the run back: queued, lease cleared; a release that does
// not count an attempt increments Released.
func (d *DB) ReleaseRun(ctx context.Context, l fleetcron.Lease, countAttempt bool, reason string) (*fleetcron.Run, error) {
	return d.changeRun("release", l.RunID, func(r *fleetcron.Run) error {
		if err := fence(r, l); err != nil {
			return err
		}
		r.State = fleetcron.RunQueued
		r.LeaseOwner, r.LeaseExpiresAt = "", time.Time{}
		r.Reason = reason
		if !countAttempt {
			r.Released++
		}
		return nil
	})
}

// FinishRun sets a terminal state on a run no agent holds; see
// fleetcron.RunFinisher. It clears the lease, so the last holder is fenced.
func (d *DB) FinishRun(ctx context.Context, runID string, attempt int, state fleetcron.RunState, reason string, at time.Time) (*fleetcron.Run, error) {
	if !state.Terminal() {
		return nil, fmt.Errorf("bolt: finish run %s: %w", runID, fleetcron.Invalid("state", "%q is not a terminal state", state))
	}
	return d.changeRun("finish", runID, func(r *fleetcron.Run) error {
		switch {
		case r.Attempt != attempt:
			return fmt.Errorf("finish of attempt %d, the run is at attempt %d: %w", attempt, r.Attempt, fleetcron.ErrConflict)
		case !r.State.Active():
			return fmt.Errorf("run is %s: %w", r.State, fleetcron.ErrConflict)
		case r.State == fleetcron.RunRunning && r.LeaseExpiresAt.After(at):
			return fmt.Errorf("leased to %s until %s: %w", r.LeaseOwner, r.LeaseExpiresAt.Format(time.RFC3339Nano), fleetcron.ErrConflict)
		}
		r.State = state
		r.Reason = reason
		r.EndedAt = at
		r.LeaseOwner, r.LeaseExpiresAt = "", time.Time{}
		return nil
	})
}

// RequestCancel records a cancel request on an active run.
func (d *DB) RequestCancel(ctx context.Context, runID, reason string) error {
	_, err := d.changeRun("request cancel of", runID, func(r *fleetcron.Run) error {
		if r.State.Terminal() {
			return fmt.Errorf("run is %s: %w", r.State, fleetcron.ErrConflict)
		}
		r.CancelRequest = reason
		return nil
	})
	return err
}
