package dynamodb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// Names shared with the CDK stack.
const (
	DefaultTableName = "fleetcron"
	AttrPK           = "pk"
	AttrSK           = "sk"
	IndexKind        = "kind"
	AttrKindPK       = "kpk"
	AttrKindSK       = "ksk"
	IndexOwner       = "owner"
	AttrOwnerPK      = "opk"
	AttrOwnerSK      = "osk"
	AttrTTL          = "ttl"
)

// Attributes conditions use.
const (
	attrLeaseExpMS   = "lease_exp_ms"
	attrSendLeaseMS  = "send_lease_ms"
	attrAttemptsLeft = "attempts_left"
)

// API is the part of the DynamoDB client the store calls.
type API interface {
	GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	PutItem(ctx context.Context, in *ddb.PutItemInput, opts ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, opts ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *ddb.DeleteItemInput, opts ...func(*ddb.Options)) (*ddb.DeleteItemOutput, error)
	Query(ctx context.Context, in *ddb.QueryInput, opts ...func(*ddb.Options)) (*ddb.QueryOutput, error)
}

// Store is the DynamoDB store.
type Store struct {
	api     API
	table   string
	timeout time.Duration
}

var (
	_ fleetcron.JobStore   = (*Store)(nil)
	_ fleetcron.RunStore   = (*Store)(nil)
	_ fleetcron.AgentStore = (*Store)(nil)
	_ fleetcron.TokenStore = (*Store)(nil)
)

// DefaultCallTimeout bounds every DynamoDB call (retries included).
const DefaultCallTimeout = 10 * time.Second

// New returns a store over the table.
func New(api API, table string) *Store {
	return &Store{api: api, table: table, timeout: DefaultCallTimeout}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func b(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: s(pk), AttrSK: s(sk)}
}

func encOpts(o *attributevalue.EncoderOptions) { o.TagKey = "json" }
func decOpts(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

func marshal(v any) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMapWithOptions(v, encOpts)
}

func unmarshal(item map[string]types.AttributeValue, v any) error {
	return attributevalue.UnmarshalMapWithOptions(item, v, decOpts)
}

func (st *Store) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, st.timeout)
}

// conditionFailed reports a failed condition and the item as it was (nil if
// there was none).
func conditionFailed(err error) (bool, map[string]types.AttributeValue) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true, ccf.Item
	}
	return false, nil
}

// sameItem reports whether a stored item is exactly the one a put wrote.
func sameItem(stored, written map[string]types.AttributeValue) bool {
	return stored != nil && reflect.DeepEqual(stored, written)
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// cursor encodes a LastEvaluatedKey.
func cursor(k map[string]types.AttributeValue) (string, error) {
	if len(k) == 0 {
		return "", nil
	}
	m := map[string]string{}
	for name, v := range k {
		sv, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("cursor: key attribute %s is not a string", name)
		}
		m[name] = sv.Value
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

func startKey(c string, required ...string) (map[string]types.AttributeValue, error) {
	if c == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	var m map[string]string
	if err == nil {
		err = json.Unmarshal(raw, &m)
	}
	if err != nil {
		return nil, fleetcron.Invalid("cursor", "not a cursor of this list")
	}
	out := map[string]types.AttributeValue{}
	for _, r := range required {
		v, ok := m[r]
		if !ok {
			return nil, fleetcron.Invalid("cursor", "not a cursor of this list")
		}
		out[r] = s(v)
	}
	return out, nil
}
