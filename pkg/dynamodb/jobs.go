package dynamodb

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

func jobPK(id string) string { return "JOB#" + id }

const jobSK = "JOB"

func jobItem(j *fleetcron.Job) (map[string]types.AttributeValue, error) {
	item, err := marshal(j)
	if err != nil {
		return nil, err
	}
	order := fmt.Sprintf("%020d#%s", ms(j.CreatedAt), j.ID)
	item[AttrPK], item[AttrSK] = s(jobPK(j.ID)), s(jobSK)
	item[AttrKindPK], item[AttrKindSK] = s("JOB"), s(order)
	item[AttrOwnerPK], item[AttrOwnerSK] = s("OWNER#"+j.Owner), s(order)
	stampWriteID(item)
	return item, nil
}

// CreateJob stores a new job. ErrConflict if the id exists.
func (st *Store) CreateJob(ctx context.Context, j *fleetcron.Job) error {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	item, err := jobItem(j)
	if err != nil {
		return fmt.Errorf("dynamodb: create job %s: %w", j.ID, err)
	}
	return st.putNew(ctx, item, fmt.Sprintf("create job %s", j.ID))
}

// GetJob returns a job. ErrNotFound.
func (st *Store) GetJob(ctx context.Context, id string) (*fleetcron.Job, error) {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	out, err := st.api.GetItem(ctx, &ddb.GetItemInput{TableName: &st.table, Key: key(jobPK(id), jobSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("dynamodb: get job %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("dynamodb: get job %s: %w", id, fleetcron.ErrNotFound)
	}
	var j fleetcron.Job
	if err := unmarshal(out.Item, &j); err != nil {
		return nil, fmt.Errorf("dynamodb: decode job %s: %w", id, err)
	}
	return &j, nil
}

// UpdateJob replaces a job if its stored version is j.Version.
func (st *Store) UpdateJob(ctx context.Context, j *fleetcron.Job) error {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	next := *j
	next.Version = j.Version + 1
	item, err := jobItem(&next)
	if err != nil {
		return fmt.Errorf("dynamodb: update job %s: %w", j.ID, err)
	}
	var a attempts
	_, err = st.api.PutItem(ctx, &ddb.PutItemInput{TableName: &st.table, Item: item,
		ConditionExpression:                 aws.String("attribute_exists(pk) AND version = :v"),
		ExpressionAttributeValues:           map[string]types.AttributeValue{":v": n(j.Version)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}, a.option)
	if failed, old := conditionFailed(err); failed {
		if old == nil {
			return fmt.Errorf("dynamodb: update job %s: %w", j.ID, fleetcron.ErrNotFound)
		}
		if a.retried() && ownPut(old, item) {
			j.Version = next.Version // our own update, answered late
			return nil
		}
		return fmt.Errorf("dynamodb: update job %s: version %d is stale: %w", j.ID, j.Version, fleetcron.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("dynamodb: update job %s: %w", j.ID, err)
	}
	j.Version = next.Version
	return nil
}

// ListJobs pages through jobs, oldest first, by owner through the owner
// index or all through the kind index. The indexes are eventually
// consistent: a job created a moment ago may be missing from a list.
func (st *Store) ListJobs(ctx context.Context, q fleetcron.JobQuery) (fleetcron.JobPage, error) {
	ctx, cancel := st.ctx(ctx)
	defer cancel()
	in := &ddb.QueryInput{TableName: &st.table, Limit: aws.Int32(int32(fleetcron.PageLimit(q.Limit)))}
	var req []string
	if q.Owner != "" {
		in.IndexName = aws.String(IndexOwner)
		in.KeyConditionExpression = aws.String("opk = :p")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":p": s("OWNER#" + q.Owner)}
		req = []string{AttrPK, AttrSK, AttrOwnerPK, AttrOwnerSK}
	} else {
		in.IndexName = aws.String(IndexKind)
		in.KeyConditionExpression = aws.String("kpk = :p")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":p": s("JOB")}
		req = []string{AttrPK, AttrSK, AttrKindPK, AttrKindSK}
	}
	start, err := startKey(q.Cursor, req...)
	if err != nil {
		return fleetcron.JobPage{}, err
	}
	in.ExclusiveStartKey = start
	out, err := st.api.Query(ctx, in)
	if err != nil {
		return fleetcron.JobPage{}, fmt.Errorf("dynamodb: list jobs: %w", err)
	}
	page := fleetcron.JobPage{Jobs: make([]fleetcron.Job, 0, len(out.Items))}
	for _, item := range out.Items {
		var j fleetcron.Job
		if err := unmarshal(item, &j); err != nil {
			return page, fmt.Errorf("dynamodb: decode job: %w", err)
		}
		page.Jobs = append(page.Jobs, j)
	}
	if page.Next, err = cursor(out.LastEvaluatedKey); err != nil {
		return page, fmt.Errorf("dynamodb: list jobs: %w", err)
	}
	return page, nil
}
