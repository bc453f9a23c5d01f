package fleetcrontest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// base is the start of the suites' timeline: in the future, so that no
// store's retention (a DynamoDB TTL) touches what a suite writes, with
// milliseconds, which every adapter must keep.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 891_000_000, time.UTC)

// expires is the ExpiresAt of fixtures: whole seconds, since a TTL attribute
// may hold epoch seconds.
var expires = base.Truncate(time.Second).Add(90 * 24 * time.Hour)

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error, format string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", fmt.Sprintf(format, args...), err, target)
	}
}

// wantErrOneOf fails the test unless err matches one of targets (where the
// port's documentation allows either).
func wantErrOneOf(t *testing.T, err error, what string, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			return
		}
	}
	t.Fatalf("%s: got error %v, want one of %v", what, err, targets)
}

// must fails the test on err.
func must(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// canonical returns a copy of v in which every time is in UTC without a
// monotonic reading, and empty slices and maps are nil: the differences a
// store may introduce without changing a value's meaning.
func canonical(v any) reflect.Value {
	c := reflect.New(reflect.TypeOf(v)).Elem()
	c.Set(reflect.ValueOf(v))
	canon(c)
	return c
}

func canon(v reflect.Value) {
	if !v.CanSet() {
		return
	}
	if v.Type() == timeType {
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			v.Set(reflect.Zero(timeType))
		} else {
			v.Set(reflect.ValueOf(tm.UTC()))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			canon(v.Field(i))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(v.Elem())
			canon(p.Elem())
			v.Set(p)
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := range c.Len() {
			canon(c.Index(i))
		}
		v.Set(c)
	case reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

// diff lists the fields (dotted paths) in which the canonical forms of want
// and got differ.
func diff(want, got any) []string {
	var out []string
	diffValue("", canonical(want), canonical(got), &out)
	return out
}

func diffValue(path string, w, g reflect.Value, out *[]string) {
	if w.Kind() == reflect.Struct && w.Type() != timeType {
		for i := range w.NumField() {
			name := w.Type().Field(i).Name
			if path != "" {
				name = path + "." + name
			}
			diffValue(name, w.Field(i), g.Field(i), out)
		}
		return
	}
	if !reflect.DeepEqual(w.Interface(), g.Interface()) {
		*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, show(g), show(w)))
	}
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "nil"
		}
		return "&" + show(v.Elem())
	}
	if v.Type() == timeType {
		return v.Interface().(time.Time).Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%#v", v.Interface())
}

// wantEqual fails the test if got differs from want in any field, times
// compared as instants.
func wantEqual[T any](t *testing.T, what string, want, got T) {
	t.Helper()
	if d := diff(want, got); len(d) > 0 {
		t.Fatalf("%s differs:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

// wantAllSet fails the test if a round-trip fixture leaves a field zero, so a
// field added to a domain type is added to the fixture, and so to what every
// adapter is checked to keep.
func wantAllSet(t *testing.T, what string, v any) {
	t.Helper()
	var zero []string
	allSet("", reflect.ValueOf(v), &zero)
	if len(zero) > 0 {
		t.Fatalf("suite bug: the %s fixture leaves %s zero; set every field", what, strings.Join(zero, ", "))
	}
}

func allSet(path string, v reflect.Value, zero *[]string) {
	if v.Kind() == reflect.Struct && v.Type() != timeType {
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			if path != "" {
				name = path + "." + name
			}
			allSet(name, v.Field(i), zero)
		}
		return
	}
	if v.IsZero() {
		*zero = append(*zero, path)
	}
}

// fullJob is a job with every field set, for round trips.
func fullJob(id string) fleetcron.Job {
	return fleetcron.Job{
		ID:             id,
		Status:         fleetcron.JobError,
		Executable:     "backup.sh",
		Schedule:       "*/10 * * * *",
		Type:           fleetcron.TypeScript,
		Name:           "nightly backup",
		TimeZone:       "Europe/Berlin",
		Args:           []string{"--full", "a b", ""},
		TimeoutSec:     900,
		MaxAttempts:    4,
		RetryOnFailure: true,
		RetryBackoffS:  45,
		Overlap:        fleetcron.OverlapForbid,
		Pool:           "batch",
		Env:            map[string]string{"TARGET": "s3://bucket/x", "EMPTY": ""},
		RunAs:          "backup",
		Paused:         true,
		JitterSec:      120,
		ContentSHA256:  strings.Repeat("ab", 32),
		ContentSize:    4321,
		Owner:          "owner-" + id,
		CreatedAt:      base,
		UpdatedAt:      base.Add(1500 * time.Millisecond),
		DeletedAt:      base.Add(time.Hour + 7*time.Millisecond),
		LastRunAt:      base.Add(10 * time.Minute),
		LastRunID:      fleetcron.RunID(id, base.Add(10*time.Minute)),
		LastRunState:   fleetcron.RunFailed,
		Version:        7,
	}
}

// newJob is an ordinary command job, as the job service creates it.
func newJob(owner string, created time.Time) *fleetcron.Job {
	j := &fleetcron.Job{
		ID:         fleetcron.NewID(),
		Executable: "echo hello",
		Schedule:   "5 * * * *",
		Owner:      owner,
		CreatedAt:  created,
		UpdatedAt:  created,
	}
	j.ApplyDefaults()
	return j
}

// queuedRun is a run as the fire service locks it.
func queuedRun(jobID string, scheduled time.Time) *fleetcron.Run {
	fired := scheduled.Add(1234 * time.Millisecond)
	return &fleetcron.Run{
		ID:             fleetcron.RunID(jobID, scheduled),
		JobID:          jobID,
		ScheduledAt:    scheduled,
		FiredAt:        fired,
		Trigger:        fleetcron.TriggerSchedule,
		Pool:           fleetcron.DefaultPool,
		State:          fleetcron.RunQueued,
		SendLeaseUntil: fired.Add(30 * time.Second),
		MaxAttempts:    3,
		Spec: fleetcron.RunSpec{
			Type:       fleetcron.TypeCommand,
			Executable: "echo hello",
			TimeoutSec: 60,
		},
		ExpiresAt: expires,
	}
}

// fullRun is a run with every field set, for round trips.
func fullRun(jobID string) fleetcron.Run {
	scheduled := base.Add(5 * time.Minute)
	code := 3
	return fleetcron.Run{
		ID:             fleetcron.RunID(jobID, scheduled),
		JobID:          jobID,
		ScheduledAt:    scheduled,
		FiredAt:        scheduled.Add(42_123 * time.Millisecond),
		Trigger:        fleetcron.TriggerManual,
		Pool:           "batch",
		State:          fleetcron.RunRunning,
		Reason:         "released: agent draining",
		Enqueued:       true,
		SendLeaseUntil: scheduled.Add(72_123 * time.Millisecond),
		Attempt:        3,
		Released:       1,
		MaxAttempts:    5,
		LeaseOwner:     "i-0abc/2",
		LeaseExpiresAt: scheduled.Add(2*time.Minute + 5*time.Millisecond),
		CancelRequest:  "canceled: replaced by a newer run",
		StartedAt:      scheduled.Add(61_001 * time.Millisecond),
		EndedAt:        scheduled.Add(90_999 * time.Millisecond),
		ExitCode:       &code,
		Output:         "line 1\nline 2 ü\n",
		OutputBytes:    1 << 20,
		OutputKey:      strings.Repeat("cd", 32),
		Spec: fleetcron.RunSpec{
			Type:          fleetcron.TypeBinary,
			Executable:    "tool",
			Args:          []string{"-v", "x y"},
			ContentSHA256: strings.Repeat("ef", 32),
			ContentSize:   98765,
			TimeoutSec:    300,
			Env:           map[string]string{"A": "1", "PATH_EXTRA": "/opt/bin"},
			RunAs:         "nobody",
			RetryOnFail:   true,
			RetryBackoffS: 30,
		},
		ExpiresAt: expires,
	}
}

// fullAgent is an agent record with every field set.
func fullAgent(id string, seen time.Time) fleetcron.Agent {
	return fleetcron.Agent{
		ID:         id,
		InstanceID: "i-0123456789abcdef0",
		Hostname:   "ip-10-0-0-1.ec2.internal",
		Pools:      []string{"default", "batch"},
		Slots:      4,
		Busy:       1,
		Version:    "v0.1.0",
		State:      "polling",
		StartedAt:  seen.Add(-time.Hour),
		SeenAt:     seen,
		ExpiresAt:  expires,
	}
}
