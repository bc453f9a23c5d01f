package blobdir

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/fleetcron/fleetcrontest"
)

func TestBlobStore(t *testing.T) {
	fleetcrontest.TestBlobStore(t, func(t *testing.T) fleetcron.BlobStore {
		d, err := New(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestLayout checks where a blob lands and that no temporary file is left.
func TestLayout(t *testing.T) {
	root := t.TempDir()
	d, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("echo hi\n")
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	if err := d.PutBlob(t.Context(), sum, data); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, sum[:2], sum))
	if err != nil || string(got) != string(data) {
		t.Fatalf("blob file: %q, %v", got, err)
	}
	entries, err := os.ReadDir(filepath.Join(root, sum[:2]))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
}
