package dynamodb

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

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
	// attrWriteID is a random id each put (a create, a job replace) stores,
	// so that a retried put recognises its own item exactly, even when
	// another writer's payload was identical.
	attrWriteID = "wid"
)

// API is the part of the DynamoDB client the store calls.
type API interface {
	GetItem(ctx context.Context, in *ddb.GetItemInput, opts ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	PutItem(ctx context.Context, in *ddb.PutItemInput, opts ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, opts ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
	Query(ctx context.Context, in *ddb.QueryInput, opts ...func(*ddb.Options)) (*ddb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, opts ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error)
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

// stampWriteID gives an item about to be put a fresh write id.
func stampWriteID(item map[string]types.AttributeValue) {
	item[attrWriteID] = s(fleetcron.NewID())
}

// ownPut reports whether a stored item carries the write id of a put.
func ownPut(stored, written map[string]types.AttributeValue) bool {
	return stored != nil && reflect.DeepEqual(stored[attrWriteID], written[attrWriteID])
}

// attempts counts the HTTP attempts of one call: the SDK's retryer resends a
// request whose answer was lost (a reset, a 5xx, throttling) although the
// first attempt may have been applied. A conditional write that fails its
// condition on a retry may therefore be failing on its own earlier success;
// only then does the store look at the old item to recognise its own write
// (a first attempt that fails its condition is never taken for our own).
type attempts struct{ n atomic.Int32 }

// option adds a step after the retry middleware, which runs once per attempt.
func (a *attempts) option(o *ddb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("fleetcronCountAttempts",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				a.n.Add(1)
				return next.HandleFinalize(ctx, in)
			}), "Retry", middleware.After)
	})
}

// retried reports whether the call was sent more than once.
func (a *attempts) retried() bool { return a.n.Load() > 1 }

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

// putNew stores an item that must not exist yet: ErrConflict if it does,
// unless it is this very write, applied by an attempt whose answer was lost
// and found by the SDK's retry. what names the item in errors.
func (st *Store) putNew(ctx context.Context, item map[string]types.AttributeValue, what string) error {
	var a attempts
	_, err := st.api.PutItem(ctx, &ddb.PutItemInput{TableName: &st.table, Item: item,
		ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}, a.option)
	if failed, old := conditionFailed(err); failed {
		if a.retried() && ownPut(old, item) {
			return nil // our own write, answered late
		}
		return fmt.Errorf("dynamodb: %s: %w", what, fleetcron.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: %s: %w", what, err)
	}
	return nil
}
