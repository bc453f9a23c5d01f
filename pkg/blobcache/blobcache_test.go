package blobcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// fakeBlobs serves fixed bytes per sum, counting downloads.
type fakeBlobs struct {
	objects map[string][]byte
	gets    atomic.Int32
}

func (f *fakeBlobs) GetBlob(_ context.Context, sum string) (io.ReadCloser, error) {
	f.gets.Add(1)
	b, ok := f.objects[sum]
	if !ok {
		return nil, fleetcron.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func sumOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestFetchVerifiesAndCaches(t *testing.T) {
	data := []byte("#!/bin/sh\necho hi\n")
	sum := sumOf(data)
	fb := &fakeBlobs{objects: map[string][]byte{sum: data}}
	c, err := New(t.TempDir(), fb, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			p, err := c.Fetch(context.Background(), sum)
			if err != nil {
				t.Error(err)
				return
			}
			got, _ := os.ReadFile(p)
			if !bytes.Equal(got, data) {
				t.Errorf("cached content differs")
			}
		})
	}
	wg.Wait()
	if n := fb.gets.Load(); n != 1 {
		t.Fatalf("downloads = %d, want 1 (cached, single flight)", n)
	}
	info, _ := os.Stat(filepath.Join(c.dir, sum))
	if info.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v, want 0755", info.Mode())
	}
}

func TestFetchRefusesTamperedObject(t *testing.T) {
	data := []byte("echo original")
	sum := sumOf(data)
	fb := &fakeBlobs{objects: map[string][]byte{sum: []byte("echo tampered; rm -rf /")}}
	dir := t.TempDir()
	c, _ := New(dir, fb, 0)
	_, err := c.Fetch(context.Background(), sum)
	if !errors.Is(err, fleetcron.ErrHashMismatch) {
		t.Fatalf("err = %v, want ErrHashMismatch", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("tampered object left in cache: %v", entries)
	}
}

func TestFetchUnknownAndBadSum(t *testing.T) {
	c, _ := New(t.TempDir(), &fakeBlobs{objects: map[string][]byte{}}, 0)
	if _, err := c.Fetch(context.Background(), sumOf([]byte("x"))); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := c.Fetch(context.Background(), "../../etc/passwd"); !errors.Is(err, fleetcron.ErrInvalid) {
		t.Fatalf("bad sum: %v", err)
	}
}

func TestEvictionKeepsBound(t *testing.T) {
	fb := &fakeBlobs{objects: map[string][]byte{}}
	var sums []string
	for i := range 5 {
		b := bytes.Repeat([]byte{byte('a' + i)}, 1000)
		fb.objects[sumOf(b)] = b
		sums = append(sums, sumOf(b))
	}
	dir := t.TempDir()
	c, _ := New(dir, fb, 2500)
	for _, s := range sums {
		if _, err := c.Fetch(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	var total int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		i, _ := e.Info()
		total += i.Size()
	}
	if total > 2500 {
		t.Fatalf("cache holds %d bytes, bound 2500", total)
	}
	if _, err := os.Stat(filepath.Join(dir, sums[4])); err != nil {
		t.Fatalf("most recent entry evicted: %v", err)
	}
}
