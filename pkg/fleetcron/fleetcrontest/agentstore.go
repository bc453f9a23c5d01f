package fleetcrontest

import (
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// TestAgentStore is the contract suite of fleetcron.AgentStore. newStore
// returns a fresh store for each subtest.
func TestAgentStore(t *testing.T, newStore func(t *testing.T) fleetcron.AgentStore) {
	t.Run("PutList", func(t *testing.T) {
		s := newStore(t)
		a1 := fullAgent("agent-"+fleetcron.NewID(), base)
		a2 := fullAgent("agent-"+fleetcron.NewID(), base.Add(time.Minute))
		wantAllSet(t, "agent", a1)
		for _, a := range []fleetcron.Agent{a1, a2} {
			must(t, s.PutAgent(t.Context(), &a), "put agent %s", a.ID)
		}
		got := listAgents(t, s, time.Time{}, a1.ID, a2.ID)
		wantEqual(t, "agent 1", a1, got[a1.ID])
		wantEqual(t, "agent 2", a2, got[a2.ID])

		// since is inclusive.
		got = listAgents(t, s, a2.SeenAt, a1.ID, a2.ID)
		if _, ok := got[a1.ID]; ok || len(got) != 1 {
			t.Fatalf("ListAgents(since %v) = %v, want only %s", a2.SeenAt, keys(got), a2.ID)
		}
		got = listAgents(t, s, a1.SeenAt.Add(time.Millisecond), a1.ID, a2.ID)
		if _, ok := got[a2.ID]; !ok || len(got) != 1 {
			t.Fatalf("ListAgents(since %v) = %v, want only %s", a1.SeenAt.Add(time.Millisecond), keys(got), a2.ID)
		}
		got = listAgents(t, s, a2.SeenAt.Add(time.Millisecond), a1.ID, a2.ID)
		if len(got) != 0 {
			t.Fatalf("ListAgents after the last heartbeat = %v, want none", keys(got))
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := newStore(t)
		a := fullAgent("agent-"+fleetcron.NewID(), base)
		must(t, s.PutAgent(t.Context(), &a), "put agent")
		b := a
		b.Busy, b.State, b.Pools = 0, "draining", []string{"default"}
		b.SeenAt = a.SeenAt.Add(20 * time.Second)
		must(t, s.PutAgent(t.Context(), &b), "put agent again")
		got := listAgents(t, s, time.Time{}, a.ID)
		if len(got) != 1 {
			t.Fatalf("after two puts of one agent, listed %d records", len(got))
		}
		wantEqual(t, "overwritten agent", b, got[a.ID])
	})
}

// listAgents lists the agents seen since and returns those among ids (the
// store may hold others), failing on a duplicate.
func listAgents(t *testing.T, s fleetcron.AgentStore, since time.Time, ids ...string) map[string]fleetcron.Agent {
	t.Helper()
	as, err := s.ListAgents(t.Context(), since)
	must(t, err, "list agents since %v", since)
	out := map[string]fleetcron.Agent{}
	for _, a := range as {
		for _, id := range ids {
			if a.ID != id {
				continue
			}
			if _, dup := out[id]; dup {
				t.Fatalf("agent %s listed twice", id)
			}
			out[id] = a
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
