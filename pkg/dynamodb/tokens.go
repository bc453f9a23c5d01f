package dynamodb

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

func tokenKey(id string) map[string]types.AttributeValue { return key(tokensPK, id) }

// CreateToken stores a token record (its secret's hash only).
func (st *Store) CreateToken(ctx context.Context, t *fleetcron.Token) error {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	item, err := marshal(t)
	if err != nil {
		return fmt.Errorf("dynamodb: create token %s: %w", t.ID, err)
	}
	for k, v := range tokenKey(t.ID) {
		item[k] = v
	}
	stampWriteID(item)
	return st.putNew(ctx, item, fmt.Sprintf("create token %s", t.ID))
}

// GetToken returns a token record. ErrNotFound.
func (st *Store) GetToken(ctx context.Context, id string) (*fleetcron.Token, error) {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	out, err := st.api.GetItem(ctx, &ddb.GetItemInput{TableName: &st.table, Key: tokenKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("dynamodb: get token %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("dynamodb: get token %s: %w", id, fleetcron.ErrNotFound)
	}
	var t fleetcron.Token
	if err := unmarshal(out.Item, &t); err != nil {
		return nil, fmt.Errorf("dynamodb: decode token %s: %w", id, err)
	}
	return &t, nil
}

// ListTokens returns every token record.
func (st *Store) ListTokens(ctx context.Context) ([]fleetcron.Token, error) {
	var out []fleetcron.Token
	err := st.queryAll(ctx, tokensPK, "", nil, nil, func(item map[string]types.AttributeValue) error {
		var t fleetcron.Token
		if err := unmarshal(item, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dynamodb: list tokens: %w", err)
	}
	return out, nil
}

// DeleteToken removes a token record. ErrNotFound. The delete is a
// one-item transaction for its client request token: DynamoDB answers a
// retry of a delete that was applied (its answer lost) with success instead
// of a failed condition, so a retried delete is never reported as not found.
// Token deletes are rare; the transaction's double write cost does not matter.
func (st *Store) DeleteToken(ctx context.Context, id string) error {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	_, err := st.api.TransactWriteItems(ctx, &ddb.TransactWriteItemsInput{
		ClientRequestToken: aws.String(fleetcron.NewID()),
		TransactItems: []types.TransactWriteItem{{Delete: &types.Delete{TableName: &st.table, Key: tokenKey(id),
			ConditionExpression: aws.String("attribute_exists(pk)")}}}})
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) && len(tc.CancellationReasons) > 0 &&
		aws.ToString(tc.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return fmt.Errorf("dynamodb: delete token %s: %w", id, fleetcron.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: delete token %s: %w", id, err)
	}
	return nil
}
