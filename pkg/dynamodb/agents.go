package dynamodb

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// PutAgent stores an agent's heartbeat record.
func (st *Store) PutAgent(ctx context.Context, a *fleetcron.Agent) error {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	if a.ID == "" {
		return fmt.Errorf("dynamodb: put agent: %w", fleetcron.Invalid("id", "must not be empty"))
	}
	item, err := marshal(a)
	if err != nil {
		return fmt.Errorf("dynamodb: put agent %s: %w", a.ID, err)
	}
	item[AttrPK], item[AttrSK] = s(agentsPK), s(a.ID)
	item["seen_ms"] = n(ms(a.SeenAt))
	if !a.ExpiresAt.IsZero() {
		item[AttrTTL] = n(a.ExpiresAt.Unix())
	}
	if _, err := st.api.PutItem(ctx, &ddb.PutItemInput{TableName: &st.table, Item: item}); err != nil {
		return fmt.Errorf("dynamodb: put agent %s: %w", a.ID, err)
	}
	return nil
}

// ListAgents returns the agents seen at or after since.
func (st *Store) ListAgents(ctx context.Context, since time.Time) ([]fleetcron.Agent, error) {
	var out []fleetcron.Agent
	err := st.queryAll(ctx, agentsPK, "#seen >= :since", map[string]string{"#seen": "seen_ms"},
		map[string]types.AttributeValue{":since": n(ms(since))}, func(item map[string]types.AttributeValue) error {
			var a fleetcron.Agent
			if err := unmarshal(item, &a); err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("dynamodb: list agents: %w", err)
	}
	return out, nil
}

// Agents and tokens each live in one partition of the table, outside the
// indexes: an agent's heartbeat, every 30 s on every instance, costs one
// write unit instead of two, and listing them is a consistent Query.
const (
	agentsPK = "AGENTS"
	tokensPK = "TOKENS"
)

// queryAll reads every item of a partition, consistently.
func (st *Store) queryAll(ctx context.Context, pk, filter string, names map[string]string,
	vals map[string]types.AttributeValue, each func(map[string]types.AttributeValue) error) error {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	if vals == nil {
		vals = map[string]types.AttributeValue{}
	}
	vals[":pk"] = s(pk)
	in := &ddb.QueryInput{TableName: &st.table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk"), ExpressionAttributeValues: vals}
	if filter != "" {
		in.FilterExpression, in.ExpressionAttributeNames = aws.String(filter), names
	}
	p := ddb.NewQueryPaginator(st.api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, item := range page.Items {
			if err := each(item); err != nil {
				return err
			}
		}
	}
	return nil
}
