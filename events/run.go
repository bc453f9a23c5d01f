package events

// RunMessage is the body of a queue message: a run waiting for an agent of
// its pool. It names the run only; the agent claims the run record, which
// holds what to execute, so a message delivered twice cannot run twice.
type RunMessage struct {
	RunID         string `json:"run_id"`
	JobID         string `json:"job_id"`
	ScheduledTime string `json:"scheduled_time"`
	Pool          string `json:"pool"`
}
