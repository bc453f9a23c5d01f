package fleetcrontest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// TestJobStore is the contract suite of fleetcron.JobStore. newStore returns
// a fresh store for each subtest.
func TestJobStore(t *testing.T, newStore func(t *testing.T) fleetcron.JobStore, opts ...Option) {
	o := options(opts)
	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		want := fullJob(fleetcron.NewID())
		wantAllSet(t, "job", want)
		in := want
		must(t, s.CreateJob(t.Context(), &in), "create job")
		got, err := s.GetJob(t.Context(), want.ID)
		must(t, err, "get job")
		wantEqual(t, "stored job", want, *got)
	})

	t.Run("GetUnknown", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetJob(t.Context(), fleetcron.NewID())
		wantErr(t, err, fleetcron.ErrNotFound, "get unknown job")
	})

	t.Run("CreateExisting", func(t *testing.T) {
		s := newStore(t)
		first := newJob("alice", base)
		must(t, s.CreateJob(t.Context(), first), "create job")
		second := newJob("bob", base.Add(time.Second))
		second.ID = first.ID
		wantErr(t, s.CreateJob(t.Context(), second), fleetcron.ErrConflict, "create job with an existing id")
		got, err := s.GetJob(t.Context(), first.ID)
		must(t, err, "get job")
		wantEqual(t, "job after a refused create", *first, *got)
	})

	t.Run("UpdateWithVersion", func(t *testing.T) {
		s := newStore(t)
		j := newJob("alice", base)
		must(t, s.CreateJob(t.Context(), j), "create job")
		cur, err := s.GetJob(t.Context(), j.ID)
		must(t, err, "get job")
		v := cur.Version
		stale := *cur

		cur.Name = "renamed"
		cur.Paused = true
		cur.Env = map[string]string{"K": "v"}
		cur.UpdatedAt = base.Add(time.Minute)
		must(t, s.UpdateJob(t.Context(), cur), "update job")
		if cur.Version != v+1 {
			t.Fatalf("after update, j.Version = %d, want %d", cur.Version, v+1)
		}
		got, err := s.GetJob(t.Context(), j.ID)
		must(t, err, "get job")
		wantEqual(t, "updated job", *cur, *got)

		stale.Name = "lost update"
		wantErr(t, s.UpdateJob(t.Context(), &stale), fleetcron.ErrConflict, "update with stale version %d", v)
		if stale.Version != v {
			t.Errorf("a refused update changed j.Version from %d to %d", v, stale.Version)
		}
		got, err = s.GetJob(t.Context(), j.ID)
		must(t, err, "get job")
		wantEqual(t, "job after a refused update", *cur, *got)

		// A second update goes on from the new version.
		cur.Name = "renamed again"
		must(t, s.UpdateJob(t.Context(), cur), "second update")
		if cur.Version != v+2 {
			t.Fatalf("after second update, Version = %d, want %d", cur.Version, v+2)
		}
	})

	t.Run("UpdateUnknown", func(t *testing.T) {
		s := newStore(t)
		j := newJob("alice", base)
		wantErr(t, s.UpdateJob(t.Context(), j), fleetcron.ErrNotFound, "update unknown job")
	})

	o.concurrent(t, "ConcurrentUpdates", func(t *testing.T) {
		s := newStore(t)
		j := newJob("alice", base)
		must(t, s.CreateJob(t.Context(), j), "create job")
		cur, err := s.GetJob(t.Context(), j.ID)
		must(t, err, "get job")
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			c := *cur
			c.Name = fmt.Sprintf("writer %d", i)
			wg.Go(func() { errs[i] = s.UpdateJob(t.Context(), &c) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("updates %d and %d of the same version both succeeded", winner, i)
			case err == nil:
				winner = i
			default:
				wantErr(t, err, fleetcron.ErrConflict, "concurrent update %d", i)
			}
		}
		if winner < 0 {
			t.Fatal("no concurrent update succeeded")
		}
		got, err := s.GetJob(t.Context(), j.ID)
		must(t, err, "get job")
		if want := fmt.Sprintf("writer %d", winner); got.Name != want || got.Version != cur.Version+1 {
			t.Fatalf("stored Name %q Version %d, want %q %d", got.Name, got.Version, want, cur.Version+1)
		}
	})

	t.Run("ListPages", func(t *testing.T) {
		s := newStore(t)
		alice, bob := "alice-"+fleetcron.NewID(), "bob-"+fleetcron.NewID()
		byOwner := map[string]map[string]fleetcron.Job{alice: {}, bob: {}}
		all := map[string]fleetcron.Job{}
		for i := range 120 {
			owner := alice
			if i%12 >= 7 { // 70 alice, 50 bob, interleaved
				owner = bob
			}
			j := newJob(owner, base.Add(time.Duration(i)*time.Second))
			j.Name = fmt.Sprintf("job %d", i)
			must(t, s.CreateJob(t.Context(), j), "create job %d", i)
			byOwner[owner][j.ID] = *j
			all[j.ID] = *j
		}
		if len(byOwner[alice]) != 70 || len(byOwner[bob]) != 50 {
			t.Fatalf("suite bug: %d and %d jobs", len(byOwner[alice]), len(byOwner[bob]))
		}

		// All owners: the store may hold other jobs, but each of ours
		// appears exactly once.
		got := listJobs(t, s, fleetcron.JobQuery{Limit: 50}, 50)
		for id, want := range all {
			switch n := len(got[id]); n {
			case 1:
				wantEqual(t, "listed job "+want.Name, want, got[id][0])
			default:
				t.Errorf("job %s (%s) listed %d times, want once", id, want.Name, n)
			}
		}
		for owner, jobs := range byOwner {
			got := listJobs(t, s, fleetcron.JobQuery{Owner: owner, Limit: 50}, 50)
			for id, js := range got {
				if _, ok := jobs[id]; !ok {
					t.Errorf("owner %s: listed job %s of owner %s", owner, id, js[0].Owner)
				}
			}
			for id := range jobs {
				if n := len(got[id]); n != 1 {
					t.Errorf("owner %s: job %s listed %d times, want once", owner, id, n)
				}
			}
		}
		// Limit 0 is the default page size.
		got = listJobs(t, s, fleetcron.JobQuery{Owner: bob}, fleetcron.DefaultPageSize)
		if len(got) != 50 {
			t.Errorf("owner %s with the default page size: %d jobs, want 50", bob, len(got))
		}
	})

	t.Run("ListEmpty", func(t *testing.T) {
		s := newStore(t)
		p, err := s.ListJobs(t.Context(), fleetcron.JobQuery{Owner: "nobody-" + fleetcron.NewID()})
		must(t, err, "list jobs of an owner without jobs")
		if len(p.Jobs) != 0 || p.Next != "" {
			t.Fatalf("got %d jobs, next %q; want none", len(p.Jobs), p.Next)
		}
	})
}

// listJobs pages through q and returns the listed jobs by id (more than one
// per id is a duplicate). Each page must hold at most limit jobs.
func listJobs(t *testing.T, s fleetcron.JobStore, q fleetcron.JobQuery, limit int) map[string][]fleetcron.Job {
	t.Helper()
	out := map[string][]fleetcron.Job{}
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("ListJobs: more than 1000 pages; is Next ever empty?")
		}
		p, err := s.ListJobs(t.Context(), q)
		must(t, err, "list jobs page %d (cursor %q)", page, q.Cursor)
		if len(p.Jobs) > limit {
			t.Fatalf("page %d holds %d jobs, over the limit %d", page, len(p.Jobs), limit)
		}
		for _, j := range p.Jobs {
			out[j.ID] = append(out[j.ID], j)
		}
		if p.Next == "" {
			return out
		}
		if p.Next == q.Cursor {
			t.Fatalf("page %d: Next %q equals the cursor it was asked with", page, p.Next)
		}
		q.Cursor = p.Next
	}
}
