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
