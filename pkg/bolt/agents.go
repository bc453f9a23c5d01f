package bolt

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	bbolt "go.etcd.io/bbolt"
)

// PutAgent stores an agent's heartbeat record, replacing the previous one.
func (d *DB) PutAgent(ctx context.Context, a *fleetcron.Agent) error {
	if a.ID == "" {
		return fmt.Errorf("bolt: put agent: %w", fleetcron.Invalid("id", "must not be empty"))
	}
	err := d.update(func(tx *bbolt.Tx) error {
		return put(tx.Bucket(bucketAgents), []byte(a.ID), a)
	})
	if err != nil {
		return fmt.Errorf("bolt: put agent %s: %w", a.ID, err)
	}
	return nil
}

// ListAgents returns the agents seen at or after since, by id.
func (d *DB) ListAgents(ctx context.Context, since time.Time) ([]fleetcron.Agent, error) {
	var out []fleetcron.Agent
	err := d.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAgents)
		return b.ForEach(func(k, _ []byte) error {
			a, err := get[fleetcron.Agent](b, k)
			if err != nil {
				return err
			}
			if !a.SeenAt.Before(since) {
				out = append(out, *a)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: list agents: %w", err)
	}
	return out, nil
}
