package sqs_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/fleetcron/fleetcrontest"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/internal/faultproxy"
	"github.com/fleetcron/fleetcron/pkg/sqs"
)

func TestMain(m *testing.M) { emulator.Main(m) }

const maxReceives = 3

func TestContract(t *testing.T) {
	pools := []string{"default", "batch"}
	fleetcrontest.TestQueue(t, func(t *testing.T) fleetcron.Queue {
		client := awssqs.NewFromConfig(emulator.Config(emulator.Moto(t)))
		urls, err := sqs.Provision(context.Background(), client, "fc-"+fleetcron.NewID()[:8], pools, maxReceives)
		if err != nil {
			t.Fatal(err)
		}
		return sqs.New(client, urls)
	}, fleetcrontest.QueueOptions{Pools: pools, MaxReceives: maxReceives, Tick: time.Second})
}

func TestUnknownPool(t *testing.T) {
	q := sqs.New(nil, map[string]string{})
	if err := q.Send(context.Background(), "nope", events.RunMessage{RunID: "a-1", JobID: "a", Pool: "nope"}, 0); err == nil {
		t.Fatal("send to an unknown pool succeeded")
	}
}

// The queue suite behind a proxy that fails a tenth of the requests before
// they reach the emulator (500, 503, throttling, reset). Faults after a
// send would duplicate the message — SQS standard queues deliver at least
// once anyway, and the agents' fenced claims absorb duplicates — so the
// "nothing duplicated" check is held only against faults before the call.
func TestContractUnderFaults(t *testing.T) {
	pools := []string{"default", "batch"}
	proxy := faultproxy.Start(t, emulator.Moto(t), 0.10, false, 2026)
	fleetcrontest.TestQueue(t, func(t *testing.T) fleetcron.Queue {
		admin := awssqs.NewFromConfig(emulator.Config(emulator.Moto(t)))
		urls, err := sqs.Provision(context.Background(), admin, "fc-"+fleetcron.NewID()[:8], pools, maxReceives)
		if err != nil {
			t.Fatal(err)
		}
		return sqs.New(awssqs.NewFromConfig(emulator.Config(proxy.URL)), urls)
	}, fleetcrontest.QueueOptions{Pools: pools, MaxReceives: maxReceives, Tick: time.Second})
	if proxy.Faults() == 0 {
		t.Fatal("no fault injected: the test proves nothing")
	}
	t.Log("fault proxy:", proxy.Report())
}

// fakeAPI answers ReceiveMessage from a script and records the receipt
// handles of deletes and visibility changes.
type fakeAPI struct {
	sqs.API
	receive func() []types.Message
	deleted []string
	changed []string
}

func (f *fakeAPI) ReceiveMessage(context.Context, *awssqs.ReceiveMessageInput, ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error) {
	return &awssqs.ReceiveMessageOutput{Messages: f.receive()}, nil
}

func (f *fakeAPI) DeleteMessage(_ context.Context, in *awssqs.DeleteMessageInput, _ ...func(*awssqs.Options)) (*awssqs.DeleteMessageOutput, error) {
	f.deleted = append(f.deleted, aws.ToString(in.ReceiptHandle))
	return &awssqs.DeleteMessageOutput{}, nil
}

func (f *fakeAPI) ChangeMessageVisibility(_ context.Context, in *awssqs.ChangeMessageVisibilityInput, _ ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityOutput, error) {
	f.changed = append(f.changed, aws.ToString(in.ReceiptHandle))
	return &awssqs.ChangeMessageVisibilityOutput{}, nil
}

func message(id, receipt string) types.Message {
	return types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String(receipt),
		Body: aws.String(`{"run_id":"a-1","job_id":"a","pool":"default"}`)}
}

// A second delivery of a message in flight (SQS's at-least-once, moto's
// unlocked receive) is not handed out again; the delete uses its newest
// receipt handle. Once released, the message is handed out again.
func TestDuplicateDeliveryInFlight(t *testing.T) {
	ctx := context.Background()
	script := [][]types.Message{{message("m1", "r1")}, {message("m1", "r2")}, {message("m1", "r3")}}
	api := &fakeAPI{receive: func() []types.Message { m := script[0]; script = script[1:]; return m }}
	q := sqs.New(api, map[string]string{"default": "http://127.0.0.1:1/q"})
	first, _ := q.Receive(ctx, "default", 10, time.Minute, 0)
	dup, _ := q.Receive(ctx, "default", 10, time.Minute, 0)
	if len(first) != 1 || len(dup) != 0 {
		t.Fatalf("first %d, duplicate %d deliveries; want 1 and 0", len(first), len(dup))
	}
	if err := q.ChangeVisibility(ctx, "default", first[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	if len(api.changed) != 1 || api.changed[0] != "r2" {
		t.Fatalf("release used receipts %q, want the newest, r2", api.changed)
	}
	again, _ := q.Receive(ctx, "default", 10, time.Minute, 0)
	if len(again) != 1 || again[0].Receipt != "r3" {
		t.Fatalf("after the release: %+v, want the message with r3", again)
	}
	if err := q.Delete(ctx, "default", again[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if len(api.deleted) != 1 || api.deleted[0] != "r3" {
		t.Fatalf("deleted %q, want r3", api.deleted)
	}
}
