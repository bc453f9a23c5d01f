package harness_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	awssched "github.com/aws/aws-sdk-go-v2/service/scheduler"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/harness"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/scheduler"
)

func TestMain(m *testing.M) { emulator.Main(m) }

func schedules(t *testing.T, ep string) *scheduler.Schedules {
	c := awssched.NewFromConfig(emulator.Config(ep))
	if _, err := c.CreateScheduleGroup(context.Background(), &awssched.CreateScheduleGroupInput{Name: aws.String("fleetcron")}); err != nil {
		t.Fatal(err)
	}
	return scheduler.New(c, scheduler.Config{Group: "fleetcron",
		TargetARN: "arn:aws:lambda:us-east-1:123456789012:function:fleetcron-fire",
		RoleARN:   "arn:aws:iam::123456789012:role/fleetcron-scheduler"})
}

// The harness renders every stored schedule's Input for the instant, as
// Scheduler would, and delivers each.
func TestFireRendersStoredInputs(t *testing.T) {
	s := schedules(t, emulator.Moto(t))
	ctx := context.Background()
	j := &fleetcron.Job{ID: fleetcron.NewID(), Schedule: "0 0 1 * MON"}
	if err := s.PutSchedule(ctx, j); err != nil {
		t.Fatal(err)
	}
	var got []events.Fire
	h := harness.New(s, func(_ context.Context, input []byte) error {
		var f events.Fire
		if err := json.Unmarshal(input, &f); err != nil {
			return err
		}
		got = append(got, f)
		return nil
	})
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // the 1st and a Monday: both schedules
	n, err := h.Fire(ctx, j.ID, at)
	if err != nil || n != 2 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	for i, f := range got {
		if f.JobID != j.ID || f.ScheduledTime != "2026-06-01T00:00:00Z" || f.ExecutionID == "" || strings.Contains(f.ExecutionID, "<") {
			t.Fatalf("fire %d: %+v", i, f)
		}
	}
	j.Paused = true
	_ = s.PutSchedule(ctx, j)
	if n, _ := h.Fire(ctx, j.ID, at); n != 0 {
		t.Fatalf("a paused job's schedule fired %d times", n)
	}
}

func zipped(t *testing.T) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	f, _ := w.Create("bootstrap")
	f.Write([]byte("#!/bin/sh\n"))
	w.Close()
	return buf.Bytes()
}

// The Lambda Invoke path LocalStack uses, exercised against moto's Lambda
// API (configured to answer invocations without running them: no Docker).
func TestLambdaDeliverer(t *testing.T) {
	ep := emulator.Moto(t)
	ctx := context.Background()
	resp, err := http.Post(ep+"/moto-api/config", "application/json", strings.NewReader(`{"lambda":{"use_docker":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	role, err := iam.NewFromConfig(emulator.Config(ep)).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("fire"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	lc := awslambda.NewFromConfig(emulator.Config(ep))
	if _, err := lc.CreateFunction(ctx, &awslambda.CreateFunctionInput{FunctionName: aws.String("fleetcron-fire"),
		Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Role: role.Role.Arn,
		Code: &types.FunctionCode{ZipFile: zipped(t)}}); err != nil {
		t.Fatal(err)
	}
	s := schedules(t, ep)
	j := &fleetcron.Job{ID: fleetcron.NewID(), Schedule: "*/5 * * * *"}
	if err := s.PutSchedule(ctx, j); err != nil {
		t.Fatal(err)
	}
	rec := &recordingInvoker{Invoker: lc}
	h := harness.New(s, harness.LambdaDeliverer(rec, "fleetcron-fire"))
	if n, err := h.Fire(ctx, j.ID, time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)); err != nil || n != 1 {
		t.Fatalf("invoke path: %d %v", n, err)
	}
	var f events.Fire
	if len(rec.payloads) != 1 || json.Unmarshal(rec.payloads[0], &f) != nil || f.JobID != j.ID || f.ScheduledTime != "2026-11-22T10:05:00Z" {
		t.Fatalf("invoked with %q", rec.payloads)
	}
	if rec.status != 200 {
		t.Fatalf("Lambda answered %d", rec.status)
	}
}

// recordingInvoker keeps what was invoked and how Lambda answered.
type recordingInvoker struct {
	harness.Invoker
	payloads [][]byte
	status   int32
}

func (r *recordingInvoker) Invoke(ctx context.Context, in *awslambda.InvokeInput, opts ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error) {
	r.payloads = append(r.payloads, in.Payload)
	out, err := r.Invoker.Invoke(ctx, in, opts...)
	if err == nil {
		r.status = out.StatusCode
	}
	return out, err
}
