package fleetcrontest

import (
	"slices"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// TestTokenStore is the contract suite of fleetcron.TokenStore.
func TestTokenStore(t *testing.T, newStore func(t *testing.T) fleetcron.TokenStore) {
	tok := func() *fleetcron.Token {
		return &fleetcron.Token{ID: fleetcron.NewID()[:12], SecretHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Name: "ci", Role: fleetcron.RoleUser, Subject: "alice", CreatedAt: base.Add(time.Second), CreatedBy: "admin"}
	}
	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		want := tok()
		must(t, s.CreateToken(t.Context(), want), "create token")
		got, err := s.GetToken(t.Context(), want.ID)
		must(t, err, "get token")
		wantEqual(t, "stored token", *want, *got)
		wantErr(t, s.CreateToken(t.Context(), want), fleetcron.ErrConflict, "second create of token %s", want.ID)
	})
	t.Run("ListAndDelete", func(t *testing.T) {
		s := newStore(t)
		a, b := tok(), tok()
		must(t, s.CreateToken(t.Context(), a), "create a")
		must(t, s.CreateToken(t.Context(), b), "create b")
		list, err := s.ListTokens(t.Context())
		must(t, err, "list tokens")
		ids := make([]string, 0, len(list))
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		if !slices.Contains(ids, a.ID) || !slices.Contains(ids, b.ID) {
			t.Fatalf("list %v lacks %s or %s", ids, a.ID, b.ID)
		}
		must(t, s.DeleteToken(t.Context(), a.ID), "delete a")
		_, err = s.GetToken(t.Context(), a.ID)
		wantErr(t, err, fleetcron.ErrNotFound, "get deleted token")
		wantErr(t, s.DeleteToken(t.Context(), a.ID), fleetcron.ErrNotFound, "delete deleted token")
		if _, err := s.GetToken(t.Context(), b.ID); err != nil {
			t.Fatalf("deleting a removed b: %v", err)
		}
	})
}
