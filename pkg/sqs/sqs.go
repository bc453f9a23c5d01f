// Package sqs implements fleetcron.Queue on Amazon SQS: one standard queue
// per target pool, each with a dead-letter queue behind a redrive policy. A
// message body is events.RunMessage as JSON. Receives long-poll (up to 20 s),
// heartbeats extend the visibility timeout, and a release sets it to 0.
package sqs

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// Limits of SQS.
const (
	MaxWait       = 20 * time.Second
	MaxDelay      = 15 * time.Minute
	MaxVisibility = 12 * time.Hour
	MaxBatch      = 10
)

// API is the part of the SQS client the queue calls.
type API interface {
	SendMessage(ctx context.Context, in *awssqs.SendMessageInput, opts ...func(*awssqs.Options)) (*awssqs.SendMessageOutput, error)
	ReceiveMessage(ctx context.Context, in *awssqs.ReceiveMessageInput, opts ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *awssqs.ChangeMessageVisibilityInput, opts ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityOutput, error)
	DeleteMessage(ctx context.Context, in *awssqs.DeleteMessageInput, opts ...func(*awssqs.Options)) (*awssqs.DeleteMessageOutput, error)
}

// Queue is the SQS queues of a deployment.
type Queue struct {
	api  API
	urls map[string]string
}

var _ fleetcron.Queue = (*Queue)(nil)

// New returns a queue over the given pool → queue URL map, which should
// also map fleetcron.DeadLetterPool(pool) to each pool's DLQ URL.
func New(api API, urls map[string]string) *Queue {
	return &Queue{api: api, urls: urls}
}

func (q *Queue) url(pool string) (string, error) {
	u, ok := q.urls[pool]
	if !ok {
		return "", fleetcron.Invalid("pool", "no queue for pool %q in this deployment", pool)
	}
	return u, nil
}

// seconds rounds d up to whole seconds within [0, max].
func seconds(d, max time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	if d > max {
		d = max
	}
	return int32((d + time.Second - 1) / time.Second)
}

// Send enqueues m on pool's queue.
func (q *Queue) Send(ctx context.Context, pool string, m events.RunMessage, delay time.Duration) error {
	u, err := q.url(pool)
	if err != nil {
		return fmt.Errorf("sqs: send run %s: %w", m.RunID, err)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("sqs: send run %s: %w", m.RunID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = q.api.SendMessage(ctx, &awssqs.SendMessageInput{QueueUrl: &u, MessageBody: aws.String(string(body)),
		DelaySeconds: seconds(delay, MaxDelay)})
	if err != nil {
		return fmt.Errorf("sqs: send run %s to pool %s: %w", m.RunID, pool, err)
	}
	return nil
}

// Receive long-polls pool's queue.
func (q *Queue) Receive(ctx context.Context, pool string, max int, visibility, wait time.Duration) ([]fleetcron.Delivery, error) {
	u, err := q.url(pool)
	if err != nil {
		return nil, fmt.Errorf("sqs: receive: %w", err)
	}
	if max < 1 {
		max = 1
	}
	if max > MaxBatch {
		max = MaxBatch
	}
	w := seconds(wait, MaxWait)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(w)*time.Second+15*time.Second)
	defer cancel()
	out, err := q.api.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: int32(max),
		VisibilityTimeout: seconds(visibility, MaxVisibility), WaitTimeSeconds: w,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil {
		return nil, fmt.Errorf("sqs: receive from pool %s: %w", pool, err)
	}
	ds := make([]fleetcron.Delivery, 0, len(out.Messages))
	for _, msg := range out.Messages {
		d := fleetcron.Delivery{MessageID: aws.ToString(msg.MessageId), Receipt: aws.ToString(msg.ReceiptHandle)}
		if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &d.Message); err != nil {
			// A body that is not ours: deliver it with what we know, so
			// the worker drops it as an unknown run instead of looping.
			d.Message = events.RunMessage{RunID: "malformed:" + d.MessageID}
		}
		d.ReceiveCount, _ = strconv.Atoi(msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		ds = append(ds, d)
	}
	return ds, nil
}

// ChangeVisibility extends, releases (0) or delays a received message.
func (q *Queue) ChangeVisibility(ctx context.Context, pool, receipt string, visibility time.Duration) error {
	u, err := q.url(pool)
	if err != nil {
		return fmt.Errorf("sqs: change visibility: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = q.api.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: &u,
		ReceiptHandle: &receipt, VisibilityTimeout: seconds(visibility, MaxVisibility)})
	if err != nil {
		return fmt.Errorf("sqs: change visibility in pool %s: %w", pool, err)
	}
	return nil
}

// Delete removes a received message.
func (q *Queue) Delete(ctx context.Context, pool, receipt string) error {
	u, err := q.url(pool)
	if err != nil {
		return fmt.Errorf("sqs: delete: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := q.api.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: &receipt}); err != nil {
		return fmt.Errorf("sqs: delete from pool %s: %w", pool, err)
	}
	return nil
}
