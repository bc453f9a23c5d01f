package bolt

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	bbolt "go.etcd.io/bbolt"
)

// Defaults of Options.
const (
	// DefaultMaxReceives is how many times a queue message is received
	// before it moves to its pool's dead-letter pool.
	DefaultMaxReceives = 5
	// DefaultLockTimeout is how long Open waits for another process to let
	// go of the file.
	DefaultLockTimeout = 2 * time.Second
)

// Options configures a DB.
type Options struct {
	// MaxReceives is the receives before dead-lettering (DefaultMaxReceives).
	MaxReceives int
	// NoSync skips fsync at commit: faster, and not durable across a
	// machine crash. For benchmarks and throwaway databases.
	NoSync bool
	// LockTimeout is how long Open waits for the file lock (DefaultLockTimeout).
	LockTimeout time.Duration
}

// ErrClosed is returned by calls on a closed DB, and ends its long polls.
var ErrClosed = errors.New("bolt: database closed")

// DB is an open fleetcron database file.
type DB struct {
	db   *bbolt.DB
	opts Options

	mu      sync.Mutex
	changed map[string]chan struct{} // pool → closed when a message may have become visible
	closed  chan struct{}
	once    sync.Once

	group   sync.Mutex
	pending []*pendingUpdate // waiting for the next group commit
	leading bool             // a group commit is under way
}

// pendingUpdate is one update waiting for its group's commit.
type pendingUpdate struct {
	fn   func(tx *bbolt.Tx) error
	done chan error
}

var (
	_ fleetcron.JobStore   = (*DB)(nil)
	_ fleetcron.RunStore   = (*DB)(nil)
	_ fleetcron.AgentStore = (*DB)(nil)
	_ fleetcron.Queue      = (*DB)(nil)
	_ fleetcron.TokenStore = (*DB)(nil)
)

// Bucket names.
var (
	bucketJobs          = []byte("jobs")            // id → Job
	bucketJobsByCreated = []byte("jobs-by-created") // created/id → nil
	bucketJobsByOwner   = []byte("jobs-by-owner")   // owner/created/id → nil
	bucketRuns          = []byte("runs")            // jobID/scheduled ms → Run
	bucketRunsByID      = []byte("runs-by-id")      // run id → runs key
	bucketRunsActive    = []byte("runs-active")     // runs key of queued and running runs → nil
	bucketAgents        = []byte("agents")          // id → Agent
	bucketQueues        = []byte("queues")          // pool → {msgs, due}
	bucketTokens        = []byte("tokens")          // id → Token (secret hash only)
)

// Open opens (creating if needed) the database file at path.
func Open(path string, opts ...func(*Options)) (*DB, error) {
	o := Options{MaxReceives: DefaultMaxReceives, LockTimeout: DefaultLockTimeout}
	for _, f := range opts {
		f(&o)
	}
	if o.MaxReceives <= 0 {
		o.MaxReceives = DefaultMaxReceives
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: o.LockTimeout, NoSync: o.NoSync})
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketJobs, bucketJobsByCreated, bucketJobsByOwner,
			bucketRuns, bucketRunsByID, bucketRunsActive, bucketAgents, bucketQueues, bucketTokens} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return &DB{db: db, opts: o, changed: map[string]chan struct{}{}, closed: make(chan struct{})}, nil
}

// Close closes the file. Long polls in progress return ErrClosed.
func (d *DB) Close() error {
	var err error
	d.once.Do(func() {
		close(d.closed)
		if cerr := d.db.Close(); cerr != nil {
			err = fmt.Errorf("bolt: close: %w", cerr)
		}
	})
	return err
}

// Path is the database file's path.
func (d *DB) Path() string { return d.db.Path() }

// update runs fn in a read-write transaction and maps a closed database.
//
// Updates that arrive while a commit is under way share the next
// transaction and its fsync (group commit): under load the store commits
// as often as the disk allows, not once per write, and a lone update waits
// for nothing. When one fn of a group fails, the group is rolled back, that
// fn's error stands (it ran after the fns before it, as their transactions
// would have) and the others run again. So fn may run more than once: it
// must act only through tx and set, not accumulate, what it returns.
func (d *DB) update(fn func(tx *bbolt.Tx) error) error {
	u := &pendingUpdate{fn: fn, done: make(chan error, 1)}
	d.group.Lock()
	d.pending = append(d.pending, u)
	lead := !d.leading
	d.leading = true
	d.group.Unlock()
	if lead {
		d.lead()
	}
	return mapErr(<-u.done)
}

// lead commits the pending updates as one group, then hands the lead to a
// new goroutine if more arrived meanwhile, so no caller waits on others'
// groups after its own.
func (d *DB) lead() {
	d.group.Lock()
	group := d.pending
	d.pending = nil
	d.group.Unlock()
	d.commit(group)
	d.group.Lock()
	if len(d.pending) == 0 {
		d.leading = false
		d.group.Unlock()
		return
	}
	d.group.Unlock()
	go d.lead()
}

// commit runs a group in one transaction; see update.
func (d *DB) commit(group []*pendingUpdate) {
	for len(group) > 0 {
		if len(group) == 1 {
			group[0].done <- d.db.Update(group[0].fn)
			return
		}
		failed := -1
		err := d.db.Update(func(tx *bbolt.Tx) error {
			for i, u := range group {
				if err := u.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if err == nil || failed < 0 { // committed, or the commit itself failed
			for _, u := range group {
				u.done <- err
			}
			return
		}
		group[failed].done <- err
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}

// view runs fn in a read-only transaction.
func (d *DB) view(fn func(tx *bbolt.Tx) error) error {
	return mapErr(d.db.View(fn))
}

func mapErr(err error) error {
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return errors.Join(ErrClosed, err)
	}
	return err
}

// timeKey encodes t as 8 bytes that sort as the instants do (Unix ms with
// the sign bit flipped, big-endian).
func timeKey(t time.Time) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixMilli())^(1<<63))
	return b[:]
}

// nanoKey encodes nanoseconds like timeKey.
func nanoKey(ns int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(ns)^(1<<63))
	return b[:]
}

func keyNanos(k []byte) int64 { return int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63)) }

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func encodeCursor(k []byte) string { return base64.RawURLEncoding.EncodeToString(k) }

func decodeCursor(s string, prefix []byte) ([]byte, error) {
	k, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !bytes.HasPrefix(k, prefix) {
		return nil, fleetcron.Invalid("cursor", "not a cursor of this list")
	}
	return k, nil
}

func get[T any](b *bbolt.Bucket, key []byte) (*T, error) {
	v := b.Get(key)
	if v == nil {
		return nil, nil
	}
	var t T
	if err := json.Unmarshal(v, &t); err != nil {
		return nil, fmt.Errorf("decode record %q: %w", key, err)
	}
	return &t, nil
}

func put(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record %q: %w", key, err)
	}
	return b.Put(key, data)
}
