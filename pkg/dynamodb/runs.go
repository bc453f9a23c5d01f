package dynamodb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

func runSK(scheduled time.Time) string { return fmt.Sprintf("RUN#%020d", scheduled.UnixMilli()) }

func runKey(id string) (map[string]types.AttributeValue, error) {
	jobID, at, err := fleetcron.ParseRunID(id)
	if err != nil {
		return nil, err
	}
	return key(jobPK(jobID), runSK(at)), nil
}

// expr builds update and condition expressions with every attribute name
// and value behind a placeholder (many field names are reserved words).
type expr struct {
	sets, removes []string
	names         map[string]string
	vals          map[string]types.AttributeValue
}

func newExpr() *expr {
	return &expr{names: map[string]string{}, vals: map[string]types.AttributeValue{}}
}

func (e *expr) n(attr string) string { k := "#" + attr; e.names[k] = attr; return k }

func (e *expr) v(av types.AttributeValue) string {
	k := fmt.Sprintf(":v%d", len(e.vals))
	e.vals[k] = av
	return k
}

func (e *expr) tv(t time.Time) string {
	av, err := attributevalue.Marshal(t)
	if err != nil {
		panic(err) // a time always marshals
	}
	return e.v(av)
}

func (e *expr) set(attr string, av types.AttributeValue) {
	e.sets = append(e.sets, e.n(attr)+" = "+e.v(av))
}
func (e *expr) setRaw(attr, rhs string) { e.sets = append(e.sets, e.n(attr)+" = "+rhs) }
func (e *expr) remove(attrs ...string) {
	for _, a := range attrs {
		e.removes = append(e.removes, e.n(a))
	}
}

func (e *expr) update() *string {
	var parts []string
	if len(e.sets) > 0 {
		parts = append(parts, "SET "+strings.Join(e.sets, ", "))
	}
	if len(e.removes) > 0 {
		parts = append(parts, "REMOVE "+strings.Join(e.removes, ", "))
	}
	return aws.String(strings.Join(parts, " "))
}

func (e *expr) clearLease() { e.remove("lease_owner", "lease_expires_at", attrLeaseExpMS) }

// fence is the condition every agent write after the claim carries.
func (e *expr) fence(l fleetcron.Lease) string {
	return fmt.Sprintf("%s = %s AND %s = %s AND %s = %s",
		e.n("lease_owner"), e.v(s(l.Owner)), e.n("attempt"), e.v(n(int64(l.Attempt))),
		e.n("state"), e.v(s(string(fleetcron.RunRunning))))
}

// errKind says what a failed condition means for an operation.
type errKind int

const (
	asConflict errKind = iota
	asFenced
)

// ownWrite tells, from the item as it was when a condition failed, whether
// it already holds this very write: a retried request whose first attempt
// succeeded but whose answer was lost (a reset, a 5xx) fails its condition
// on the retry, and must not be reported as lost. It is asked only when the
// SDK did retry (see attempts): it compares the fields the write sets, so an
// unrelated write in between (a cancel request) does not hide ours.
type ownWrite func(old *fleetcron.Run) bool

// updateRun runs one conditional update and returns the new run.
func (st *Store) updateRun(ctx context.Context, op, id string, e *expr, cond string, kind errKind, mine ownWrite) (*fleetcron.Run, error) {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	k, err := runKey(id)
	if err != nil {
		return nil, fmt.Errorf("dynamodb: %s run: %w", op, err)
	}
	cond = "attribute_exists(pk) AND (" + cond + ")"
	var a attempts
	out, err := st.api.UpdateItem(ctx, &ddb.UpdateItemInput{TableName: &st.table, Key: k,
		UpdateExpression: e.update(), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.vals,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}, a.option)
	if failed, old := conditionFailed(err); failed {
		var prev fleetcron.Run
		if old != nil && mine != nil && a.retried() && unmarshal(old, &prev) == nil && mine(&prev) {
			return &prev, nil
		}
		switch {
		case old == nil:
			return nil, fmt.Errorf("dynamodb: %s run %s: %w", op, id, fleetcron.ErrNotFound)
		case kind == asFenced:
			return nil, fmt.Errorf("dynamodb: %s run %s: %w", op, id, fleetcron.ErrFenced)
		default:
			return nil, fmt.Errorf("dynamodb: %s run %s: %w", op, id, fleetcron.ErrConflict)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dynamodb: %s run %s: %w", op, id, err)
	}
	var r fleetcron.Run
	if err := unmarshal(out.Attributes, &r); err != nil {
		return nil, fmt.Errorf("dynamodb: decode run %s: %w", id, err)
	}
	return &r, nil
}

// CreateRun stores r if absent: the fire lock.
func (st *Store) CreateRun(ctx context.Context, r *fleetcron.Run) error {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	item, err := marshal(r)
	if err != nil {
		return fmt.Errorf("dynamodb: lock run %s: %w", r.ID, err)
	}
	item[AttrPK], item[AttrSK] = s(jobPK(r.JobID)), s(runSK(r.ScheduledAt))
	item[attrLeaseExpMS] = n(ms(r.LeaseExpiresAt))
	item[attrSendLeaseMS] = n(ms(r.SendLeaseUntil))
	item[attrAttemptsLeft] = n(int64(r.MaxAttempts - r.AttemptsUsed()))
	if !r.ExpiresAt.IsZero() {
		item[AttrTTL] = n(r.ExpiresAt.Unix())
	}
	stampWriteID(item)
	return st.putNew(ctx, item, fmt.Sprintf("lock run %s", r.ID))
}

// GetRun returns a run. ErrNotFound.
func (st *Store) GetRun(ctx context.Context, id string) (*fleetcron.Run, error) {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	k, err := runKey(id)
	if err != nil {
		return nil, fmt.Errorf("dynamodb: get run: %w", err)
	}
	out, err := st.api.GetItem(ctx, &ddb.GetItemInput{TableName: &st.table, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("dynamodb: get run %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("dynamodb: get run %s: %w", id, fleetcron.ErrNotFound)
	}
	var r fleetcron.Run
	if err := unmarshal(out.Item, &r); err != nil {
		return nil, fmt.Errorf("dynamodb: decode run %s: %w", id, err)
	}
	return &r, nil
}

// ListRuns returns a job's runs, newest first.
func (st *Store) ListRuns(ctx context.Context, q fleetcron.RunQuery) (fleetcron.RunPage, error) {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	limit := fleetcron.PageLimit(q.Limit)
	start, err := startKey(q.Cursor, AttrPK, AttrSK)
	if err != nil {
		return fleetcron.RunPage{}, err
	}
	e := newExpr()
	in := &ddb.QueryInput{TableName: &st.table, ScanIndexForward: aws.Bool(false), ConsistentRead: aws.Bool(true),
		ExclusiveStartKey: start}
	kc := fmt.Sprintf("%s = %s AND begins_with(%s, %s)", e.n(AttrPK), e.v(s(jobPK(q.JobID))), e.n(AttrSK), e.v(s("RUN#")))
	in.KeyConditionExpression = aws.String(kc)
	if q.ActiveOnly {
		in.FilterExpression = aws.String(fmt.Sprintf("%s IN (%s, %s)", e.n("state"),
			e.v(s(string(fleetcron.RunQueued))), e.v(s(string(fleetcron.RunRunning)))))
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.names, e.vals
	page := fleetcron.RunPage{Runs: []fleetcron.Run{}}
	for {
		in.Limit = aws.Int32(int32(limit - len(page.Runs)))
		out, err := st.api.Query(ctx, in)
		if err != nil {
			return page, fmt.Errorf("dynamodb: list runs of job %s: %w", q.JobID, err)
		}
		for _, item := range out.Items {
			var r fleetcron.Run
			if err := unmarshal(item, &r); err != nil {
				return page, fmt.Errorf("dynamodb: decode run: %w", err)
			}
			page.Runs = append(page.Runs, r)
		}
		if len(out.LastEvaluatedKey) == 0 || len(page.Runs) >= limit {
			page.Next, err = cursor(out.LastEvaluatedKey)
			return page, err
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// TakeSendLease lets a retried fire re-send a locked, unsent run.
func (st *Store) TakeSendLease(ctx context.Context, runID string, now, until time.Time) error {
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND %s = %s AND %s <= %s", e.n("state"), e.v(s(string(fleetcron.RunQueued))),
		e.n("enqueued"), e.v(b(false)), e.n(attrSendLeaseMS), e.v(n(now.UnixMilli())))
	e.setRaw("send_lease_until", e.tv(until))
	e.set(attrSendLeaseMS, n(until.UnixMilli()))
	_, err := st.updateRun(ctx, "take send lease of", runID, e, cond, asConflict, func(old *fleetcron.Run) bool {
		return !old.Enqueued && old.SendLeaseUntil.Equal(until)
	})
	return err
}

// MarkEnqueued records that the run's message was sent.
func (st *Store) MarkEnqueued(ctx context.Context, runID string) error {
	e := newExpr()
	e.set("enqueued", b(true))
	_, err := st.updateRun(ctx, "mark enqueued", runID, e, "attribute_exists(sk)", asConflict, nil)
	return err
}

// ClaimRun leases a run to c.Owner.
func (st *Store) ClaimRun(ctx context.Context, c fleetcron.Claim) (*fleetcron.Run, error) {
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND %s > %s AND (attribute_not_exists(%s) OR %s = %s) AND (%s = %s OR (%s = %s AND %s <= %s))",
		e.n("attempt"), e.v(n(int64(c.Attempt))),
		e.n(attrAttemptsLeft), e.v(n(0)),
		e.n("cancel_requested"), e.n("cancel_requested"), e.v(s("")),
		e.n("state"), e.v(s(string(fleetcron.RunQueued))),
		e.n("state"), e.v(s(string(fleetcron.RunRunning))), e.n(attrLeaseExpMS), e.v(n(c.Now.UnixMilli())))
	e.set("state", s(string(fleetcron.RunRunning)))
	e.set("attempt", n(int64(c.Attempt+1)))
	e.setRaw(attrAttemptsLeft, e.n(attrAttemptsLeft)+" - "+e.v(n(1)))
	e.set("lease_owner", s(c.Owner))
	e.setRaw("lease_expires_at", e.tv(c.LeaseUntil))
	e.set(attrLeaseExpMS, n(c.LeaseUntil.UnixMilli()))
	e.setRaw("started_at", e.tv(c.Now))
	return st.updateRun(ctx, "claim", c.RunID, e, cond, asConflict, func(old *fleetcron.Run) bool {
		return old.State == fleetcron.RunRunning && old.LeaseOwner == c.Owner && old.Attempt == c.Attempt+1 &&
			old.LeaseExpiresAt.Equal(c.LeaseUntil)
	})
}

// ExtendLease moves the lease expiry.
func (st *Store) ExtendLease(ctx context.Context, l fleetcron.Lease, until time.Time) (*fleetcron.Run, error) {
	e := newExpr()
	cond := e.fence(l)
	e.setRaw("lease_expires_at", e.tv(until))
	e.set(attrLeaseExpMS, n(until.UnixMilli()))
	return st.updateRun(ctx, "extend lease of", l.RunID, e, cond, asFenced, nil)
}

// CompleteRun ends the run with res.
func (st *Store) CompleteRun(ctx context.Context, l fleetcron.Lease, res fleetcron.Result) (*fleetcron.Run, error) {
	if !res.State.Terminal() {
		return nil, fmt.Errorf("dynamodb: complete run %s: state %q is not terminal: %w", l.RunID, res.State, fleetcron.ErrInvalid)
	}
	e := newExpr()
	cond := e.fence(l)
	e.set("state", s(string(res.State)))
	e.set("reason", s(res.Reason))
	e.set("output", s(res.Output))
	e.set("output_bytes", n(res.OutputBytes))
	e.set("output_sha256", s(res.OutputKey))
	e.setRaw("started_at", e.tv(res.StartedAt))
	e.setRaw("ended_at", e.tv(res.EndedAt))
	if res.ExitCode != nil {
		e.set("exit_code", n(int64(*res.ExitCode)))
	} else {
		e.remove("exit_code")
	}
	e.clearLease()
	return st.updateRun(ctx, "complete", l.RunID, e, cond, asFenced, func(old *fleetcron.Run) bool {
		return old.Attempt == l.Attempt && old.State == res.State && old.LeaseOwner == "" &&
			old.EndedAt.Equal(res.EndedAt) && old.Reason == res.Reason
	})
}

// ReleaseRun hands the run back.
func (st *Store) ReleaseRun(ctx context.Context, l fleetcron.Lease, countAttempt bool, reason string) (*fleetcron.Run, error) {
	e := newExpr()
	cond := e.fence(l)
	e.set("state", s(string(fleetcron.RunQueued)))
	e.set("reason", s(reason))
	if !countAttempt {
		one, zero := e.v(n(1)), e.v(n(0))
		e.setRaw("released", fmt.Sprintf("if_not_exists(%s, %s) + %s", e.n("released"), zero, one))
		e.setRaw(attrAttemptsLeft, e.n(attrAttemptsLeft)+" + "+one)
	}
	e.clearLease()
	return st.updateRun(ctx, "release", l.RunID, e, cond, asFenced, func(old *fleetcron.Run) bool {
		return old.Attempt == l.Attempt && old.State == fleetcron.RunQueued && old.LeaseOwner == "" && old.Reason == reason
	})
}

// FinishRun ends a run no agent holds.
func (st *Store) FinishRun(ctx context.Context, runID string, attempt int, state fleetcron.RunState, reason string, at time.Time) (*fleetcron.Run, error) {
	if !state.Terminal() {
		return nil, fmt.Errorf("dynamodb: finish run %s: state %q is not terminal: %w", runID, state, fleetcron.ErrInvalid)
	}
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND (%s = %s OR (%s = %s AND %s <= %s))",
		e.n("attempt"), e.v(n(int64(attempt))),
		e.n("state"), e.v(s(string(fleetcron.RunQueued))),
		e.n("state"), e.v(s(string(fleetcron.RunRunning))), e.n(attrLeaseExpMS), e.v(n(at.UnixMilli())))
	e.set("state", s(string(state)))
	e.set("reason", s(reason))
	e.setRaw("ended_at", e.tv(at))
	e.clearLease()
	return st.updateRun(ctx, "finish", runID, e, cond, asConflict, func(old *fleetcron.Run) bool {
		return old.Attempt == attempt && old.State == state && old.Reason == reason && old.EndedAt.Equal(at)
	})
}

// RequestCancel asks the holder of an active run to stop it.
func (st *Store) RequestCancel(ctx context.Context, runID, reason string) error {
	e := newExpr()
	cond := fmt.Sprintf("%s IN (%s, %s)", e.n("state"), e.v(s(string(fleetcron.RunQueued))), e.v(s(string(fleetcron.RunRunning))))
	e.set("cancel_requested", s(reason))
	_, err := st.updateRun(ctx, "cancel", runID, e, cond, asConflict, func(old *fleetcron.Run) bool {
		return old.CancelRequest == reason // set by our first attempt, then the run ended
	})
	return err
}
