package tokens

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetcron/fleetcron/pkg/bolt"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

func newService(t *testing.T) (*Service, *bolt.DB) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db), db
}

func TestIssueAndAuthenticate(t *testing.T) {
	s, db := newService(t)
	ctx := context.Background()
	tok, rec, err := s.Issue(ctx, "admin", "ci", fleetcron.RoleUser, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, Prefix+rec.ID+"_") {
		t.Fatalf("token %q does not carry id %s", tok, rec.ID)
	}
	stored, _ := db.GetToken(ctx, rec.ID)
	if strings.Contains(stored.SecretHash, tok[len(Prefix)+13:]) || len(stored.SecretHash) != 64 {
		t.Fatalf("secret stored in plaintext or not hashed: %q", stored.SecretHash)
	}
	c, _, err := s.Authenticate(ctx, tok)
	if err != nil || c.ID != "alice" || c.Admin {
		t.Fatalf("authenticate: %+v %v", c, err)
	}
	flipped := "A" // the last character changed (a different one: 1 token in 64 ends in A)
	if strings.HasSuffix(tok, flipped) {
		flipped = "B"
	}
	bad := []string{"", "fct_", tok + "x", tok[:len(tok)-1] + flipped, Prefix + rec.ID + "_" + strings.Repeat("a", 43),
		"Bearer " + tok, Prefix + "zzzzzzzzzzzz_" + tok[len(Prefix)+13:], "garbage-garbage-garbage"}
	for _, b := range bad {
		if _, _, err := s.Authenticate(ctx, b); !errors.Is(err, fleetcron.ErrUnauthorized) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthorized", b, err)
		}
	}
	if err := s.Revoke(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Authenticate(ctx, tok); !errors.Is(err, fleetcron.ErrUnauthorized) {
		t.Fatalf("revoked token still works: %v", err)
	}
}

func TestIssueValidates(t *testing.T) {
	s, _ := newService(t)
	_, _, err := s.Issue(context.Background(), "admin", "", "root", "bob smith")
	var ve *fleetcron.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("err = %v", err)
	}
}

func TestBootstrapIsIdempotentAndAdmin(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	for _, tok := range []string{"my-dev-admin-token-123", "fct_abcdefghijkl_0123456789abcdefghijklmnop"} {
		for range 2 {
			if err := s.Bootstrap(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		c, _, err := s.Authenticate(ctx, tok)
		if err != nil || !c.Admin {
			t.Fatalf("bootstrap token %q: %+v %v", tok, c, err)
		}
	}
	if err := s.Bootstrap(ctx, "short"); !errors.Is(err, fleetcron.ErrInvalid) {
		t.Fatalf("short bootstrap token: %v", err)
	}
	if err := s.Bootstrap(ctx, "fct_abcdefghijkl_someothersecret0000000000"); err == nil {
		t.Fatal("a different secret for an existing id was accepted")
	}
}
