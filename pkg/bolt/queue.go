package bolt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	bbolt "go.etcd.io/bbolt"
)

// The queue. Each pool is a bucket under "queues", created on first send,
// holding two buckets: msgs (message id → message) and due (visible-at
// nanoseconds + message id → nil). Receive walks due from its start and stops
// at the first message not yet visible, so it reads only what is due.

var (
	bucketMsgs = []byte("msgs")
	bucketDue  = []byte("due")
)

// ErrStaleReceipt is the error of ChangeVisibility and Delete with the
// receipt of an earlier receive of a message received again since. It
// matches fleetcron.ErrNotFound.
var ErrStaleReceipt = fmt.Errorf("stale receipt: the message was received again since: %w", fleetcron.ErrNotFound)

// message is a queue message as stored.
type message struct {
	ID           string            `json:"id"`
	Body         events.RunMessage `json:"body"`
	SentAt       time.Time         `json:"sent_at"`
	VisibleAt    int64             `json:"visible_at_ns"`
	ReceiveCount int               `json:"receive_count"`
	Receipt      string            `json:"receipt,omitempty"`
}

func (m *message) dueKey() []byte { return concat(nanoKey(m.VisibleAt), []byte(m.ID)) }

// newReceipt returns a receipt handle of m's current receive: its id, the
// receive count and a random part, so no two receives share one.
func newReceipt(m *message) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s.%d.%s", m.ID, m.ReceiveCount, hex.EncodeToString(b[:]))
}

func receiptID(receipt string) (string, error) {
	id, _, ok := strings.Cut(receipt, ".")
	if !ok || id == "" {
		return "", fmt.Errorf("receipt %q is not a receipt of this queue: %w", receipt, fleetcron.ErrNotFound)
	}
	return id, nil
}

func isDeadLetterPool(pool string) bool { return strings.HasSuffix(pool, fleetcron.DeadLetterPool("")) }

// poolBuckets returns a pool's buckets, creating them if create is set;
// nil buckets if the pool does not exist.
func poolBuckets(tx *bbolt.Tx, pool string, create bool) (msgs, due *bbolt.Bucket, err error) {
	queues := tx.Bucket(bucketQueues)
	p := queues.Bucket([]byte(pool))
	if p == nil {
		if !create {
			return nil, nil, nil
		}
		if p, err = queues.CreateBucket([]byte(pool)); err != nil {
			return nil, nil, err
		}
		if _, err = p.CreateBucket(bucketMsgs); err != nil {
			return nil, nil, err
		}
		if _, err = p.CreateBucket(bucketDue); err != nil {
			return nil, nil, err
		}
	}
	return p.Bucket(bucketMsgs), p.Bucket(bucketDue), nil
}

// putMessage stores m and its due key.
func putMessage(msgs, due *bbolt.Bucket, m *message) error {
	if err := put(msgs, []byte(m.ID), m); err != nil {
		return err
	}
	return due.Put(m.dueKey(), nil)
}

// Send enqueues m on the queue of pool, visible after delay.
func (d *DB) Send(ctx context.Context, pool string, m events.RunMessage, delay time.Duration) error {
	if pool == "" {
		return fmt.Errorf("bolt: send run %s: %w", m.RunID, fleetcron.Invalid("pool", "must not be empty"))
	}
	now := time.Now()
	msg := &message{ID: fleetcron.NewID(), Body: m, SentAt: now.UTC(), VisibleAt: now.Add(max(delay, 0)).UnixNano()}
	err := d.update(func(tx *bbolt.Tx) error {
		msgs, due, err := poolBuckets(tx, pool, true)
		if err != nil {
			return err
		}
		if err := putMessage(msgs, due, msg); err != nil {
			return err
		}
		tx.OnCommit(func() { d.notify(pool) })
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: send run %s to pool %s: %w", m.RunID, pool, err)
	}
	return nil
}

// Receive waits up to wait for at most maxMessages messages of pool, which stay
// invisible for visibility.
func (d *DB) Receive(ctx context.Context, pool string, maxMessages int, visibility, wait time.Duration) ([]fleetcron.Delivery, error) {
	maxMessages = min(fleetcron.MaxPageSize, max(maxMessages, 1))
	deadline := time.Now().Add(wait)
	for {
		changed := d.watch(pool) // before looking, so no send is missed
		ds, next, err := d.receive(pool, maxMessages, max(visibility, 0))
		if err != nil || len(ds) > 0 {
			if err != nil {
				err = fmt.Errorf("bolt: receive from pool %s: %w", pool, err)
			}
			return ds, err
		}
		now := time.Now()
		left := deadline.Sub(now)
		if left <= 0 {
			return nil, nil
		}
		if next != 0 {
			left = min(left, time.Duration(next-now.UnixNano()))
		}
		t := time.NewTimer(max(left, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("bolt: receive from pool %s: %w", pool, ctx.Err())
		case <-d.closed:
			t.Stop()
			return nil, fmt.Errorf("bolt: receive from pool %s: %w", pool, ErrClosed)
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// receive takes up to n due messages of pool. With none due, it returns
// when the next message becomes visible (Unix ns; 0 if the pool is empty).
func (d *DB) receive(pool string, n int, visibility time.Duration) ([]fleetcron.Delivery, int64, error) {
	// Most polls find nothing: look first without taking the write lock.
	now := time.Now().UnixNano()
	var next int64
	err := d.view(func(tx *bbolt.Tx) error {
		_, due, _ := poolBuckets(tx, pool, false)
		if due != nil {
			if k, _ := due.Cursor().First(); k != nil {
				next = keyNanos(k)
			}
		}
		return nil
	})
	if err != nil || next == 0 || next > now {
		return nil, next, err
	}

	var out []fleetcron.Delivery
	err = d.update(func(tx *bbolt.Tx) error {
		out = nil // a group commit may run this again
		now := time.Now()
		nowNS := now.UnixNano()
		msgs, due, err := poolBuckets(tx, pool, false)
		if err != nil || due == nil {
			return err
		}
		for len(out) < n {
			// Collect the due keys first: bbolt cursors must not walk a
			// bucket that is being changed.
			need := n - len(out)
			var keys [][]byte
			c := due.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < need && keyNanos(k) <= nowNS; k, _ = c.Next() {
				keys = append(keys, clone(k))
			}
			if len(keys) == 0 {
				break
			}
			for _, k := range keys {
				if err := due.Delete(k); err != nil {
					return err
				}
				m, err := get[message](msgs, k[8:])
				if err != nil {
					return err
				}
				if m == nil {
					continue // deleted; its due key was left behind
				}
				if m.ReceiveCount >= d.opts.MaxReceives && !isDeadLetterPool(pool) {
					if err := d.deadLetter(tx, pool, msgs, m, nowNS); err != nil {
						return err
					}
					continue
				}
				m.ReceiveCount++
				m.Receipt = newReceipt(m)
				m.VisibleAt = now.Add(visibility).UnixNano()
				if err := putMessage(msgs, due, m); err != nil {
					return err
				}
				out = append(out, fleetcron.Delivery{Message: m.Body, MessageID: m.ID, Receipt: m.Receipt, ReceiveCount: m.ReceiveCount})
			}
			if len(keys) < need {
				break
			}
		}
		next = 0
		if k, _ := due.Cursor().First(); k != nil {
			next = keyNanos(k)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, next, nil
}

// deadLetter moves m from pool to its dead-letter pool, visible at once.
func (d *DB) deadLetter(tx *bbolt.Tx, pool string, msgs *bbolt.Bucket, m *message, now int64) error {
	if err := msgs.Delete([]byte(m.ID)); err != nil {
		return err
	}
	dlq := fleetcron.DeadLetterPool(pool)
	dmsgs, ddue, err := poolBuckets(tx, dlq, true)
	if err != nil {
		return err
	}
	m.Receipt = ""
	m.VisibleAt = now
	if err := putMessage(dmsgs, ddue, m); err != nil {
		return fmt.Errorf("move message %s to %s: %w", m.ID, dlq, err)
	}
	tx.OnCommit(func() { d.notify(dlq) })
	return nil
}

// ChangeVisibility makes a received message visible again after visibility
// from now: an extension, a release (0) or a delay.
func (d *DB) ChangeVisibility(ctx context.Context, pool, receipt string, visibility time.Duration) error {
	err := d.withReceipt(pool, receipt, func(tx *bbolt.Tx, msgs, due *bbolt.Bucket, m *message) error {
		if err := due.Delete(m.dueKey()); err != nil {
			return err
		}
		m.VisibleAt = time.Now().Add(max(visibility, 0)).UnixNano()
		if err := putMessage(msgs, due, m); err != nil {
			return err
		}
		tx.OnCommit(func() { d.notify(pool) })
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt: change visibility in pool %s: %w", pool, err)
	}
	return nil
}

// Delete removes a received message. Deleting one already deleted is not an
// error (as in SQS); deleting with a stale receipt is ErrStaleReceipt.
func (d *DB) Delete(ctx context.Context, pool, receipt string) error {
	err := d.withReceipt(pool, receipt, func(tx *bbolt.Tx, msgs, due *bbolt.Bucket, m *message) error {
		if err := due.Delete(m.dueKey()); err != nil {
			return err
		}
		return msgs.Delete([]byte(m.ID))
	})
	if errors.Is(err, errGone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bolt: delete from pool %s: %w", pool, err)
	}
	return nil
}

var errGone = fmt.Errorf("message deleted or moved to the dead-letter pool: %w", fleetcron.ErrNotFound)

// withReceipt runs fn on the message of receipt, if receipt is its current one.
func (d *DB) withReceipt(pool, receipt string, fn func(tx *bbolt.Tx, msgs, due *bbolt.Bucket, m *message) error) error {
	id, err := receiptID(receipt)
	if err != nil {
		return err
	}
	return d.update(func(tx *bbolt.Tx) error {
		msgs, due, err := poolBuckets(tx, pool, false)
		if err != nil {
			return err
		}
		if msgs == nil {
			return errGone
		}
		m, err := get[message](msgs, []byte(id))
		switch {
		case err != nil:
			return err
		case m == nil:
			return errGone
		case m.Receipt != receipt:
			return ErrStaleReceipt
		}
		return fn(tx, msgs, due, m)
	})
}

// watch returns a channel closed at the next change of pool.
func (d *DB) watch(pool string) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, ok := d.changed[pool]
	if !ok {
		ch = make(chan struct{})
		d.changed[pool] = ch
	}
	return ch
}

// notify wakes the long polls of pool.
func (d *DB) notify(pool string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ch, ok := d.changed[pool]; ok {
		close(ch)
		delete(d.changed, pool)
	}
}
