package fleetcron

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func validJob() *Job {
	j := &Job{Executable: "ls -la", Schedule: "5 * * * *", Type: TypeCommand}
	j.ApplyDefaults()
	return j
}

func TestValidateSeedJob(t *testing.T) {
	j := validJob()
	if err := j.Validate(); err != nil {
		t.Fatalf("seed job invalid: %v", err)
	}
	if j.Status != JobScheduled || j.Pool != DefaultPool || j.MaxAttempts != DefaultMaxAttempts || j.Overlap != OverlapAllow {
		t.Fatalf("defaults not applied: %+v", j)
	}
}

func TestValidateNamesEveryBadField(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Job)
		field string
		want  string
	}{
		{"empty executable", func(j *Job) { j.Executable = "  " }, "executable", "must not be empty"},
		{"unknown type", func(j *Job) { j.Type = "lambda" }, "type", `unknown type "lambda"`},
		{"script without content", func(j *Job) { j.Type = TypeScript }, "content", "needs its file"},
		{"bad cron", func(j *Job) { j.Schedule = "5 25 * * *" }, "schedule", "hour"},
		{"six fields", func(j *Job) { j.Schedule = "0 5 * * * *" }, "schedule", "5 fields"},
		{"bad zone", func(j *Job) { j.TimeZone = "Mars/Base" }, "timezone", "Mars/Base"},
		{"timeout", func(j *Job) { j.TimeoutSec = -1 }, "timeout_seconds", "between"},
		{"attempts", func(j *Job) { j.MaxAttempts = 11 }, "max_attempts", "between"},
		{"overlap", func(j *Job) { j.Overlap = "maybe" }, "overlap", "allow, forbid or replace"},
		{"pool", func(j *Job) { j.Pool = "Bad Pool" }, "pool", "a-z"},
		{"env key", func(j *Job) { j.Env = map[string]string{"1X": "y"} }, "env", "not a valid variable name"},
		{"env reserved", func(j *Job) { j.Env = map[string]string{"FLEETCRON_RUN_ID": "y"} }, "env", "reserved"},
		{"run_as", func(j *Job) { j.RunAs = "Robert'); DROP" }, "run_as", "not a valid user name"},
		{"jitter", func(j *Job) { j.JitterSec = 90 }, "jitter_seconds", "whole minutes"},
		{"args on command", func(j *Job) { j.Args = []string{"-x"} }, "args", "only script and binary"},
		{"nul", func(j *Job) { j.Executable = "ls\x00" }, "executable", "NUL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := validJob()
			c.edit(j)
			err := j.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("not a *ValidationError: %T", err)
			}
			for _, p := range ve.Problems {
				if p.Field == c.field && strings.Contains(p.Reason, c.want) {
					return
				}
			}
			t.Fatalf("problems %v lack field %q with %q", ve.Problems, c.field, c.want)
		})
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	j := validJob()
	j.Executable, j.Schedule, j.Pool = "", "nonsense", "UPPER"
	var ve *ValidationError
	if !errors.As(j.Validate(), &ve) || len(ve.Problems) < 3 {
		t.Fatalf("want >= 3 problems, got %v", ve)
	}
}

func TestRunIDRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)
	id := RunID("k3vq7dd2m4hpl0aaaaaa", at)
	job, got, err := ParseRunID(id)
	if err != nil || job != "k3vq7dd2m4hpl0aaaaaa" || !got.Equal(at) {
		t.Fatalf("ParseRunID(%q) = %q, %v, %v", id, job, got, err)
	}
	for _, bad := range []string{"", "-1", "abc", "abc-x", "ABC-1", "a/b-1"} {
		if _, _, err := ParseRunID(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("ParseRunID(%q) err = %v, want ErrNotFound", bad, err)
		}
	}
}

func TestNewIDShape(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !ValidJobID(id) || len(id) != 20 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func FuzzJobValidate(f *testing.F) {
	f.Add("ls -la", "5 * * * *", "command", "", "default", "", 60, 3)
	f.Add("", "@every 90s", "script", "Europe/Berlin", "x", "root", 0, 0)
	f.Add("echo", "0 0 1 * MON", "binary", "America/New_York", "-bad-", "nobody", 86401, 11)
	f.Add("x", "*/0 * * * *", "command", "Local", "batch", "a$", 1, 1)
	f.Fuzz(func(t *testing.T, exe, sched, typ, tz, pool, runAs string, timeout, attempts int) {
		j := &Job{Executable: exe, Schedule: sched, Type: JobType(typ), TimeZone: tz, Pool: pool,
			RunAs: runAs, TimeoutSec: timeout, MaxAttempts: attempts}
		j.ApplyDefaults()
		err := j.Validate()
		if err == nil {
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) == 0 {
			t.Fatalf("error is not a non-empty *ValidationError: %v", err)
		}
		for _, p := range ve.Problems {
			if p.Field == "" || p.Reason == "" {
				t.Fatalf("problem without field or reason: %+v", p)
			}
		}
	})
}
