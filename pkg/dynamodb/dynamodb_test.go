package dynamodb_test

import (
	"context"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/fleetcron/fleetcron/pkg/dynamodb"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/fleetcron/fleetcrontest"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// backends are the emulators every suite runs on: moto, and AWS's DynamoDB
// Local (atomic conditional writes).
var backends = []struct {
	name     string
	endpoint func(testing.TB) string
}{
	{"moto", emulator.Moto},
	{"DynamoDBLocal", emulator.DynamoDBLocal},
}

// newStore creates a fresh table on the backend and returns a store on it.
func newStore(t *testing.T, endpoint string) *dynamodb.Store {
	t.Helper()
	client := ddb.NewFromConfig(emulator.Config(endpoint))
	table := "fleetcron-" + fleetcron.NewID()
	if err := dynamodb.CreateTable(context.Background(), client, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.DeleteTable(context.Background(), &ddb.DeleteTableInput{TableName: &table}) })
	return dynamodb.New(client, table)
}

func TestContract(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			ep := be.endpoint(t)
			t.Run("JobStore", func(t *testing.T) {
				fleetcrontest.TestJobStore(t, func(t *testing.T) fleetcron.JobStore { return newStore(t, ep) })
			})
			t.Run("RunStore", func(t *testing.T) {
				fleetcrontest.TestRunStore(t, func(t *testing.T) fleetcron.RunStore { return newStore(t, ep) })
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
