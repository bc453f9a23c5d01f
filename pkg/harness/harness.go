// Package harness stands in for the one thing no emulator does for
// fleetcron: firing schedules. It reads a job's schedules back through the
// Scheduler API (moto here, LocalStack there), renders each schedule's Input
// for a due instant exactly as EventBridge Scheduler would — the
// <aws.scheduler.*> placeholders replaced — and delivers it to the fire
// handler: in process here, through Lambda Invoke on LocalStack.
package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// Deliverer hands a rendered Input to the fire function.
type Deliverer func(ctx context.Context, input []byte) error

// Harness fires stored schedules.
type Harness struct {
	schedules fleetcron.ScheduleReader
	deliver   Deliverer
	seq       int
}

// New returns a harness over a schedule reader and a deliverer.
func New(schedules fleetcron.ScheduleReader, deliver Deliverer) *Harness {
	return &Harness{schedules: schedules, deliver: deliver}
}

// Render replaces Scheduler's context placeholders in an Input template.
func Render(template string, at time.Time, executionID string) string {
	r := strings.NewReplacer(
		"<aws.scheduler.scheduled-time>", at.UTC().Format(time.RFC3339),
		"<aws.scheduler.execution-id>", executionID,
		"<aws.scheduler.attempt-number>", "1")
	return r.Replace(template)
}

// Fire delivers every enabled schedule of the job for instant at (a job
// whose crontab ORs days has two; the run lock makes them one run). It
// returns how many Inputs it delivered.
func (h *Harness) Fire(ctx context.Context, jobID string, at time.Time) (int, error) {
	info, err := h.schedules.GetSchedule(ctx, jobID)
	if err != nil {
		return 0, fmt.Errorf("harness: schedules of job %s: %w", jobID, err)
	}
	if !info.Enabled {
		return 0, nil
	}
	n := 0
	for _, tpl := range info.Inputs {
		h.seq++
		input := Render(tpl, at, fmt.Sprintf("harness-%d", h.seq))
		var f events.Fire
		if err := json.Unmarshal([]byte(input), &f); err != nil || f.JobID != jobID {
			return n, fmt.Errorf("harness: schedule input of job %s is not a fire: %s", jobID, input)
		}
		if err := h.deliver(ctx, []byte(input)); err != nil {
			return n, fmt.Errorf("harness: deliver fire of job %s at %s: %w", jobID, at, err)
		}
		n++
	}
	return n, nil
}

// Invoker is the one Lambda call the harness makes.
type Invoker interface {
	Invoke(ctx context.Context, in *awslambda.InvokeInput, opts ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error)
}

// LambdaDeliverer delivers fires by invoking the deployed fire function, as
// Scheduler does (LocalStack, or an emulator's Lambda API).
func LambdaDeliverer(api Invoker, function string) Deliverer {
	return func(ctx context.Context, input []byte) error {
		out, err := api.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(function), Payload: input})
		if err != nil {
			return fmt.Errorf("invoke %s: %w", function, err)
		}
		if out.FunctionError != nil {
			return fmt.Errorf("invoke %s: function error %s: %s", function, aws.ToString(out.FunctionError), out.Payload)
		}
		if out.StatusCode < 200 || out.StatusCode > 299 {
			return fmt.Errorf("invoke %s: status %d", function, out.StatusCode)
		}
		return nil
	}
}
