// Package scheduler implements fleetcron.Scheduler on Amazon EventBridge
// Scheduler: one schedule per job, or two when its crontab ORs day-of-month
// and day-of-week (named <job id>-a and <job id>-b), in the deployment's
// schedule group. Each schedule's target is the fire function, invoked with
// events.FireTemplate as Input: the job id and <aws.scheduler.scheduled-time>,
// which fleetcron's run lock is keyed on, so the two schedules of one job
// matching the same instant make one run. Expressions are converted and
// validated by package schedule before any call: the emulators accept
// expressions AWS refuses.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssched "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/schedule"
)

// Defaults of Config.
const (
	DefaultRetryAttempts = 3
	DefaultMaxEventAge   = 15 * time.Minute
)

// API is the part of the Scheduler client the adapter calls.
type API interface {
	CreateSchedule(ctx context.Context, in *awssched.CreateScheduleInput, opts ...func(*awssched.Options)) (*awssched.CreateScheduleOutput, error)
	UpdateSchedule(ctx context.Context, in *awssched.UpdateScheduleInput, opts ...func(*awssched.Options)) (*awssched.UpdateScheduleOutput, error)
	GetSchedule(ctx context.Context, in *awssched.GetScheduleInput, opts ...func(*awssched.Options)) (*awssched.GetScheduleOutput, error)
	DeleteSchedule(ctx context.Context, in *awssched.DeleteScheduleInput, opts ...func(*awssched.Options)) (*awssched.DeleteScheduleOutput, error)
}

// Config names a deployment's Scheduler resources.
type Config struct {
	Group         string // schedule group of the deployment
	TargetARN     string // the fire function
	RoleARN       string // the role Scheduler assumes: may invoke only the fire function
	DeadLetterARN string // SQS queue for deliveries that failed all retries
	RetryAttempts int32  // DefaultRetryAttempts when 0
	MaxEventAge   time.Duration
}

// Schedules is the adapter.
type Schedules struct {
	api API
	cfg Config
}

var (
	_ fleetcron.Scheduler      = (*Schedules)(nil)
	_ fleetcron.ScheduleReader = (*Schedules)(nil)
)

// New returns the adapter.
func New(api API, cfg Config) *Schedules {
	if cfg.RetryAttempts == 0 {
		cfg.RetryAttempts = DefaultRetryAttempts
	}
	if cfg.MaxEventAge == 0 {
		cfg.MaxEventAge = DefaultMaxEventAge
	}
	return &Schedules{api: api, cfg: cfg}
}

var suffixes = []string{"a", "b"}

func name(jobID, suffix string) string { return jobID + "-" + suffix }

func notFound(err error) bool {
	var nf *types.ResourceNotFoundException
	return errors.As(err, &nf)
}

func conflict(err error) bool {
	var c *types.ConflictException
	return errors.As(err, &c)
}

// PutSchedule creates or replaces the schedules of a job.
func (s *Schedules) PutSchedule(ctx context.Context, j *fleetcron.Job) error {
	exprs, err := schedule.ToEventBridge(j.Schedule, j.TimeZone)
	if err != nil {
		return fmt.Errorf("scheduler: job %s: %w", j.ID, errors.Join(fleetcron.ErrInvalid, err))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	state := types.ScheduleStateEnabled
	if j.Paused || j.Deleted() {
		state = types.ScheduleStateDisabled
	}
	window := &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeOff}
	if j.JitterSec >= 60 {
		window = &types.FlexibleTimeWindow{Mode: types.FlexibleTimeWindowModeFlexible,
			MaximumWindowInMinutes: aws.Int32(int32(j.JitterSec / 60))}
	}
	for i, e := range exprs {
		suffix := suffixes[i]
		target := &types.Target{Arn: aws.String(s.cfg.TargetARN), RoleArn: aws.String(s.cfg.RoleARN),
			Input: aws.String(events.FireTemplate(j.ID, suffix)),
			RetryPolicy: &types.RetryPolicy{MaximumRetryAttempts: aws.Int32(s.cfg.RetryAttempts),
				MaximumEventAgeInSeconds: aws.Int32(int32(s.cfg.MaxEventAge / time.Second))}}
		if s.cfg.DeadLetterARN != "" {
			target.DeadLetterConfig = &types.DeadLetterConfig{Arn: aws.String(s.cfg.DeadLetterARN)}
		}
		var tz *string
		if e.TimeZone != "" {
			tz = aws.String(e.TimeZone)
		}
		in := &awssched.UpdateScheduleInput{Name: aws.String(name(j.ID, suffix)), GroupName: aws.String(s.cfg.Group),
			ScheduleExpression: aws.String(e.Expression), ScheduleExpressionTimezone: tz,
			FlexibleTimeWindow: window, Target: target, State: state,
			Description: aws.String(fmt.Sprintf("fleetcron job %s: %s", j.ID, j.Schedule))}
		_, err := s.api.UpdateSchedule(ctx, in)
		if notFound(err) {
			_, err = s.api.CreateSchedule(ctx, &awssched.CreateScheduleInput{Name: in.Name, GroupName: in.GroupName,
				ScheduleExpression: in.ScheduleExpression, ScheduleExpressionTimezone: in.ScheduleExpressionTimezone,
				FlexibleTimeWindow: in.FlexibleTimeWindow, Target: in.Target, State: in.State, Description: in.Description})
			if conflict(err) {
				// Created meanwhile: by a concurrent put, or by our own
				// create whose answer was lost and which the SDK retried.
				// Replace it with what this put asks for.
				_, err = s.api.UpdateSchedule(ctx, in)
			}
		}
		if err != nil {
			return fmt.Errorf("scheduler: put schedule %s: %w", name(j.ID, suffix), err)
		}
	}
	// A job that needed two schedules and now needs one: drop the stale one.
	for _, suffix := range suffixes[len(exprs):] {
		if err := s.delete(ctx, name(j.ID, suffix)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Schedules) delete(ctx context.Context, n string) error {
	_, err := s.api.DeleteSchedule(ctx, &awssched.DeleteScheduleInput{Name: aws.String(n), GroupName: aws.String(s.cfg.Group)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("scheduler: delete schedule %s: %w", n, err)
	}
	return nil
}

// DeleteSchedule removes a job's schedules. Idempotent.
func (s *Schedules) DeleteSchedule(ctx context.Context, jobID string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, suffix := range suffixes {
		if err := s.delete(ctx, name(jobID, suffix)); err != nil {
			return err
		}
	}
	return nil
}

// GetSchedule reads back a job's schedules.
func (s *Schedules) GetSchedule(ctx context.Context, jobID string) (fleetcron.ScheduleInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	info := fleetcron.ScheduleInfo{JobID: jobID}
	for _, suffix := range suffixes {
		out, err := s.Describe(ctx, jobID, suffix)
		if notFound(err) {
			if suffix == "a" {
				return info, fmt.Errorf("scheduler: schedule of job %s: %w", jobID, fleetcron.ErrNotFound)
			}
			break
		}
		if err != nil {
			return info, err
		}
		info.Expressions = append(info.Expressions, aws.ToString(out.ScheduleExpression))
		info.TimeZone = aws.ToString(out.ScheduleExpressionTimezone)
		info.Enabled = out.State == types.ScheduleStateEnabled
		if out.Target != nil {
			info.Inputs = append(info.Inputs, aws.ToString(out.Target.Input))
		}
	}
	return info, nil
}

// Describe returns one schedule of a job as Scheduler stores it (suffix
// "a" or "b"); the harness and tests read targets and retry policies here.
func (s *Schedules) Describe(ctx context.Context, jobID, suffix string) (*awssched.GetScheduleOutput, error) {
	out, err := s.api.GetSchedule(ctx, &awssched.GetScheduleInput{Name: aws.String(name(jobID, suffix)), GroupName: aws.String(s.cfg.Group)})
	if err != nil {
		return nil, fmt.Errorf("scheduler: get schedule %s: %w", name(jobID, suffix), err)
	}
	return out, nil
}
