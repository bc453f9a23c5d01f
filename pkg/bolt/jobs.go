package bolt

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	bbolt "go.etcd.io/bbolt"
)

// ownerPrefix is the jobs-by-owner key prefix of owner: its length, then it,
// so that no owner's prefix is another's.
func ownerPrefix(owner string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(owner)))
	return append(b, owner...)
}

func createdKey(j *fleetcron.Job) []byte { return concat(timeKey(j.CreatedAt), []byte(j.ID)) }

func ownerKey(j *fleetcron.Job) []byte {
	return concat(ownerPrefix(j.Owner), timeKey(j.CreatedAt), []byte(j.ID))
}

// CreateJob stores a new job. ErrConflict if the id exists.
func (d *DB) CreateJob(ctx context.Context, j *fleetcron.Job) error {
	if j.ID == "" {
		return fmt.Errorf("bolt: create job: %w", fleetcron.Invalid("id", "must not be empty"))
	}
	err := d.update(func(tx *bbolt.Tx) error {
		jobs := tx.Bucket(bucketJobs)
		if jobs.Get([]byte(j.ID)) != nil {
			return fmt.Errorf("job exists: %w", fleetcron.ErrConflict)
		}
		if err := put(jobs, []byte(j.ID), j); err != nil {
			return err
		}
		if err := tx.Bucket(bucketJobsByCreated).Put(createdKey(j), nil); err != nil {
			return err
		}
		return tx.Bucket(bucketJobsByOwner).Put(ownerKey(j), nil)
	})
	if err != nil {
		return fmt.Errorf("bolt: create job %s: %w", j.ID, err)
	}
	return nil
}

// GetJob returns a job, deleted ones included. ErrNotFound.
func (d *DB) GetJob(ctx context.Context, id string) (*fleetcron.Job, error) {
	var j *fleetcron.Job
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		j, err = get[fleetcron.Job](tx.Bucket(bucketJobs), []byte(id))
		if err == nil && j == nil {
			err = fleetcron.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: get job %s: %w", id, err)
	}
	return j, nil
}

// UpdateJob replaces a job if its stored Version equals j.Version, and
// stores it with Version+1, which it sets in j.
func (d *DB) UpdateJob(ctx context.Context, j *fleetcron.Job) error {
	next := *j
	next.Version++
	err := d.update(func(tx *bbolt.Tx) error {
		jobs := tx.Bucket(bucketJobs)
		old, err := get[fleetcron.Job](jobs, []byte(j.ID))
		switch {
		case err != nil:
			return err
		case old == nil:
			return fleetcron.ErrNotFound
		case old.Version != j.Version:
			return fmt.Errorf("stored version %d, update of version %d: %w", old.Version, j.Version, fleetcron.ErrConflict)
		}
		if err := put(jobs, []byte(j.ID), &next); err != nil {
			return err
		}
		for _, ix := range []struct {
			bucket   []byte
			old, new []byte
		}{
			{bucketJobsByCreated, createdKey(old), createdKey(&next)},
			{bucketJobsByOwner, ownerKey(old), ownerKey(&next)},
		} {
			if string(ix.old) == string(ix.new) {
				continue
			}
			b := tx.Bucket(ix.bucket)
			if err := b.Delete(ix.old); err != nil {
				return err
			}
			if err := b.Put(ix.new, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: update job %s: %w", j.ID, err)
	}
	j.Version = next.Version
	return nil
}

// ListJobs returns a page of jobs, oldest created first.
func (d *DB) ListJobs(ctx context.Context, q fleetcron.JobQuery) (fleetcron.JobPage, error) {
	var page fleetcron.JobPage
	limit := fleetcron.PageLimit(q.Limit)
	index, prefix := bucketJobsByCreated, []byte(nil)
	if q.Owner != "" {
		index, prefix = bucketJobsByOwner, ownerPrefix(q.Owner)
	}
	err := d.view(func(tx *bbolt.Tx) error {
		jobs := tx.Bucket(bucketJobs)
		c := tx.Bucket(index).Cursor()
		k, _ := c.Seek(prefix)
		if q.Cursor != "" {
			after, err := decodeCursor(q.Cursor, prefix)
			if err != nil {
				return err
			}
			if k, _ = c.Seek(after); k != nil && string(k) == string(after) {
				k, _ = c.Next()
			}
		}
		var last []byte
		for ; k != nil && hasPrefix(k, prefix); k, _ = c.Next() {
			if len(page.Jobs) == limit {
				page.Next = encodeCursor(last)
				break
			}
			id := k[len(prefix)+8:]
			j, err := get[fleetcron.Job](jobs, id)
			if err != nil {
				return err
			}
			if j == nil {
				return fmt.Errorf("index key %q names no job", k)
			}
			page.Jobs = append(page.Jobs, *j)
			last = clone(k)
		}
		return nil
	})
	if err != nil {
		return fleetcron.JobPage{}, fmt.Errorf("bolt: list jobs: %w", err)
	}
	return page, nil
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}
