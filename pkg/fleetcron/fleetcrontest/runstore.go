package fleetcrontest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// TestRunStore is the contract suite of fleetcron.RunStore: the fire lock,
// the send lease, the fenced agent lease and the sweeper's writes. newStore
// returns a fresh store for each subtest.
func TestRunStore(t *testing.T, newStore func(t *testing.T) fleetcron.RunStore, opts ...Option) {
	o := options(opts)
	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		want := fullRun(fleetcron.NewID())
		wantAllSet(t, "run", want)
		in := want
		must(t, s.CreateRun(t.Context(), &in), "create run")
		got, err := s.GetRun(t.Context(), want.ID)
		must(t, err, "get run")
		wantEqual(t, "stored run", want, *got)
		// Exit code 0 is a value, not an absent one.
		ok := fullRun(fleetcron.NewID())
		zero := 0
		ok.ExitCode = &zero
		must(t, s.CreateRun(t.Context(), &ok), "create run with exit code 0")
		got, err = s.GetRun(t.Context(), ok.ID)
		must(t, err, "get run")
		if got.ExitCode == nil || *got.ExitCode != 0 {
			t.Fatalf("exit code 0 came back as %v", got.ExitCode)
		}
	})

	t.Run("GetUnknown", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetRun(t.Context(), fleetcron.RunID(fleetcron.NewID(), base))
		wantErr(t, err, fleetcron.ErrNotFound, "get unknown run")
		_, err = s.GetRun(t.Context(), "not-a-run-id")
		wantErr(t, err, fleetcron.ErrNotFound, "get malformed run id")
	})

	t.Run("CreateIsTheLock", func(t *testing.T) {
		s := newStore(t)
		jobID := fleetcron.NewID()
		first := queuedRun(jobID, base)
		must(t, s.CreateRun(t.Context(), first), "create run")
		second := queuedRun(jobID, base)
		second.FiredAt = first.FiredAt.Add(time.Minute)
		second.Trigger = fleetcron.TriggerManual
		wantErr(t, s.CreateRun(t.Context(), second), fleetcron.ErrConflict, "second create of run %s", first.ID)
		got, err := s.GetRun(t.Context(), first.ID)
		must(t, err, "get run")
		wantEqual(t, "run after a refused second create", *first, *got)
	})

	o.concurrent(t, "ConcurrentCreate", func(t *testing.T) {
		s := newStore(t)
		jobID := fleetcron.NewID()
		const n = 50
		runs := make([]*fleetcron.Run, n)
		errs := make([]error, n)
		for i := range n {
			runs[i] = queuedRun(jobID, base)
			runs[i].FiredAt = base.Add(time.Duration(i+1) * time.Millisecond) // tells who won
		}
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = s.CreateRun(t.Context(), runs[i]) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("creates %d and %d of run %s both succeeded: two runs for one instant", winner, i, runs[i].ID)
			case err == nil:
				winner = i
			default:
				wantErr(t, err, fleetcron.ErrConflict, "concurrent create %d", i)
			}
		}
		if winner < 0 {
			t.Fatal("no concurrent create succeeded")
		}
		got, err := s.GetRun(t.Context(), runs[winner].ID)
		must(t, err, "get run")
		wantEqual(t, "stored run (the winner's)", *runs[winner], *got)
	})

	t.Run("TakeSendLease", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		lease := r.SendLeaseUntil

		err := s.TakeSendLease(t.Context(), r.ID, lease.Add(-time.Millisecond), lease.Add(time.Minute))
		wantErr(t, err, fleetcron.ErrConflict, "take send lease while the first sender's lease runs")

		until := lease.Add(30 * time.Second)
		must(t, s.TakeSendLease(t.Context(), r.ID, lease, until), "take send lease at its expiry")
		got, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		if !got.SendLeaseUntil.Equal(until) {
			t.Fatalf("SendLeaseUntil = %v, want %v", got.SendLeaseUntil, until)
		}
		err = s.TakeSendLease(t.Context(), r.ID, until.Add(-time.Second), until.Add(time.Minute))
		wantErr(t, err, fleetcron.ErrConflict, "take send lease while the second sender's lease runs")

		must(t, s.MarkEnqueued(t.Context(), r.ID), "mark enqueued")
		err = s.TakeSendLease(t.Context(), r.ID, until.Add(time.Hour), until.Add(2*time.Hour))
		wantErr(t, err, fleetcron.ErrConflict, "take send lease of an enqueued run")
	})

	t.Run("TakeSendLeaseNotQueued", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		now := r.SendLeaseUntil.Add(time.Minute)
		_, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)})
		must(t, err, "claim run")
		err = s.TakeSendLease(t.Context(), r.ID, now, now.Add(time.Minute))
		wantErr(t, err, fleetcron.ErrConflict, "take send lease of a running run")

		err = s.TakeSendLease(t.Context(), fleetcron.RunID(fleetcron.NewID(), base), now, now.Add(time.Minute))
		wantErrOneOf(t, err, "take send lease of an unknown run", fleetcron.ErrNotFound, fleetcron.ErrConflict)
	})

	o.concurrent(t, "ConcurrentTakeSendLease", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		now := r.SendLeaseUntil.Add(time.Second)
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = s.TakeSendLease(t.Context(), r.ID, now, now.Add(time.Duration(30_000+i)*time.Millisecond))
			})
		}
		wg.Wait()
		winner := oneWinner(t, "take send lease", errs)
		got, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		if want := now.Add(time.Duration(30_000+winner) * time.Millisecond); !got.SendLeaseUntil.Equal(want) {
			t.Fatalf("SendLeaseUntil = %v, want the winner's %v", got.SendLeaseUntil, want)
		}
	})

	t.Run("MarkEnqueued", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		must(t, s.MarkEnqueued(t.Context(), r.ID), "mark enqueued")
		must(t, s.MarkEnqueued(t.Context(), r.ID), "mark enqueued again")
		got, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		if !got.Enqueued || got.State != fleetcron.RunQueued {
			t.Fatalf("Enqueued %v State %s, want true queued", got.Enqueued, got.State)
		}
		wantErr(t, s.MarkEnqueued(t.Context(), fleetcron.RunID(fleetcron.NewID(), base)), fleetcron.ErrNotFound, "mark unknown run enqueued")
	})

	t.Run("Claim", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		must(t, s.MarkEnqueued(t.Context(), r.ID), "mark enqueued")
		now := r.FiredAt.Add(2 * time.Second)
		c := fleetcron.Claim{RunID: r.ID, Owner: "agent-a/1", Attempt: 0, Now: now, LeaseUntil: now.Add(time.Minute)}
		got, err := s.ClaimRun(t.Context(), c)
		must(t, err, "claim run")
		want := *r
		want.Enqueued = true
		want.State = fleetcron.RunRunning
		want.Attempt = 1
		want.LeaseOwner = c.Owner
		want.LeaseExpiresAt = c.LeaseUntil
		want.StartedAt = now
		wantEqual(t, "claimed run (returned)", want, *got)
		stored, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		wantEqual(t, "claimed run (stored)", want, *stored)
		if got.AttemptsUsed() != 1 {
			t.Fatalf("AttemptsUsed = %d, want 1", got.AttemptsUsed())
		}

		_, err = s.ClaimRun(t.Context(), fleetcron.Claim{RunID: fleetcron.RunID(fleetcron.NewID(), base), Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)})
		wantErr(t, err, fleetcron.ErrNotFound, "claim unknown run")
	})

	t.Run("ClaimConditions", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		t1 := r.FiredAt.Add(time.Second)
		first, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Attempt: 0, Now: t1, LeaseUntil: t1.Add(time.Minute)})
		must(t, err, "first claim")

		_, err = s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "b", Attempt: 0, Now: t1.Add(time.Hour), LeaseUntil: t1.Add(2 * time.Hour)})
		wantErr(t, err, fleetcron.ErrConflict, "claim with a stale attempt")
		_, err = s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "b", Attempt: 1, Now: t1.Add(30 * time.Second), LeaseUntil: t1.Add(2 * time.Minute)})
		wantErr(t, err, fleetcron.ErrConflict, "claim of a running run whose lease has not expired")
		stored, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		wantEqual(t, "run after refused claims", *first, *stored)
	})

	t.Run("ReclaimAfterExpiryFencesFirstOwner", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		t1 := r.FiredAt.Add(time.Second)
		_, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Attempt: 0, Now: t1, LeaseUntil: t1.Add(time.Minute)})
		must(t, err, "claim by a")
		t2 := t1.Add(time.Minute + time.Millisecond)
		second, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "b", Attempt: 1, Now: t2, LeaseUntil: t2.Add(time.Minute)})
		must(t, err, "claim by b after a's lease expired")
		if second.Attempt != 2 || second.LeaseOwner != "b" || second.State != fleetcron.RunRunning || !second.StartedAt.Equal(t2) {
			t.Fatalf("second claim: Attempt %d owner %q state %s started %v; want 2 b running %v",
				second.Attempt, second.LeaseOwner, second.State, second.StartedAt, t2)
		}

		zombie := fleetcron.Lease{RunID: r.ID, Owner: "a", Attempt: 1}
		_, err = s.ExtendLease(t.Context(), zombie, t2.Add(time.Hour))
		wantErr(t, err, fleetcron.ErrFenced, "zombie extends its lease")
		code := 0
		_, err = s.CompleteRun(t.Context(), zombie, fleetcron.Result{State: fleetcron.RunSucceeded, ExitCode: &code, StartedAt: t1, EndedAt: t2})
		wantErr(t, err, fleetcron.ErrFenced, "zombie completes the run")
		_, err = s.ReleaseRun(t.Context(), zombie, false, "zombie drains")
		wantErr(t, err, fleetcron.ErrFenced, "zombie releases the run")
		_, err = s.ExtendLease(t.Context(), fleetcron.Lease{RunID: r.ID, Owner: "b", Attempt: 1}, t2.Add(time.Hour))
		wantErr(t, err, fleetcron.ErrFenced, "current owner with an old attempt")
		_, err = s.ExtendLease(t.Context(), fleetcron.Lease{RunID: r.ID, Owner: "a", Attempt: 2}, t2.Add(time.Hour))
		wantErr(t, err, fleetcron.ErrFenced, "other owner with the current attempt")

		stored, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		wantEqual(t, "run after the zombie's writes", *second, *stored)

		_, err = s.CompleteRun(t.Context(), fleetcron.Lease{RunID: r.ID, Owner: "b", Attempt: 2},
			fleetcron.Result{State: fleetcron.RunSucceeded, ExitCode: &code, StartedAt: t2, EndedAt: t2.Add(time.Second)})
		must(t, err, "the current owner completes the run")
	})

	o.concurrent(t, "ConcurrentClaims", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		now := r.FiredAt.Add(time.Second)
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: fmt.Sprintf("agent-%d/1", i),
					Attempt: 0, Now: now, LeaseUntil: now.Add(time.Minute)})
			})
		}
		wg.Wait()
		winner := oneWinner(t, "claim", errs)
		got, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		if want := fmt.Sprintf("agent-%d/1", winner); got.LeaseOwner != want || got.Attempt != 1 {
			t.Fatalf("LeaseOwner %q Attempt %d, want %q 1", got.LeaseOwner, got.Attempt, want)
		}
	})

	t.Run("ClaimAttemptsExhausted", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		r.MaxAttempts = 2
		must(t, s.CreateRun(t.Context(), r), "create run")
		now := r.FiredAt
		for attempt := range 2 {
			now = now.Add(2 * time.Minute)
			_, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: fmt.Sprintf("agent-%d", attempt),
				Attempt: attempt, Now: now, LeaseUntil: now.Add(time.Minute)})
			must(t, err, "claim attempt %d", attempt+1)
		}
		now = now.Add(2 * time.Minute)
		_, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "agent-2", Attempt: 2, Now: now, LeaseUntil: now.Add(time.Minute)})
		wantErr(t, err, fleetcron.ErrConflict, "claim with AttemptsUsed == MaxAttempts")
	})

	t.Run("ClaimCancelRequested", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		must(t, s.RequestCancel(t.Context(), r.ID, "canceled by test"), "request cancel")
		now := r.FiredAt.Add(time.Second)
		_, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)})
		wantErr(t, err, fleetcron.ErrConflict, "claim of a run with a cancel request")
	})

	t.Run("ClaimTerminal", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		now := r.FiredAt.Add(time.Second)
		_, err := s.FinishRun(t.Context(), r.ID, 0, fleetcron.RunFailed, "canceled", now)
		must(t, err, "finish run")
		_, err = s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)})
		wantErr(t, err, fleetcron.ErrConflict, "claim of a finished run")
	})

	t.Run("ExtendLeaseAndCancel", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		now := r.FiredAt.Add(time.Second)
		_, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)})
		must(t, err, "claim run")
		l := fleetcron.Lease{RunID: r.ID, Owner: "a", Attempt: 1}
		until := now.Add(100_500 * time.Millisecond)
		got, err := s.ExtendLease(t.Context(), l, until)
		must(t, err, "extend lease")
		if !got.LeaseExpiresAt.Equal(until) || got.CancelRequest != "" || got.State != fleetcron.RunRunning {
			t.Fatalf("after extend: lease %v cancel %q state %s; want %v, none, running", got.LeaseExpiresAt, got.CancelRequest, got.State, until)
		}
		stored, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		wantEqual(t, "run after extend (stored vs returned)", *got, *stored)

		must(t, s.RequestCancel(t.Context(), r.ID, "replaced by a newer run"), "request cancel of a running run")
		got, err = s.ExtendLease(t.Context(), l, until.Add(time.Minute))
		must(t, err, "extend lease after a cancel request")
		if got.CancelRequest != "replaced by a newer run" || got.State != fleetcron.RunRunning {
			t.Fatalf("heartbeat sees cancel %q state %s; want the request, still running", got.CancelRequest, got.State)
		}
	})

	t.Run("Complete", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		now := r.FiredAt.Add(time.Second)
		claimed, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)})
		must(t, err, "claim run")
		l := fleetcron.Lease{RunID: r.ID, Owner: "a", Attempt: 1}
		code := 3
		res := fleetcron.Result{
			State: fleetcron.RunFailed, ExitCode: &code, Reason: "exit status 3",
			Output: "boom\n", OutputBytes: 123_456, OutputKey: strings.Repeat("0f", 32),
			StartedAt: now.Add(250 * time.Millisecond), EndedAt: now.Add(5*time.Second + 7*time.Millisecond),
		}
		got, err := s.CompleteRun(t.Context(), l, res)
		must(t, err, "complete run")
		want := *claimed
		want.State, want.ExitCode, want.Reason = res.State, res.ExitCode, res.Reason
		want.Output, want.OutputBytes, want.OutputKey = res.Output, res.OutputBytes, res.OutputKey
		want.StartedAt, want.EndedAt = res.StartedAt, res.EndedAt
		want.LeaseOwner, want.LeaseExpiresAt = "", time.Time{}
		wantEqual(t, "completed run (returned)", want, *got)
		stored, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		wantEqual(t, "completed run (stored)", want, *stored)

		_, err = s.ExtendLease(t.Context(), l, now.Add(time.Hour))
		wantErr(t, err, fleetcron.ErrFenced, "extend the lease of a completed run")
		_, err = s.FinishRun(t.Context(), r.ID, 1, fleetcron.RunLost, "sweeper", now.Add(time.Hour))
		wantErr(t, err, fleetcron.ErrConflict, "finish a completed run")
		wantErr(t, s.RequestCancel(t.Context(), r.ID, "too late"), fleetcron.ErrConflict, "cancel a completed run")
	})

	t.Run("Release", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		r.MaxAttempts = 1
		must(t, s.CreateRun(t.Context(), r), "create run")
		now := r.FiredAt.Add(time.Second)

		// A drain hands the run back without using up an attempt.
		_, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Attempt: 0, Now: now, LeaseUntil: now.Add(time.Minute)})
		must(t, err, "claim run")
		got, err := s.ReleaseRun(t.Context(), fleetcron.Lease{RunID: r.ID, Owner: "a", Attempt: 1}, false, "agent draining")
		must(t, err, "release run (drain)")
		if got.State != fleetcron.RunQueued || got.LeaseOwner != "" || !got.LeaseExpiresAt.IsZero() ||
			got.Attempt != 1 || got.Released != 1 || got.AttemptsUsed() != 0 || got.Reason != "agent draining" {
			t.Fatalf("after drain release: state %s owner %q lease %v attempt %d released %d reason %q; want queued, no lease, 1, 1, the reason",
				got.State, got.LeaseOwner, got.LeaseExpiresAt, got.Attempt, got.Released, got.Reason)
		}
		stored, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		wantEqual(t, "released run (stored vs returned)", *got, *stored)

		// It can be claimed at once, lease or not: it is queued.
		_, err = s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "b", Attempt: 1, Now: now, LeaseUntil: now.Add(time.Minute)})
		must(t, err, "claim a released run")
		_, err = s.ReleaseRun(t.Context(), fleetcron.Lease{RunID: r.ID, Owner: "a", Attempt: 1}, false, "zombie")
		wantErr(t, err, fleetcron.ErrFenced, "release by the previous owner")

		// A release that counts uses up the attempt: with MaxAttempts 1
		// nobody may claim it again.
		got, err = s.ReleaseRun(t.Context(), fleetcron.Lease{RunID: r.ID, Owner: "b", Attempt: 2}, true, "could not fetch executable")
		must(t, err, "release run (counted)")
		if got.State != fleetcron.RunQueued || got.Attempt != 2 || got.Released != 1 || got.AttemptsUsed() != 1 {
			t.Fatalf("after counted release: state %s attempt %d released %d; want queued 2 1", got.State, got.Attempt, got.Released)
		}
		_, err = s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "c", Attempt: 2, Now: now, LeaseUntil: now.Add(time.Minute)})
		wantErr(t, err, fleetcron.ErrConflict, "claim with attempts used up by a counted release")
	})

	t.Run("Finish", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		at := r.FiredAt.Add(10 * time.Second)

		_, err := s.FinishRun(t.Context(), r.ID, 1, fleetcron.RunFailed, "canceled", at)
		wantErr(t, err, fleetcron.ErrConflict, "finish with an attempt that is not the run's")
		got, err := s.FinishRun(t.Context(), r.ID, 0, fleetcron.RunFailed, "canceled: replaced", at)
		must(t, err, "finish a queued run")
		if got.State != fleetcron.RunFailed || got.Reason != "canceled: replaced" || !got.EndedAt.Equal(at) {
			t.Fatalf("finished run: state %s reason %q ended %v; want failed, the reason, %v", got.State, got.Reason, got.EndedAt, at)
		}
		stored, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		wantEqual(t, "finished run (stored vs returned)", *got, *stored)
		_, err = s.FinishRun(t.Context(), r.ID, 0, fleetcron.RunLost, "again", at)
		wantErr(t, err, fleetcron.ErrConflict, "finish a terminal run")

		_, err = s.FinishRun(t.Context(), fleetcron.RunID(fleetcron.NewID(), base), 0, fleetcron.RunLost, "x", at)
		wantErrOneOf(t, err, "finish an unknown run", fleetcron.ErrNotFound, fleetcron.ErrConflict)
	})

	t.Run("FinishRunningFencesOwner", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		r.MaxAttempts = 1
		must(t, s.CreateRun(t.Context(), r), "create run")
		now := r.FiredAt.Add(time.Second)
		_, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)})
		must(t, err, "claim run")

		_, err = s.FinishRun(t.Context(), r.ID, 1, fleetcron.RunLost, "attempts exhausted", now.Add(30*time.Second))
		wantErr(t, err, fleetcron.ErrConflict, "finish a running run whose lease has not expired")
		at := now.Add(time.Minute + time.Second)
		got, err := s.FinishRun(t.Context(), r.ID, 1, fleetcron.RunLost, "attempts exhausted", at)
		must(t, err, "finish a running run whose lease expired")
		if got.State != fleetcron.RunLost || !got.EndedAt.Equal(at) || got.LeaseOwner != "" {
			t.Fatalf("finished run: state %s ended %v owner %q; want lost, %v, lease cleared", got.State, got.EndedAt, got.LeaseOwner, at)
		}
		// The agent that held it comes back too late: it must not turn a
		// lost run into a success.
		code := 0
		_, err = s.CompleteRun(t.Context(), fleetcron.Lease{RunID: r.ID, Owner: "a", Attempt: 1},
			fleetcron.Result{State: fleetcron.RunSucceeded, ExitCode: &code, StartedAt: now, EndedAt: at})
		wantErr(t, err, fleetcron.ErrFenced, "complete by the owner of a run the sweeper finished")
		stored, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		wantEqual(t, "lost run after the late complete", *got, *stored)
	})

	t.Run("RequestCancel", func(t *testing.T) {
		s := newStore(t)
		r := queuedRun(fleetcron.NewID(), base)
		must(t, s.CreateRun(t.Context(), r), "create run")
		must(t, s.RequestCancel(t.Context(), r.ID, "user asked"), "request cancel of a queued run")
		got, err := s.GetRun(t.Context(), r.ID)
		must(t, err, "get run")
		if got.CancelRequest != "user asked" || got.State != fleetcron.RunQueued {
			t.Fatalf("cancel %q state %s; want the request, still queued", got.CancelRequest, got.State)
		}
		err = s.RequestCancel(t.Context(), fleetcron.RunID(fleetcron.NewID(), base), "x")
		wantErrOneOf(t, err, "cancel an unknown run", fleetcron.ErrNotFound, fleetcron.ErrConflict)
	})

	t.Run("ListRuns", func(t *testing.T) {
		s := newStore(t)
		jobID := fleetcron.NewID()
		other := jobID + "x" // shares jobID as a prefix: must not leak into its list
		var want []*fleetcron.Run
		for k := range 23 {
			want = append(want, queuedRun(jobID, base.Add(time.Duration(k)*time.Minute+time.Duration(k)*time.Millisecond)))
		}
		// A scheduled time with fewer digits of Unix milliseconds: order is
		// by time, not by the text of the key.
		want = append(want, queuedRun(jobID, time.UnixMilli(999_999_999_999).UTC()))
		created := slices.Clone(want)
		rand.Shuffle(len(created), func(i, j int) { created[i], created[j] = created[j], created[i] })
		for _, r := range created {
			must(t, s.CreateRun(t.Context(), r), "create run %s", r.ID)
		}
		for k := range 3 {
			must(t, s.CreateRun(t.Context(), queuedRun(other, base.Add(time.Duration(k)*time.Minute))), "create run of job %s", other)
		}
		slices.SortFunc(want, func(a, b *fleetcron.Run) int { return b.ScheduledAt.Compare(a.ScheduledAt) })

		got := listRuns(t, s, fleetcron.RunQuery{JobID: jobID, Limit: 5}, 5)
		wantRunList(t, "all runs, 5 a page", want, got)
		got = listRuns(t, s, fleetcron.RunQuery{JobID: jobID}, fleetcron.DefaultPageSize)
		wantRunList(t, "all runs, default page size", want, got)
		for _, r := range got {
			if r.ID == want[0].ID {
				wantEqual(t, "listed run", *want[0], r)
			}
		}

		// Every third run ends, every third is claimed: ActiveOnly lists
		// the queued and running ones.
		var active []*fleetcron.Run
		for i, r := range want {
			now := r.FiredAt.Add(time.Second)
			switch i % 3 {
			case 0:
				_, err := s.FinishRun(t.Context(), r.ID, 0, fleetcron.RunFailed, "canceled", now)
				must(t, err, "finish run %s", r.ID)
			case 1:
				_, err := s.ClaimRun(t.Context(), fleetcron.Claim{RunID: r.ID, Owner: "a", Now: now, LeaseUntil: now.Add(time.Minute)})
				must(t, err, "claim run %s", r.ID)
				active = append(active, r)
			default:
				active = append(active, r)
			}
		}
		got = listRuns(t, s, fleetcron.RunQuery{JobID: jobID, ActiveOnly: true, Limit: 4}, 4)
		wantRunList(t, "active runs, 4 a page", active, got)
		for _, r := range got {
			if !r.State.Active() {
				t.Errorf("ActiveOnly listed run %s in state %s", r.ID, r.State)
			}
		}
		got = listRuns(t, s, fleetcron.RunQuery{JobID: jobID, Limit: 7}, 7)
		wantRunList(t, "all runs after state changes", want, got)

		got = listRuns(t, s, fleetcron.RunQuery{JobID: fleetcron.NewID()}, fleetcron.DefaultPageSize)
		if len(got) != 0 {
			t.Fatalf("a job without runs lists %d", len(got))
		}
	})
}

// oneWinner checks that exactly one of errs is nil and the others are
// ErrConflict, and returns the index of the nil one.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("concurrent %s: %d and %d both succeeded", what, winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, err, fleetcron.ErrConflict, "concurrent %s %d", what, i)
		}
	}
	if winner < 0 {
		t.Fatalf("concurrent %s: none succeeded", what)
	}
	return winner
}

// listRuns pages through q and returns the runs in the order listed. Each
// page must hold at most limit runs.
func listRuns(t *testing.T, s fleetcron.RunReader, q fleetcron.RunQuery, limit int) []fleetcron.Run {
	t.Helper()
	var out []fleetcron.Run
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("ListRuns: more than 1000 pages; is Next ever empty?")
		}
		p, err := s.ListRuns(t.Context(), q)
		must(t, err, "list runs page %d (cursor %q)", page, q.Cursor)
		if len(p.Runs) > limit {
			t.Fatalf("page %d holds %d runs, over the limit %d", page, len(p.Runs), limit)
		}
		out = append(out, p.Runs...)
		if p.Next == "" {
			return out
		}
		if p.Next == q.Cursor {
			t.Fatalf("page %d: Next %q equals the cursor it was asked with", page, p.Next)
		}
		q.Cursor = p.Next
	}
}

func wantRunList(t *testing.T, what string, want []*fleetcron.Run, got []fleetcron.Run) {
	t.Helper()
	ids := func(n int, id func(int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString("\n\t" + id(i))
		}
		return b.String()
	}
	w := ids(len(want), func(i int) string { return want[i].ID })
	g := ids(len(got), func(i int) string { return got[i].ID })
	if w != g {
		t.Fatalf("%s: listed (newest first expected)%s\nwant%s", what, g, w)
	}
}
