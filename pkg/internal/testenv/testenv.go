// Package testenv builds the embedded adapters for the services' tests: a
// bbolt store and queue in a temporary directory, and a blob directory.
package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/blobdir"
	"github.com/fleetcron/fleetcron/pkg/bolt"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// Env is a set of embedded adapters.
type Env struct {
	DB    *bolt.DB
	Jobs  fleetcron.JobStore
	Runs  fleetcron.RunStore
	Queue fleetcron.Queue
	Blobs fleetcron.BlobStore
	Dir   string
}

// New opens the adapters under t.TempDir(); they close with the test.
func New(t testing.TB) *Env {
	t.Helper()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "fleetcron.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blobdir.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{DB: db, Jobs: db, Runs: db, Queue: db, Blobs: blobs, Dir: dir}
}

// Job stores a valid command job after edit.
func (e *Env) Job(t testing.TB, edit func(*fleetcron.Job)) *fleetcron.Job {
	t.Helper()
	now := time.Now().UTC()
	j := &fleetcron.Job{ID: fleetcron.NewID(), Executable: "true", Schedule: "* * * * *",
		Type: fleetcron.TypeCommand, Owner: "tester", CreatedAt: now, UpdatedAt: now}
	j.ApplyDefaults()
	edit(j)
	if err := e.Jobs.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// DrainQueue receives and deletes every visible message of pool and
// returns how many there were.
func (e *Env) DrainQueue(t testing.TB, pool string) int {
	t.Helper()
	n := 0
	for {
		ds, err := e.Queue.Receive(context.Background(), pool, 10, time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return n
		}
		for _, d := range ds {
			if err := e.Queue.Delete(context.Background(), pool, d.Receipt); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
}

// TamperBlob stores data under sum although it does not hash to it, as a
// tampered object store would.
func (e *Env) TamperBlob(t testing.TB, sum string, data []byte) {
	t.Helper()
	path := filepath.Join(e.Dir, "blobs", sum[:2], sum)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
