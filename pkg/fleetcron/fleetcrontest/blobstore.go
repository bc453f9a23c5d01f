package fleetcrontest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// TestBlobStore is the contract suite of fleetcron.BlobStore. newStore
// returns a fresh store for each subtest.
func TestBlobStore(t *testing.T, newStore func(t *testing.T) fleetcron.BlobStore) {
	t.Run("PutGet", func(t *testing.T) {
		s := newStore(t)
		data := []byte("#!/bin/sh\necho hello\n")
		sum := sumOf(data)
		must(t, s.PutBlob(t.Context(), sum, data), "put blob")
		wantBlob(t, s, sum, data)
		must(t, s.PutBlob(t.Context(), sum, data), "put the same blob again")
		wantBlob(t, s, sum, data)
	})

	t.Run("Empty", func(t *testing.T) {
		s := newStore(t)
		sum := sumOf(nil)
		must(t, s.PutBlob(t.Context(), sum, []byte{}), "put empty blob")
		wantBlob(t, s, sum, nil)
	})

	t.Run("HashMismatch", func(t *testing.T) {
		s := newStore(t)
		data := []byte("what was uploaded")
		wrong := sumOf([]byte("something else"))
		wantErr(t, s.PutBlob(t.Context(), wrong, data), fleetcron.ErrHashMismatch, "put blob under another's sum")
		_, err := s.GetBlob(t.Context(), wrong)
		wantErr(t, err, fleetcron.ErrNotFound, "get the blob of a refused put")
		wantErr(t, s.PutBlob(t.Context(), strings.ToUpper(sumOf(data)), data), fleetcron.ErrHashMismatch, "put blob under an upper-case sum")
		wantErr(t, s.PutBlob(t.Context(), "../../etc/passwd", data), fleetcron.ErrHashMismatch, "put blob under a path")
	})

	t.Run("GetUnknown", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetBlob(t.Context(), sumOf([]byte("never stored")))
		wantErr(t, err, fleetcron.ErrNotFound, "get unknown blob")
		for _, bad := range []string{"", "..", "../../etc/passwd", "/etc/passwd", "ab/../cd"} {
			_, err := s.GetBlob(t.Context(), bad)
			wantErr(t, err, fleetcron.ErrNotFound, "get blob %q", bad)
		}
	})

	t.Run("Large", func(t *testing.T) {
		s := newStore(t)
		data := make([]byte, 5<<20)
		r := rand.NewChaCha8([32]byte{1})
		_, _ = r.Read(data)
		sum := sumOf(data)
		must(t, s.PutBlob(t.Context(), sum, data), "put 5 MiB blob")
		wantBlob(t, s, sum, data)
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		s := newStore(t)
		data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
		sum := sumOf(data)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { errs[i] = s.PutBlob(t.Context(), sum, data) })
		}
		wg.Wait()
		for i, err := range errs {
			must(t, err, "concurrent put %d of the same blob", i)
		}
		wantBlob(t, s, sum, data)
	})
}

func sumOf(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func wantBlob(t *testing.T, s fleetcron.BlobStore, sum string, want []byte) {
	t.Helper()
	rc, err := s.GetBlob(t.Context(), sum)
	must(t, err, "get blob %s", sum)
	got, err := io.ReadAll(rc)
	must(t, err, "read blob %s", sum)
	must(t, rc.Close(), "close blob %s", sum)
	if !bytes.Equal(got, want) {
		t.Fatalf("blob %s: got %d bytes (sha256 %s), want %d bytes", sum, len(got), sumOf(got), len(want))
	}
}
