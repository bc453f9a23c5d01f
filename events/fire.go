package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Fire is the Input of a job's EventBridge Scheduler schedule, and what the
// embedded cron ticker hands to the fire service. The schedule's Input template
// carries the job id and the placeholder <aws.scheduler.scheduled-time>, which
// Scheduler replaces with the instant the fire is for; it never changes across
// delivery retries, unlike <aws.scheduler.execution-id>, which is therefore
// only logged and never used as a key.
type Fire struct {
	JobID string `json:"job_id"`
	// ScheduledTime is the scheduled instant, RFC 3339 (Scheduler renders UTC
	// with a Z suffix and whole seconds).
	ScheduledTime string `json:"scheduled_time"`
	// Schedule names which of the job's schedules fired ("a" or "b": a job
	// whose crontab ORs day-of-month and day-of-week has two).
	Schedule string `json:"schedule,omitempty"`
	// ExecutionID is <aws.scheduler.execution-id>, for logs.
	ExecutionID string `json:"execution_id,omitempty"`
	// Manual is set by "run now".
	Manual bool `json:"manual,omitempty"`
}

// FireTemplate is the Input template stored in a schedule: Fire with the
// Scheduler's context placeholders.
func FireTemplate(jobID, schedule string) string {
	// The placeholders must reach Scheduler verbatim: json.Marshal would
	// escape < and > as \u003c and \u003e, which Scheduler does not replace.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Fire{
		JobID:         jobID,
		ScheduledTime: "<aws.scheduler.scheduled-time>",
		Schedule:      schedule,
		ExecutionID:   "<aws.scheduler.execution-id>",
	}); err != nil {
		panic(err) // a struct of strings always marshals
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Time parses ScheduledTime.
func (f Fire) Time() (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, f.ScheduledTime)
	if err != nil {
		return time.Time{}, fmt.Errorf("fire for job %q: scheduled_time %q: %w", f.JobID, f.ScheduledTime, err)
	}
	return t.UTC(), nil
}
