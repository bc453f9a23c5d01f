package bolt

import (
	"context"
	"fmt"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	bbolt "go.etcd.io/bbolt"
)

// CreateToken stores an API token record. ErrConflict if the id exists.
func (d *DB) CreateToken(ctx context.Context, t *fleetcron.Token) error {
	if t.ID == "" {
		return fmt.Errorf("bolt: create token: %w", fleetcron.Invalid("id", "must not be empty"))
	}
	err := d.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(t.ID)) != nil {
			return fleetcron.ErrConflict
		}
		return put(b, []byte(t.ID), t)
	})
	if err != nil {
		return fmt.Errorf("bolt: create token %s: %w", t.ID, err)
	}
	return nil
}

// GetToken returns a token record. ErrNotFound.
func (d *DB) GetToken(ctx context.Context, id string) (*fleetcron.Token, error) {
	var t *fleetcron.Token
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		t, err = get[fleetcron.Token](tx.Bucket(bucketTokens), []byte(id))
		if err == nil && t == nil {
			return fleetcron.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: get token %s: %w", id, err)
	}
	return t, nil
}

// ListTokens returns every token record, by id.
func (d *DB) ListTokens(ctx context.Context) ([]fleetcron.Token, error) {
	var out []fleetcron.Token
	err := d.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		return b.ForEach(func(k, _ []byte) error {
			t, err := get[fleetcron.Token](b, k)
			if err != nil {
				return err
			}
			out = append(out, *t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("bolt: list tokens: %w", err)
	}
	return out, nil
}

// DeleteToken removes a token record. ErrNotFound.
func (d *DB) DeleteToken(ctx context.Context, id string) error {
	err := d.update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		if b.Get([]byte(id)) == nil {
			return fleetcron.ErrNotFound
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("bolt: delete token %s: %w", id, err)
	}
	return nil
}
