package sqs_test

import (
	"context"
	"testing"
	"time"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

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
	var proxy *faultproxy.Proxy
	fleetcrontest.TestQueue(t, func(t *testing.T) fleetcron.Queue {
		ep := emulator.Moto(t)
		admin := awssqs.NewFromConfig(emulator.Config(ep))
		urls, err := sqs.Provision(context.Background(), admin, "fc-"+fleetcron.NewID()[:8], pools, maxReceives)
		if err != nil {
			t.Fatal(err)
		}
		proxy = faultproxy.Start(t, ep, 0.10, false, 2026)
		return sqs.New(awssqs.NewFromConfig(emulator.Config(proxy.URL)), urls)
	}, fleetcrontest.QueueOptions{Pools: pools, MaxReceives: maxReceives, Tick: time.Second})
	if proxy == nil || proxy.Faults() == 0 {
		t.Fatal("no fault injected")
	}
	t.Log("fault proxy (last subtest):", proxy.Report())
}
