package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssched "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/scheduler/types"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/fleetcron/fleetcrontest"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/internal/faultproxy"
	"github.com/fleetcron/fleetcron/pkg/scheduler"
)

func TestMain(m *testing.M) { emulator.Main(m) }

var cfg = scheduler.Config{
	TargetARN:     "arn:aws:lambda:us-east-1:123456789012:function:fleetcron-fire",
	RoleARN:       "arn:aws:iam::123456789012:role/fleetcron-scheduler",
	DeadLetterARN: "arn:aws:sqs:us-east-1:123456789012:fleetcron-fire-dlq",
}

func newSchedules(t *testing.T) *scheduler.Schedules {
	return newSchedulesVia(t, emulator.Moto(t))
}

// newSchedulesVia creates a schedule group on moto and returns the adapter
// on it, calling Scheduler through via (a fault proxy, or moto itself).
func newSchedulesVia(t *testing.T, via string) *scheduler.Schedules {
	admin := awssched.NewFromConfig(emulator.Config(emulator.Moto(t)))
	c := cfg
	c.Group = "fleetcron-" + fleetcron.NewID()[:8]
	if _, err := admin.CreateScheduleGroup(context.Background(), &awssched.CreateScheduleGroupInput{Name: aws.String(c.Group)}); err != nil {
		t.Fatal(err)
	}
	return scheduler.New(awssched.NewFromConfig(emulator.Config(via)), c)
}

func TestContract(t *testing.T) {
	fleetcrontest.TestScheduler(t, func(t *testing.T) (fleetcron.Scheduler, fleetcron.ScheduleReader) {
		s := newSchedules(t)
		return s, s
	})
}

// The suite behind a proxy that fails a tenth of the requests, before or
// after they reach the emulator: a create answered late and retried meets
// its own schedule (ConflictException) and becomes an update.
func TestContractUnderFaults(t *testing.T) {
	proxy := faultproxy.Start(t, emulator.Moto(t), 0.10, true, 2026)
	fleetcrontest.TestScheduler(t, func(t *testing.T) (fleetcron.Scheduler, fleetcron.ScheduleReader) {
		s := newSchedulesVia(t, proxy.URL)
		return s, s
	})
	if proxy.Faults() == 0 {
		t.Fatal("no fault injected: the test proves nothing")
	}
	t.Log("fault proxy:", proxy.Report())
}

// Every create, update and delete is applied and its first answer lost:
// the retried create meets its own schedule, the retried delete finds none,
// and the suite still passes.
func TestContractEveryFirstAnswerLost(t *testing.T) {
	proxy := emulator.LoseFirstAnswers(t, emulator.Moto(t), emulator.RESTWrite)
	fleetcrontest.TestScheduler(t, func(t *testing.T) (fleetcron.Scheduler, fleetcron.ScheduleReader) {
		s := newSchedulesVia(t, proxy.URL)
		return s, s
	})
	if proxy.Lost() == 0 {
		t.Fatal("no answer lost: the test proves nothing")
	}
	t.Logf("%d write answers lost", proxy.Lost())
}

// What Scheduler stores is what the job asked for.
func TestStoredSchedule(t *testing.T) {
	s := newSchedules(t)
	ctx := context.Background()
	j := &fleetcron.Job{ID: fleetcron.NewID(), Schedule: "0 0 1 * MON", TimeZone: "Europe/Berlin", JitterSec: 300}
	if err := s.PutSchedule(ctx, j); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "cron(0 0 1 * ? *)", "b": "cron(0 0 ? * 2 *)"}
	for suffix, expr := range want {
		out, err := s.Describe(ctx, j.ID, suffix)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ScheduleExpression) != expr || aws.ToString(out.ScheduleExpressionTimezone) != "Europe/Berlin" ||
			out.State != types.ScheduleStateEnabled {
			t.Fatalf("%s: %s in %s, %s", suffix, aws.ToString(out.ScheduleExpression), aws.ToString(out.ScheduleExpressionTimezone), out.State)
		}
		tg := out.Target
		if aws.ToString(tg.Arn) != cfg.TargetARN || aws.ToString(tg.RoleArn) != cfg.RoleARN ||
			tg.DeadLetterConfig == nil || aws.ToString(tg.DeadLetterConfig.Arn) != cfg.DeadLetterARN {
			t.Fatalf("%s: target %+v", suffix, tg)
		}
		if tg.RetryPolicy == nil || aws.ToInt32(tg.RetryPolicy.MaximumRetryAttempts) != scheduler.DefaultRetryAttempts ||
			aws.ToInt32(tg.RetryPolicy.MaximumEventAgeInSeconds) != 900 {
			t.Fatalf("%s: retry policy %+v", suffix, tg.RetryPolicy)
		}
		if out.FlexibleTimeWindow == nil || out.FlexibleTimeWindow.Mode != types.FlexibleTimeWindowModeFlexible ||
			aws.ToInt32(out.FlexibleTimeWindow.MaximumWindowInMinutes) != 5 {
			t.Fatalf("%s: window %+v", suffix, out.FlexibleTimeWindow)
		}
		var f events.Fire
		if err := json.Unmarshal([]byte(aws.ToString(tg.Input)), &f); err != nil || f.JobID != j.ID ||
			f.ScheduledTime != "<aws.scheduler.scheduled-time>" || f.Schedule != suffix {
			t.Fatalf("%s: input %s", suffix, aws.ToString(tg.Input))
		}
	}
	// Garbage never reaches Scheduler (the emulator would accept it).
	bad := &fleetcron.Job{ID: fleetcron.NewID(), Schedule: "every full moon"}
	if err := s.PutSchedule(ctx, bad); !errors.Is(err, fleetcron.ErrInvalid) {
		t.Fatalf("bad schedule: %v", err)
	}
	if _, err := s.GetSchedule(ctx, bad.ID); !errors.Is(err, fleetcron.ErrNotFound) {
		t.Fatalf("a schedule was stored for a bad expression: %v", err)
	}
}
