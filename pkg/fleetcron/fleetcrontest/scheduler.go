package fleetcrontest

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// TestScheduler is the contract suite of fleetcron.Scheduler, read back
// through the ScheduleReader that newScheduler returns with it. It is
// backend-neutral: it checks how many expressions a job gets and what they
// carry, not their dialect.
func TestScheduler(t *testing.T, newScheduler func(t *testing.T) (fleetcron.Scheduler, fleetcron.ScheduleReader)) {
	t.Run("PutPauseDelete", func(t *testing.T) {
		s, r := newScheduler(t)
		j := scheduledJob("*/10 * * * *")
		must(t, s.PutSchedule(t.Context(), j), "put schedule")
		first := wantSchedule(t, r, j, true)

		j.Paused = true
		must(t, s.PutSchedule(t.Context(), j), "put schedule of the paused job")
		paused := wantSchedule(t, r, j, false)
		if !sameExpressions(first, paused) {
			t.Fatalf("pausing changed the expressions from %q to %q: replace, never add", first.Expressions, paused.Expressions)
		}
		j.Paused = false
		must(t, s.PutSchedule(t.Context(), j), "put schedule of the resumed job")
		resumed := wantSchedule(t, r, j, true)
		if !sameExpressions(first, resumed) {
			t.Fatalf("resuming changed the expressions from %q to %q", first.Expressions, resumed.Expressions)
		}

		must(t, s.DeleteSchedule(t.Context(), j.ID), "delete schedule")
		_, err := r.GetSchedule(t.Context(), j.ID)
		wantErr(t, err, fleetcron.ErrNotFound, "get deleted schedule")
		must(t, s.DeleteSchedule(t.Context(), j.ID), "delete schedule again")
	})

	t.Run("DayOfMonthOrWeekThenSimple", func(t *testing.T) {
		s, r := newScheduler(t)
		j := scheduledJob("0 0 1 * MON") // the 1st and every Monday
		must(t, s.PutSchedule(t.Context(), j), "put schedule")
		or := wantSchedule(t, r, j, true)
		if n := len(or.Expressions); n > 2 {
			t.Fatalf("%q: %d expressions, want 1 or 2", j.Schedule, n)
		}

		j.Schedule = "5 * * * *"
		must(t, s.PutSchedule(t.Context(), j), "put changed schedule")
		changed := wantSchedule(t, r, j, true)
		ref := scheduledJob(j.Schedule)
		must(t, s.PutSchedule(t.Context(), ref), "put schedule of a reference job")
		fresh := wantSchedule(t, r, ref, true)
		if !sameExpressions(changed, fresh) {
			t.Fatalf("after changing %q to %q the job has %q, a new job with %q has %q: a stale schedule is left",
				"0 0 1 * MON", j.Schedule, changed.Expressions, j.Schedule, fresh.Expressions)
		}

		j.Paused = true
		must(t, s.PutSchedule(t.Context(), j), "pause")
		if paused := wantSchedule(t, r, j, false); len(paused.Expressions) != len(fresh.Expressions) {
			t.Fatalf("paused job has %d expressions, want %d", len(paused.Expressions), len(fresh.Expressions))
		}
		must(t, s.DeleteSchedule(t.Context(), j.ID), "delete schedule")
		_, err := r.GetSchedule(t.Context(), j.ID)
		wantErr(t, err, fleetcron.ErrNotFound, "get deleted schedule")
	})

	t.Run("Unknown", func(t *testing.T) {
		s, r := newScheduler(t)
		_, err := r.GetSchedule(t.Context(), fleetcron.NewID())
		wantErr(t, err, fleetcron.ErrNotFound, "get schedule of an unknown job")
		must(t, s.DeleteSchedule(t.Context(), fleetcron.NewID()), "delete schedule of an unknown job")
	})
}

func scheduledJob(schedule string) *fleetcron.Job {
	j := newJob("alice", base)
	j.Schedule = schedule
	j.TimeZone = "Europe/Berlin"
	return j
}

// wantSchedule reads back j's schedule and checks what every backend must
// store: the job, its time zone, whether it is enabled, and for each
// expression an input that is a Fire of the job.
func wantSchedule(t *testing.T, r fleetcron.ScheduleReader, j *fleetcron.Job, enabled bool) fleetcron.ScheduleInfo {
	t.Helper()
	info, err := r.GetSchedule(t.Context(), j.ID)
	must(t, err, "get schedule of job %s", j.ID)
	if info.JobID != j.ID || info.TimeZone != j.TimeZone || info.Enabled != enabled {
		t.Fatalf("schedule of %q: job %q time zone %q enabled %v; want %q %q %v",
			j.Schedule, info.JobID, info.TimeZone, info.Enabled, j.ID, j.TimeZone, enabled)
	}
	if len(info.Expressions) == 0 || len(info.Inputs) != len(info.Expressions) {
		t.Fatalf("schedule of %q: %d expressions, %d inputs; want at least one, one input each",
			j.Schedule, len(info.Expressions), len(info.Inputs))
	}
	for i, in := range info.Inputs {
		var f events.Fire
		if err := json.Unmarshal([]byte(in), &f); err != nil {
			t.Fatalf("input %d of %q is not a Fire: %v\n%s", i, j.Schedule, err, in)
		}
		if f.JobID != j.ID || f.ScheduledTime == "" {
			t.Fatalf("input %d of %q: job %q scheduled_time %q; want %q and the scheduled-time placeholder",
				i, j.Schedule, f.JobID, f.ScheduledTime, j.ID)
		}
	}
	return info
}

func sameExpressions(a, b fleetcron.ScheduleInfo) bool {
	x, y := slices.Clone(a.Expressions), slices.Clone(b.Expressions)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
