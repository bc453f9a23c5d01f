package dynamodb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fleetcron/fleetcron/pkg/dynamodb"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
)

// metered asks DynamoDB for the capacity each write consumed and adds it up.
type metered struct {
	*ddb.Client
	mu     sync.Mutex
	wcu    float64
	writes int
	each   []float64
}

func (m *metered) add(c *types.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	u := 0.0
	if c != nil && c.CapacityUnits != nil {
		u = *c.CapacityUnits
	}
	m.wcu += u
	m.each = append(m.each, u)
}

func (m *metered) PutItem(ctx context.Context, in *ddb.PutItemInput, o ...func(*ddb.Options)) (*ddb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.Client.PutItem(ctx, in, o...)
	if err == nil {
		m.add(out.ConsumedCapacity)
	}
	return out, err
}

func (m *metered) UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, o ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error) {
	in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := m.Client.UpdateItem(ctx, in, o...)
	if err == nil {
		m.add(out.ConsumedCapacity)
	}
	return out, err
}

// The write units one run costs, as DynamoDB Local reports them: lock, mark
// enqueued, claim, one heartbeat, completion and the job's last-run update.
func TestWriteUnitsPerRun(t *testing.T) {
	ep := emulator.DynamoDBLocal(t)
	client := ddb.NewFromConfig(emulator.Config(ep))
	table := "fleetcron-" + fleetcron.NewID()
	if err := dynamodb.CreateTable(context.Background(), client, table); err != nil {
		t.Fatal(err)
	}
	m := &metered{Client: client}
	st := dynamodb.New(m, table)
	ctx := context.Background()
	now := time.Now().UTC()
	j := &fleetcron.Job{ID: fleetcron.NewID(), Executable: "backup --all", Schedule: "0 * * * *", Owner: "alice", CreatedAt: now, UpdatedAt: now, Version: 1}
	j.ApplyDefaults()
	if err := st.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	m.wcu, m.writes, m.each = 0, 0, nil

	at := now.Truncate(time.Hour)
	r := &fleetcron.Run{ID: fleetcron.RunID(j.ID, at), JobID: j.ID, ScheduledAt: at, FiredAt: now, Trigger: fleetcron.TriggerSchedule,
		Pool: j.Pool, State: fleetcron.RunQueued, SendLeaseUntil: now.Add(30 * time.Second), MaxAttempts: 3,
		Spec: fleetcron.SpecOf(j), ExpiresAt: now.Add(90 * 24 * time.Hour)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateRun(ctx, r))
	must(st.MarkEnqueued(ctx, r.ID))
	c, err := st.ClaimRun(ctx, fleetcron.Claim{RunID: r.ID, Owner: "i-0abc/1", Now: now, LeaseUntil: now.Add(time.Minute)})
	must(err)
	l := fleetcron.Lease{RunID: r.ID, Owner: "i-0abc/1", Attempt: c.Attempt}
	_, err = st.ExtendLease(ctx, l, now.Add(2*time.Minute))
	must(err)
	code := 0
	done, err := st.CompleteRun(ctx, l, fleetcron.Result{State: fleetcron.RunSucceeded, ExitCode: &code,
		Output: "backed up 1234 files\n", OutputBytes: 21, StartedAt: now, EndedAt: now.Add(time.Minute)})
	must(err)
	g, err := st.GetJob(ctx, j.ID)
	must(err)
	g.LastRunAt, g.LastRunID, g.LastRunState = done.ScheduledAt, done.ID, done.State
	must(st.UpdateJob(ctx, g))

	t.Logf("one run with one heartbeat: %d writes, %.1f WCU (lock, enqueued, claim, heartbeat, completion, job: %v)",
		m.writes, m.wcu, m.each)
	if m.writes != 6 {
		t.Fatalf("writes = %d, want 6", m.writes)
	}
	if m.wcu > 10 {
		t.Fatalf("a small run costs %.1f WCU, more than 10", m.wcu)
	}

	// An agent's heartbeat record, written every 30 s by every agent.
	m.wcu, m.writes, m.each = 0, 0, nil
	a := &fleetcron.Agent{ID: "i-0abc/1", InstanceID: "i-0abc", Hostname: "ip-10-0-0-1", Pools: []string{"default"}, Slots: 4,
		State: "polling", StartedAt: now, SeenAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	must(st.PutAgent(ctx, a))
	a.SeenAt = now.Add(30 * time.Second)
	must(st.PutAgent(ctx, a))
	t.Logf("agent heartbeats: %v WCU", m.each)
	if m.wcu != 2 {
		t.Fatalf("two heartbeats cost %.1f WCU, want 2", m.wcu)
	}
}
