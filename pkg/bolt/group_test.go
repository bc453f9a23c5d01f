package bolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// Concurrent updates share commits; a failing one leaves no trace and
// does not take the others of its group down with it.
func TestGroupCommitKeepsEachUpdateAllOrNothing(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	bucket := []byte("jobs")
	errOdd := errors.New("refused")
	const n = 400
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = d.update(func(tx *bbolt.Tx) error {
				b := tx.Bucket(bucket)
				if err := b.Put(fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
					return err
				}
				if i%7 == 3 { // wrote, then fails: its write must be rolled back
					return errOdd
				}
				return nil
			})
		})
	}
	wg.Wait()
	err = d.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		for i := range n {
			got := b.Get(fmt.Appendf(nil, "k%03d", i)) != nil
			switch fails := i%7 == 3; {
			case fails && !errors.Is(errs[i], errOdd):
				t.Errorf("update %d: error %v, want the refusal", i, errs[i])
			case fails && got:
				t.Errorf("update %d failed but its write was committed", i)
			case !fails && errs[i] != nil:
				t.Errorf("update %d: %v", i, errs[i])
			case !fails && !got:
				t.Errorf("update %d succeeded but its write is missing", i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
