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
	"sync"
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
//
// A standard queue delivers at least once: now and then a message comes
// twice, and moto's unlocked ReceiveMessage hands one message to two
// concurrent receivers. A Queue therefore remembers the messages it handed
// out that are in flight (neither deleted nor released, their visibility
// not lapsed) and does not hand one out again; the second delivery's
// receipt handle, the newest, is the one its Delete and ChangeVisibility
// then use (SQS ignores a delete by an older handle of a message received
// twice). Across processes, the agents' fenced claims absorb duplicates.
type Queue struct {
	api  API
	urls map[string]string

	mu       sync.Mutex
	inflight map[string]*flight // by message id
	receipts map[string]string  // receipt handed out → message id
}

// flight is a message handed out by this Queue.
type flight struct {
	handed  string    // the receipt handle handed out with it
	receipt string    // the newest receipt handle SQS gave for it
	until   time.Time // its visibility, counted from before the call (never later than SQS's)
}

var _ fleetcron.Queue = (*Queue)(nil)

// New returns a queue over the given pool → queue URL map, which should
// also map fleetcron.DeadLetterPool(pool) to each pool's DLQ URL.
func New(api API, urls map[string]string) *Queue {
	return &Queue{api: api, urls: urls, inflight: map[string]*flight{}, receipts: map[string]string{}}
}

// admit records a message a receive sent at sent got at got, and reports
// whether to hand it out: not if it is in flight from an earlier delivery,
// whose receipt handle it replaces. A message counts as in flight only if
// even the answer came before its lapse (SQS picked it somewhere between
// sent and got; the lapse is counted from before the earlier receive, so
// never later than SQS's): a long poll that began before the lapse and
// returns the message after it is a redelivery, and is handed out.
func (q *Queue) admit(id, receipt string, sent, got time.Time, visibility time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for mid, f := range q.inflight { // forget lapsed messages
		if !got.Before(f.until) {
			q.forget(mid)
		}
	}
	if f, ok := q.inflight[id]; ok {
		f.receipt = receipt
		f.until = sent.Add(visibility)
		return false
	}
	if visibility > 0 {
		q.inflight[id] = &flight{handed: receipt, receipt: receipt, until: sent.Add(visibility)}
		q.receipts[receipt] = id
	}
	return true
}

// forget drops a message from the in-flight set; q.mu is held.
func (q *Queue) forget(id string) {
	if f, ok := q.inflight[id]; ok {
		delete(q.receipts, f.handed)
		delete(q.inflight, id)
	}
}

// current returns the newest receipt handle of the message a handed-out
// receipt belongs to (the receipt itself if unknown); with done it forgets
// the message, and with a visibility it moves its lapse.
func (q *Queue) current(receipt string, sent time.Time, visibility time.Duration, done bool) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	id, ok := q.receipts[receipt]
	if !ok {
		return receipt
	}
	f := q.inflight[id]
	newest := f.receipt
	if done || visibility <= 0 {
		q.forget(id)
	} else {
		f.until = sent.Add(visibility)
	}
	return newest
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
	vis := seconds(visibility, MaxVisibility)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(w)*time.Second+15*time.Second)
	defer cancel()
	sent := time.Now()
	out, err := q.api.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: &u, MaxNumberOfMessages: int32(max),
		VisibilityTimeout: vis, WaitTimeSeconds: w,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil {
		return nil, fmt.Errorf("sqs: receive from pool %s: %w", pool, err)
	}
	got := time.Now()
	ds := make([]fleetcron.Delivery, 0, len(out.Messages))
	for _, msg := range out.Messages {
		d := fleetcron.Delivery{MessageID: aws.ToString(msg.MessageId), Receipt: aws.ToString(msg.ReceiptHandle)}
		if !q.admit(d.MessageID, d.Receipt, sent, got, time.Duration(vis)*time.Second) {
			continue // a second delivery of a message in flight here
		}
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
	vis := seconds(visibility, MaxVisibility)
	receipt = q.current(receipt, time.Now(), time.Duration(vis)*time.Second, false)
	_, err = q.api.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{QueueUrl: &u,
		ReceiptHandle: &receipt, VisibilityTimeout: vis})
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
	receipt = q.current(receipt, time.Now(), 0, true)
	if _, err := q.api.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: &u, ReceiptHandle: &receipt}); err != nil {
		return fmt.Errorf("sqs: delete from pool %s: %w", pool, err)
	}
	return nil
}
