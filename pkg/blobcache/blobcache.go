// Package blobcache keeps verified local copies of scripts and binaries,
// content-addressed by sha256, in a directory of bounded size. Agents fetch
// an executable through it before running it: an object whose sha256 differs
// from its name is refused (what runs is what was uploaded).
package blobcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// DefaultMaxBytes bounds the cache (older entries are evicted past it).
const DefaultMaxBytes = 1 << 30

var sumRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// BlobGetter is the one call the cache makes of a blob store.
type BlobGetter interface {
	GetBlob(ctx context.Context, sum string) (io.ReadCloser, error)
}

// Cache is a verified, size-bounded cache of executables.
type Cache struct {
	dir      string
	blobs    BlobGetter
	maxBytes int64

	mu       sync.Mutex
	inflight map[string]chan struct{}
}

// New returns a cache in dir (created 0755: run users must read and execute,
// not write) over blobs. maxBytes <= 0 means DefaultMaxBytes.
func New(dir string, blobs BlobGetter, maxBytes int64) (*Cache, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("blob cache %s: %w", dir, err)
	}
	return &Cache{dir: dir, blobs: blobs, maxBytes: maxBytes, inflight: map[string]chan struct{}{}}, nil
}

// Fetch returns the path of the verified executable with sha256 sum,
// downloading it if needed. A mismatch wraps fleetcron.ErrHashMismatch.
func (c *Cache) Fetch(ctx context.Context, sum string) (string, error) {
	if !sumRe.MatchString(sum) {
		return "", fmt.Errorf("fetch blob %q: not a sha256: %w", sum, fleetcron.ErrInvalid)
	}
	path := filepath.Join(c.dir, sum)
	for {
		c.mu.Lock()
		if ch, ok := c.inflight[sum]; ok {
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", fmt.Errorf("fetch blob %s: %w", sum, ctx.Err())
			}
		}
		if _, err := os.Stat(path); err == nil {
			c.mu.Unlock()
			now := time.Now()
			_ = os.Chtimes(path, now, now) // recently used: evicted last
			return path, nil
		}
		ch := make(chan struct{})
		c.inflight[sum] = ch
		c.mu.Unlock()
		err := c.download(ctx, sum, path)
		c.mu.Lock()
		delete(c.inflight, sum)
		close(ch)
		c.mu.Unlock()
		if err != nil {
			return "", err
		}
		c.evict(sum)
		return path, nil
	}
}

func (c *Cache) download(ctx context.Context, sum, path string) error {
	rc, err := c.blobs.GetBlob(ctx, sum)
	if err != nil {
		return fmt.Errorf("fetch blob %s: %w", sum, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(c.dir, ".partial-*")
	if err != nil {
		return fmt.Errorf("fetch blob %s: %w", sum, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), rc); err != nil {
		tmp.Close()
		return fmt.Errorf("fetch blob %s: download: %w", sum, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		tmp.Close()
		return fmt.Errorf("fetch blob %s: refusing object with sha256 %s: %w", sum, got, fleetcron.ErrHashMismatch)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return fmt.Errorf("fetch blob %s: %w", sum, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fetch blob %s: %w", sum, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("fetch blob %s: %w", sum, err)
	}
	return nil
}

// evict removes the least recently used entries (not keep) while the cache
// is over its bound. Running processes keep their open files.
func (c *Cache) evict(keep string) {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	type entry struct {
		name string
		size int64
		used time.Time
	}
	var all []entry
	var total int64
	for _, e := range entries {
		if !sumRe.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		all = append(all, entry{e.Name(), info.Size(), info.ModTime()})
		total += info.Size()
	}
	slices.SortFunc(all, func(a, b entry) int { return a.used.Compare(b.used) })
	for _, e := range all {
		if total <= c.maxBytes {
			return
		}
		if e.name == keep {
			continue
		}
		if err := os.Remove(filepath.Join(c.dir, e.name)); err == nil || errors.Is(err, os.ErrNotExist) {
			total -= e.size
		}
	}
}
