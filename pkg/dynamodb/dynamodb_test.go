package dynamodb_test

import (
	"context"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/fleetcron/fleetcron/pkg/dynamodb"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/fleetcron/fleetcrontest"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/internal/faultproxy"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// backends are the emulators every suite runs on: moto, and AWS's DynamoDB
// Local (atomic conditional writes).
var backends = []struct {
	name     string
	endpoint func(testing.TB) string
	opts     []fleetcrontest.Option
}{
	{"moto", emulator.Moto, []fleetcrontest.Option{fleetcrontest.WithoutAtomicity(
		"moto's DynamoDB does not serialize conditional writes; the concurrent cases run on DynamoDB Local")}},
	{"DynamoDBLocal", emulator.DynamoDBLocal, nil},
}

// newStore creates a fresh table on the backend and returns a store on it.
func newStore(t *testing.T, endpoint string) *dynamodb.Store {
	return newStoreVia(t, endpoint, endpoint)
}

// newStoreVia creates the table directly on the emulator and returns a
// store whose calls go through via (a fault proxy).
func newStoreVia(t *testing.T, endpoint, via string) *dynamodb.Store {
	t.Helper()
	admin := ddb.NewFromConfig(emulator.Config(endpoint))
	table := "fleetcron-" + fleetcron.NewID()
	if err := dynamodb.CreateTable(context.Background(), admin, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: &table}) })
	return dynamodb.New(ddb.NewFromConfig(emulator.Config(via)), table)
}

func TestContract(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ep := be.endpoint(t)
			t.Run("JobStore", func(t *testing.T) {
				fleetcrontest.TestJobStore(t, func(t *testing.T) fleetcron.JobStore { return newStore(t, ep) }, be.opts...)
			})
			t.Run("RunStore", func(t *testing.T) {
				fleetcrontest.TestRunStore(t, func(t *testing.T) fleetcron.RunStore { return newStore(t, ep) }, be.opts...)
			})
			t.Run("AgentStore", func(t *testing.T) {
				fleetcrontest.TestAgentStore(t, func(t *testing.T) fleetcron.AgentStore { return newStore(t, ep) })
			})
			t.Run("TokenStore", func(t *testing.T) {
				fleetcrontest.TestTokenStore(t, func(t *testing.T) fleetcron.TokenStore { return newStore(t, ep) })
			})
		})
	}
}

// FaultShare is the part of requests the fault-injecting proxy answers with a
// fault (500, 503, throttling, reset; half of them after the write reached
// the emulator, so the client's retry finds its own write).
const FaultShare = 0.10

// The contract suites still pass behind a proxy that fails a tenth of the
// requests: nothing lost, nothing duplicated.
func TestContractUnderFaults(t *testing.T) {
	ep := emulator.DynamoDBLocal(t)
	proxy := faultproxy.Start(t, ep, FaultShare, true, 2026)
	t.Run("JobStore", func(t *testing.T) {
		fleetcrontest.TestJobStore(t, func(t *testing.T) fleetcron.JobStore { return newStoreVia(t, ep, proxy.URL) })
	})
	t.Run("RunStore", func(t *testing.T) {
		fleetcrontest.TestRunStore(t, func(t *testing.T) fleetcron.RunStore { return newStoreVia(t, ep, proxy.URL) })
	})
	t.Run("AgentStore", func(t *testing.T) {
		fleetcrontest.TestAgentStore(t, func(t *testing.T) fleetcron.AgentStore { return newStoreVia(t, ep, proxy.URL) })
	})
	t.Run("TokenStore", func(t *testing.T) {
		fleetcrontest.TestTokenStore(t, func(t *testing.T) fleetcron.TokenStore { return newStoreVia(t, ep, proxy.URL) })
	})
	if proxy.Faults() == 0 {
		t.Fatal("no fault injected: the test proves nothing")
	}
	t.Log("fault proxy:", proxy.Report())
}

// Every write is applied and its first answer lost: each store operation
// must recognise its own write on the retry (or be idempotent), and still
// refuse a duplicate from anyone else. Runs on DynamoDB Local, which, like
// AWS, honours the client request token of a transaction.
func TestContractEveryFirstAnswerLost(t *testing.T) {
	ep := emulator.DynamoDBLocal(t)
	proxy := emulator.LoseFirstAnswers(t, ep, emulator.DynamoDBWrite)
	t.Run("JobStore", func(t *testing.T) {
		fleetcrontest.TestJobStore(t, func(t *testing.T) fleetcron.JobStore { return newStoreVia(t, ep, proxy.URL) })
	})
	t.Run("RunStore", func(t *testing.T) {
		fleetcrontest.TestRunStore(t, func(t *testing.T) fleetcron.RunStore { return newStoreVia(t, ep, proxy.URL) })
	})
	t.Run("AgentStore", func(t *testing.T) {
		fleetcrontest.TestAgentStore(t, func(t *testing.T) fleetcron.AgentStore { return newStoreVia(t, ep, proxy.URL) })
	})
	t.Run("TokenStore", func(t *testing.T) {
		fleetcrontest.TestTokenStore(t, func(t *testing.T) fleetcron.TokenStore { return newStoreVia(t, ep, proxy.URL) })
	})
	if proxy.Lost() == 0 {
		t.Fatal("no answer lost: the test proves nothing")
	}
	t.Logf("%d write answers lost", proxy.Lost())
}
