// Package blobdir is fleetcron's embedded blob store: scripts, binaries and
// run output kept in a directory by sha256, at <dir>/<sum[:2]>/<sum>. A blob
// is written to a temporary file in its final directory, fsynced and renamed
// into place, so a crash never leaves a half-written blob under its sum.
package blobdir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// Dir is a blob directory.
type Dir struct {
	root string
}

var _ fleetcron.BlobStore = (*Dir)(nil)

// New returns the blob store in dir, creating dir if needed.
func New(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("blobdir: %w", err)
	}
	return &Dir{root: dir}, nil
}

// validSum reports whether sum is 64 lowercase hex digits, so it is also a
// safe file name.
func validSum(sum string) bool {
	if len(sum) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(sum) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// path is where the blob of a valid sum lives.
func (d *Dir) path(sum string) string { return filepath.Join(d.root, sum[:2], sum) }

// PutBlob stores data under sum, its lowercase hex sha256; ErrHashMismatch
// if it is not. Storing an existing blob again is a no-op.
func (d *Dir) PutBlob(ctx context.Context, sum string, data []byte) error {
	h := sha256.Sum256(data)
	if got := hex.EncodeToString(h[:]); got != sum {
		return fmt.Errorf("blobdir: put blob %q: content has sha256 %s: %w", sum, got, fleetcron.ErrHashMismatch)
	}
	final := d.path(sum)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	if err := d.write(final, data); err != nil {
		return fmt.Errorf("blobdir: put blob %s: %w", sum, err)
	}
	return nil
}

func (d *Dir) write(final string, data []byte) (err error) {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// GetBlob opens a blob. ErrNotFound, also for a sum that is not one.
func (d *Dir) GetBlob(ctx context.Context, sum string) (io.ReadCloser, error) {
	if !validSum(sum) {
		return nil, fmt.Errorf("blobdir: get blob %q: not a sha256: %w", sum, fleetcron.ErrNotFound)
	}
	f, err := os.Open(d.path(sum))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blobdir: get blob %s: %w", sum, fleetcron.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blobdir: get blob %s: %w", sum, err)
	}
	return f, nil
}
