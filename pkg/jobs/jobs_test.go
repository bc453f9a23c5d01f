package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fire"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/testenv"
	"github.com/fleetcron/fleetcron/pkg/jobs"
	"github.com/fleetcron/fleetcron/pkg/localcron"
)

var (
	admin = jobs.Caller{ID: "root-token", Admin: true}
	alice = jobs.Caller{ID: "alice"}
	bob   = jobs.Caller{ID: "bob"}
)

func ptr[T any](v T) *T { return &v }

type rig struct {
	*testenv.Env
	svc   *jobs.Service
	sched *localcron.Ticker
}

func newRig(t *testing.T) *rig {
	env := testenv.New(t)
	tk := localcron.New(nil)
	svc := jobs.New(env.Jobs, env.Runs, env.Blobs, tk)
	svc.SetFirer(fire.New(env.Jobs, env.Runs, env.Queue, fire.WithOutcome(svc)))
	return &rig{Env: env, svc: svc, sched: tk}
}

func seed() jobs.Input {
	return jobs.Input{Executable: ptr("ls -la"), Schedule: ptr("5 * * * *"), Type: ptr(fleetcron.TypeCommand)}
}

func TestCreateSeedJob(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	j, err := r.svc.Create(ctx, alice, seed())
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != fleetcron.JobScheduled || j.Executable != "ls -la" || j.Schedule != "5 * * * *" || j.Owner != "alice" || j.Version != 1 {
		t.Fatalf("job %+v", j)
	}
	info, err := r.sched.GetSchedule(ctx, j.ID)
	if err != nil || !info.Enabled || info.Expressions[0] != "5 * * * *" {
		t.Fatalf("schedule %+v %v", info, err)
	}
}

func TestCreateRejectsBadInputWithFields(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	in := seed()
	in.Schedule = ptr("5 * * 13 *")
	_, err := r.svc.Create(ctx, alice, in)
	var ve *fleetcron.ValidationError
	if !errors.As(err, &ve) || ve.Problems[0].Field != "schedule" {
		t.Fatalf("err = %v", err)
	}
	if n := r.sched.Len(); n != 0 {
		t.Fatalf("a rejected job left %d schedules", n)
	}
	in = seed()
	in.Type = ptr(fleetcron.TypeScript)
	if _, err := r.svc.Create(ctx, alice, in); !errors.As(err, &ve) || ve.Problems[0].Field != "content" {
		t.Fatalf("script without content: %v", err)
	}
	in = seed()
	in.Content = []byte("x")
	if _, err := r.svc.Create(ctx, alice, in); !errors.As(err, &ve) || ve.Problems[0].Field != "content" {
		t.Fatalf("command with content: %v", err)
	}
}

func TestScriptContentIsStoredByHash(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	in := jobs.Input{Schedule: ptr("@daily"), Type: ptr(fleetcron.TypeScript), Content: []byte("#!/bin/sh\necho hi\n")}
	j, err := r.svc.Create(ctx, alice, in)
	if err != nil {
		t.Fatal(err)
	}
	if j.ContentSize != int64(len(in.Content)) || len(j.ContentSHA256) != 64 || j.Executable != "script" {
		t.Fatalf("job %+v", j)
	}
	rc, err := r.Blobs.GetBlob(ctx, j.ContentSHA256)
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

func TestRunAsIsForAdminsOnly(t *testing.T) {
	r := newRig(t)
	in := seed()
	in.RunAs = ptr("root")
	if _, err := r.svc.Create(context.Background(), alice, in); !errors.Is(err, fleetcron.ErrForbidden) {
		t.Fatalf("user asking root: %v", err)
	}
	if j, err := r.svc.Create(context.Background(), admin, in); err != nil || j.RunAs != "root" {
		t.Fatalf("admin asking root: %+v %v", j, err)
	}
}

func TestOwnersSeeOnlyTheirJobs(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	j, _ := r.svc.Create(ctx, alice, seed())
	_, _ = r.svc.Create(ctx, bob, seed())
	if _, err := r.svc.Get(ctx, bob, j.ID); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("bob reads alice's job: %v", err)
	}
	if _, err := r.svc.Delete(ctx, bob, j.ID); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("bob deletes alice's job: %v", err)
	}
	if _, err := r.svc.RunNow(ctx, bob, j.ID); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("bob runs alice's job: %v", err)
	}
	p, _ := r.svc.List(ctx, alice, "", 0)
	if len(p.Jobs) != 1 || p.Jobs[0].ID != j.ID {
		t.Fatalf("alice lists %+v", p.Jobs)
	}
	p, _ = r.svc.List(ctx, admin, "", 0)
	if len(p.Jobs) != 2 {
		t.Fatalf("admin lists %d jobs, want 2", len(p.Jobs))
	}
}

func TestUpdatePauseResumeDelete(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	j, _ := r.svc.Create(ctx, alice, seed())
	u, err := r.svc.Update(ctx, alice, j.ID, jobs.Input{Schedule: ptr("*/5 * * * *"), TimeZone: ptr("Europe/Berlin")})
	if err != nil || u.Schedule != "*/5 * * * *" || u.Executable != "ls -la" || u.Version != 2 {
		t.Fatalf("update %+v %v", u, err)
	}
	if info, _ := r.sched.GetSchedule(ctx, j.ID); info.Expressions[0] != "*/5 * * * *" || info.TimeZone != "Europe/Berlin" {
		t.Fatalf("schedule not updated: %+v", info)
	}
	if _, err := r.svc.Update(ctx, alice, j.ID, jobs.Input{TimeZone: ptr("Nowhere/Else")}); !errors.Is(err, fleetcron.ErrInvalid) {
		t.Fatalf("bad update: %v", err)
	}
	p, err := r.svc.Pause(ctx, alice, j.ID)
	if info, _ := r.sched.GetSchedule(ctx, j.ID); err != nil || !p.Paused || info.Enabled {
		t.Fatalf("pause: %+v %+v %v", p, info, err)
	}
	p, _ = r.svc.Resume(ctx, alice, j.ID)
	if info, _ := r.sched.GetSchedule(ctx, j.ID); p.Paused || !info.Enabled {
		t.Fatalf("resume: %+v", info)
	}
	run, err := r.svc.RunNow(ctx, alice, j.ID)
	if err != nil || run.Trigger != fleetcron.TriggerManual {
		t.Fatalf("run now: %+v %v", run, err)
	}
	d, err := r.svc.Delete(ctx, alice, j.ID)
	if err != nil || d.Status != fleetcron.JobFinished || d.DeletedAt.IsZero() {
		t.Fatalf("delete: %+v %v", d, err)
	}
	if _, err := r.sched.GetSchedule(ctx, j.ID); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("schedule kept after delete: %v", err)
	}
	// History is kept, and the job is still readable, finished.
	runs, err := r.svc.Runs(ctx, alice, j.ID, "", 0)
	if err != nil || len(runs.Runs) != 1 || runs.Runs[0].ID != run.ID {
		t.Fatalf("runs after delete: %+v %v", runs, err)
	}
	if g, _ := r.svc.Get(ctx, alice, j.ID); g.Status != fleetcron.JobFinished {
		t.Fatalf("get after delete: %+v", g)
	}
	if _, err := r.svc.RunNow(ctx, alice, j.ID); !errors.Is(err, fleetcron.ErrConflict) {
		t.Fatalf("run now of a finished job: %v", err)
	}
	if got, err := r.svc.Run(ctx, alice, run.ID); err != nil || got.ID != run.ID {
		t.Fatalf("get run: %+v %v", got, err)
	}
	if _, err := r.svc.Run(ctx, bob, run.ID); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("bob reads alice's run: %v", err)
	}
}

func TestRecordRunFollowsNewestRun(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	j, _ := r.svc.Create(ctx, alice, seed())
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	failed := &fleetcron.Run{ID: fleetcron.RunID(j.ID, at), JobID: j.ID, ScheduledAt: at, State: fleetcron.RunFailed}
	if err := r.svc.RecordRun(ctx, failed); err != nil {
		t.Fatal(err)
	}
	g, _ := r.svc.Get(ctx, alice, j.ID)
	if g.Status != fleetcron.JobError || g.LastRunID != failed.ID {
		t.Fatalf("after failure %+v", g)
	}
	older := &fleetcron.Run{ID: "x", JobID: j.ID, ScheduledAt: at.Add(-time.Hour), State: fleetcron.RunSucceeded}
	_ = r.svc.RecordRun(ctx, older)
	if g, _ = r.svc.Get(ctx, alice, j.ID); g.Status != fleetcron.JobError {
		t.Fatalf("an older run changed the job: %+v", g)
	}
	newer := &fleetcron.Run{ID: "y", JobID: j.ID, ScheduledAt: at.Add(time.Hour), State: fleetcron.RunSucceeded}
	_ = r.svc.RecordRun(ctx, newer)
	if g, _ = r.svc.Get(ctx, alice, j.ID); g.Status != fleetcron.JobScheduled {
		t.Fatalf("after success %+v", g)
	}
}
