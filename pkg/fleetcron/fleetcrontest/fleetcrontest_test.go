package fleetcrontest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// fakeScheduler keeps one or two expressions per job, as EventBridge
// Scheduler does, so that TestScheduler's bodies run without a backend.
type fakeScheduler struct {
	mu   sync.Mutex
	jobs map[string]fleetcron.ScheduleInfo
}

func (f *fakeScheduler) PutSchedule(_ context.Context, j *fleetcron.Job) error {
	info := fleetcron.ScheduleInfo{JobID: j.ID, TimeZone: j.TimeZone, Enabled: !j.Paused}
	fields := strings.Fields(j.Schedule)
	if len(fields) == 5 && fields[2] != "*" && fields[4] != "*" {
		a, b := slicesWith(fields, 4, "?"), slicesWith(fields, 2, "?")
		info.Expressions = []string{a, b}
		info.Inputs = []string{events.FireTemplate(j.ID, "a"), events.FireTemplate(j.ID, "b")}
	} else {
		info.Expressions = []string{"cron(" + j.Schedule + ")"}
		info.Inputs = []string{events.FireTemplate(j.ID, "a")}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[j.ID] = info
	return nil
}

func slicesWith(fields []string, i int, v string) string {
	c := append([]string(nil), fields...)
	c[i] = v
	return "cron(" + strings.Join(c, " ") + ")"
}

func (f *fakeScheduler) DeleteSchedule(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.jobs, id)
	return nil
}

func (f *fakeScheduler) GetSchedule(_ context.Context, id string) (fleetcron.ScheduleInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.jobs[id]
	if !ok {
		return info, fmt.Errorf("schedule of job %s: %w", id, fleetcron.ErrNotFound)
	}
	return info, nil
}

func TestFakeScheduler(t *testing.T) {
	TestScheduler(t, func(t *testing.T) (fleetcron.Scheduler, fleetcron.ScheduleReader) {
		f := &fakeScheduler{jobs: map[string]fleetcron.ScheduleInfo{}}
		return f, f
	})
}

func TestFixturesSetEveryField(t *testing.T) {
	wantAllSet(t, "job", fullJob(fleetcron.NewID()))
	wantAllSet(t, "run", fullRun(fleetcron.NewID()))
	wantAllSet(t, "agent", fullAgent("a", base))
}

func TestDiff(t *testing.T) {
	a := fullRun("job")
	b := a
	b.ScheduledAt = a.ScheduledAt.In(time.FixedZone("CET", 3600)) // same instant
	b.Spec.Args = append([]string(nil), a.Spec.Args...)
	if d := diff(a, b); len(d) != 0 {
		t.Fatalf("equal runs differ: %v", d)
	}
	var empty, nilArgs fleetcron.Run
	empty.Spec.Args = []string{}
	if d := diff(empty, nilArgs); len(d) != 0 {
		t.Fatalf("empty and nil slices differ: %v", d)
	}
	code := 4
	b.ExitCode = &code
	b.Spec.Env = map[string]string{"A": "2"}
	b.EndedAt = a.EndedAt.Add(time.Millisecond)
	d := diff(a, b)
	if len(d) != 3 || !strings.HasPrefix(d[0], "EndedAt:") || !strings.HasPrefix(d[1], "ExitCode:") || !strings.HasPrefix(d[2], "Spec.Env:") {
		t.Fatalf("diff = %q, want EndedAt, ExitCode, Spec.Env", d)
	}
	if *a.ExitCode != 3 {
		t.Fatal("canonical changed its input")
	}
}
