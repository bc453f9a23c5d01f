package fleetcron

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/fleetcron/fleetcron/pkg/schedule"
)

// JobType says what a job's executable is.
type JobType string

// Job types.
const (
	TypeCommand JobType = "command" // a shell command line, run with /bin/sh -c
	TypeScript  JobType = "script"  // an uploaded script, stored by sha256
	TypeBinary  JobType = "binary"  // an uploaded executable, stored by sha256
)

// JobStatus is the job's lifecycle status (the seed API's "status").
type JobStatus string

// Job statuses.
const (
	JobScheduled JobStatus = "scheduled" // will fire again
	JobFinished  JobStatus = "finished"  // will not fire again: a one-time job done, or deleted
	JobError     JobStatus = "error"     // its last run failed (it still fires unless deleted)
)

// OverlapPolicy says what a fire does while an earlier run of the job is active.
type OverlapPolicy string

// Overlap policies.
const (
	OverlapAllow   OverlapPolicy = "allow"   // run both
	OverlapForbid  OverlapPolicy = "forbid"  // record the new run as skipped
	OverlapReplace OverlapPolicy = "replace" // cancel the active run, run the new one
)

// Defaults and limits of job fields.
const (
	DefaultPool         = "default"
	DefaultTimeout      = time.Hour
	MaxTimeout          = 24 * time.Hour
	DefaultMaxAttempts  = 3
	MaxMaxAttempts      = 10
	DefaultRetryBackoff = 30 * time.Second
	MaxRetryBackoff     = 15 * time.Minute // SQS's longest delay
	MaxExecutableLen    = 4096
	MaxNameLen          = 200
	MaxEnvVars          = 64
	MaxEnvBytes         = 16 << 10
	MaxArgs             = 64
	MaxJitter           = 15 * time.Minute
	// MaxContentSize is the largest script or binary a job may carry (decoded).
	MaxContentSize = 16 << 20
	// RootUser is the run_as value only admins may ask for.
	RootUser = "root"
)

// Job is a scheduled unit of work. The seed API's fields (id, status,
// executable, schedule, type) come first and keep their names.
type Job struct {
	ID         string    `json:"id"`
	Status     JobStatus `json:"status"`
	Executable string    `json:"executable"`
	Schedule   string    `json:"schedule"`
	Type       JobType   `json:"type"`

	Name           string            `json:"name,omitempty"`
	TimeZone       string            `json:"timezone,omitempty"`
	Args           []string          `json:"args,omitempty"`
	TimeoutSec     int               `json:"timeout_seconds"`
	MaxAttempts    int               `json:"max_attempts"`
	RetryOnFailure bool              `json:"retry_on_failure,omitempty"`
	RetryBackoffS  int               `json:"retry_backoff_seconds"`
	Overlap        OverlapPolicy     `json:"overlap"`
	Pool           string            `json:"pool"`
	Env            map[string]string `json:"env,omitempty"`
	RunAs          string            `json:"run_as,omitempty"`
	Paused         bool              `json:"paused"`
	JitterSec      int               `json:"jitter_seconds,omitempty"`

	ContentSHA256 string `json:"content_sha256,omitempty"`
	ContentSize   int64  `json:"content_size,omitempty"`

	Owner     string    `json:"owner,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	DeletedAt time.Time `json:"deleted_at,omitzero"`

	LastRunAt    time.Time `json:"last_run_at,omitzero"`
	LastRunID    string    `json:"last_run_id,omitempty"`
	LastRunState RunState  `json:"last_run_state,omitempty"`
	// Version increments on every write; updates are conditional on it.
	Version int64 `json:"version"`
}

// Timeout is the job's timeout as a duration.
func (j *Job) Timeout() time.Duration { return time.Duration(j.TimeoutSec) * time.Second }

// RetryBackoff is the delay before a failed run is retried.
func (j *Job) RetryBackoff() time.Duration { return time.Duration(j.RetryBackoffS) * time.Second }

// Deleted reports whether a user deleted the job.
func (j *Job) Deleted() bool { return !j.DeletedAt.IsZero() }

// ApplyDefaults fills the zero fields that have defaults.
func (j *Job) ApplyDefaults() {
	if j.Type == "" {
		j.Type = TypeCommand
	}
	if j.TimeoutSec == 0 {
		j.TimeoutSec = int(DefaultTimeout / time.Second)
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = DefaultMaxAttempts
	}
	if j.RetryBackoffS == 0 {
		j.RetryBackoffS = int(DefaultRetryBackoff / time.Second)
	}
	if j.Overlap == "" {
		j.Overlap = OverlapAllow
	}
	if j.Pool == "" {
		j.Pool = DefaultPool
	}
	if j.Status == "" {
		j.Status = JobScheduled
	}
}

var (
	poolRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	envKeyRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	userRe   = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}\$?$`)
	sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)
	jobIDRe  = regexp.MustCompile(`^[a-z0-9]{1,64}$`)
	reserved = "FLEETCRON_"
)

// Validate returns a *ValidationError listing every problem with the job's
// user-settable fields, or nil. It expects ApplyDefaults to have run.
func (j *Job) Validate() error {
	v := &ValidationError{}
	switch j.Type {
	case TypeCommand:
		if strings.TrimSpace(j.Executable) == "" {
			v.Add("executable", "must not be empty for a command job")
		}
		if len(j.Args) > 0 {
			v.Add("args", "only script and binary jobs take args; put them in executable")
		}
	case TypeScript, TypeBinary:
		if !sha256Re.MatchString(j.ContentSHA256) {
			v.Add("content", "a %s job needs its file in content (base64)", j.Type)
		}
		if j.ContentSize < 0 || j.ContentSize > MaxContentSize {
			v.Add("content", "size %d bytes is over the limit of %d bytes", j.ContentSize, MaxContentSize)
		}
	default:
		v.Add("type", "unknown type %q: want command, script or binary", j.Type)
	}
	if len(j.Executable) > MaxExecutableLen {
		v.Add("executable", "longer than %d bytes", MaxExecutableLen)
	}
	if strings.ContainsRune(j.Executable, 0) {
		v.Add("executable", "must not contain NUL bytes")
	}
	if len(j.Args) > MaxArgs {
		v.Add("args", "more than %d args", MaxArgs)
	}
	for i, a := range j.Args {
		if strings.ContainsRune(a, 0) {
			v.Add("args", "arg %d contains a NUL byte", i)
		}
	}
	if len(j.Name) > MaxNameLen {
		v.Add("name", "longer than %d bytes", MaxNameLen)
	}
	if strings.TrimSpace(j.Schedule) == "" {
		v.Add("schedule", "must not be empty")
	} else if _, err := schedule.Parse(j.Schedule, j.TimeZone); err != nil {
		var se *schedule.Error
		if errors.As(err, &se) {
			v.Add(se.Field, "%s", se.Reason)
		} else {
			v.Add("schedule", "%v", err)
		}
	}
	if j.TimeoutSec < 1 || time.Duration(j.TimeoutSec)*time.Second > MaxTimeout {
		v.Add("timeout_seconds", "must be between 1 and %d", int(MaxTimeout/time.Second))
	}
	if j.MaxAttempts < 1 || j.MaxAttempts > MaxMaxAttempts {
		v.Add("max_attempts", "must be between 1 and %d", MaxMaxAttempts)
	}
	if j.RetryBackoffS < 0 || time.Duration(j.RetryBackoffS)*time.Second > MaxRetryBackoff {
		v.Add("retry_backoff_seconds", "must be between 0 and %d", int(MaxRetryBackoff/time.Second))
	}
	if j.JitterSec < 0 || time.Duration(j.JitterSec)*time.Second > MaxJitter {
		v.Add("jitter_seconds", "must be between 0 and %d", int(MaxJitter/time.Second))
	} else if j.JitterSec%60 != 0 {
		v.Add("jitter_seconds", "must be whole minutes (a multiple of 60)")
	}
	switch j.Overlap {
	case OverlapAllow, OverlapForbid, OverlapReplace:
	default:
		v.Add("overlap", "unknown policy %q: want allow, forbid or replace", j.Overlap)
	}
	if !poolRe.MatchString(j.Pool) {
		v.Add("pool", "must be 1-40 of a-z, 0-9 and '-', starting with a letter or digit")
	}
	if j.RunAs != "" && !userRe.MatchString(j.RunAs) {
		v.Add("run_as", "%q is not a valid user name", j.RunAs)
	}
	if len(j.Env) > MaxEnvVars {
		v.Add("env", "more than %d variables", MaxEnvVars)
	}
	size := 0
	for k, val := range j.Env {
		size += len(k) + len(val)
		switch {
		case !envKeyRe.MatchString(k):
			v.Add("env", "%q is not a valid variable name", k)
		case strings.HasPrefix(k, reserved):
			v.Add("env", "%q: names starting with %s are reserved", k, reserved)
		}
		if strings.ContainsRune(val, 0) {
			v.Add("env", "value of %q contains a NUL byte", k)
		}
	}
	if size > MaxEnvBytes {
		v.Add("env", "larger than %d bytes", MaxEnvBytes)
	}
	return v.Err()
}

// ValidJobID reports whether id has the shape of a job id.
func ValidJobID(id string) bool { return jobIDRe.MatchString(id) }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random identifier of 20 lowercase letters and digits.
func NewID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // cannot happen on supported platforms
	}
	return idEncoding.EncodeToString(b[:])[:20]
}
