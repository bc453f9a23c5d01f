package dynamodb

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

func tokenKey(id string) map[string]types.AttributeValue { return key("TOKEN#"+id, "TOKEN") }

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
	item[AttrKindPK], item[AttrKindSK] = s("TOKEN"), s(t.ID)
	_, err = st.api.PutItem(ctx, &ddb.PutItemInput{TableName: &st.table, Item: item,
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if failed, _ := conditionFailed(err); failed {
		return fmt.Errorf("dynamodb: create token %s: %w", t.ID, fleetcron.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: create token %s: %w", t.ID, err)
	}
	return nil
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
	err := st.queryKind(ctx, "TOKEN", "", nil, nil, func(item map[string]types.AttributeValue) error {
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

// DeleteToken removes a token record. ErrNotFound.
func (st *Store) DeleteToken(ctx context.Context, id string) error {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	_, err := st.api.DeleteItem(ctx, &ddb.DeleteItemInput{TableName: &st.table, Key: tokenKey(id),
		ConditionExpression: aws.String("attribute_exists(pk)")})
	if failed, _ := conditionFailed(err); failed {
		return fmt.Errorf("dynamodb: delete token %s: %w", id, fleetcron.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: delete token %s: %w", id, err)
	}
	return nil
}
