package sqs

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// ProvisionAPI is what Provision calls.
type ProvisionAPI interface {
	CreateQueue(ctx context.Context, in *awssqs.CreateQueueInput, opts ...func(*awssqs.Options)) (*awssqs.CreateQueueOutput, error)
	GetQueueAttributes(ctx context.Context, in *awssqs.GetQueueAttributesInput, opts ...func(*awssqs.Options)) (*awssqs.GetQueueAttributesOutput, error)
}

// QueueName is the name of a pool's queue in a deployment.
func QueueName(prefix, pool string) string { return prefix + "-" + pool }

// DeadLetterQueueName is the name of a pool's dead-letter queue.
func DeadLetterQueueName(prefix, pool string) string { return prefix + "-" + pool + "-dlq" }

// Provision creates each pool's queue and dead-letter queue (redrive after
// maxReceives) and returns the URL map New takes. The CDK stack declares the
// same queues in AWS; this is for emulators.
func Provision(ctx context.Context, api ProvisionAPI, prefix string, pools []string, maxReceives int) (map[string]string, error) {
	urls := map[string]string{}
	for _, pool := range pools {
		dlq, err := api.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(DeadLetterQueueName(prefix, pool))})
		if err != nil {
			return nil, fmt.Errorf("sqs: create dead-letter queue of pool %s: %w", pool, err)
		}
		attrs, err := api.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
		if err != nil {
			return nil, fmt.Errorf("sqs: dead-letter queue arn of pool %s: %w", pool, err)
		}
		redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%s"}`,
			attrs.Attributes[string(types.QueueAttributeNameQueueArn)], strconv.Itoa(maxReceives))
		q, err := api.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String(QueueName(prefix, pool)),
			Attributes: map[string]string{string(types.QueueAttributeNameRedrivePolicy): redrive}})
		if err != nil {
			return nil, fmt.Errorf("sqs: create queue of pool %s: %w", pool, err)
		}
		urls[pool] = aws.ToString(q.QueueUrl)
		urls[fleetcron.DeadLetterPool(pool)] = aws.ToString(dlq.QueueUrl)
	}
	return urls, nil
}
