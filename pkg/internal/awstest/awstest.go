// Package awstest creates fleetcron's AWS resources on an emulator — the
// table, the blob bucket, the run queues with their dead-letter queues and
// the schedule group, what the CDK stack creates on AWS — and gives an
// agent process the environment to reach them. The end-to-end tests and
// the benchmarks share it.
package awstest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssched "github.com/aws/aws-sdk-go-v2/service/scheduler"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fleetcron/fleetcron/pkg/awsapp"
	"github.com/fleetcron/fleetcron/pkg/dynamodb"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/sqs"
)

// Config names the resources Create makes (Queues is filled in by it).
func Config() awsapp.Config {
	return awsapp.Config{Table: "fleetcron", Bucket: "fleetcron-blobs", ScheduleGroup: "fleetcron",
		FireARN:          "arn:aws:lambda:us-east-1:123456789012:function:fleetcron-fire",
		SchedulerRoleARN: "arn:aws:iam::123456789012:role/fleetcron-scheduler", MaxReceives: 10}
}

// Create makes c's table, bucket, default-pool queues and schedule group on
// the emulator awsCfg points at, and returns c with the queue URLs.
func Create(ctx context.Context, awsCfg aws.Config, c awsapp.Config) (awsapp.Config, error) {
	if err := dynamodb.CreateTable(ctx, ddb.NewFromConfig(awsCfg), c.Table); err != nil {
		return c, fmt.Errorf("awstest: table: %w", err)
	}
	s3c := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(c.Bucket)}); err != nil {
		return c, fmt.Errorf("awstest: bucket: %w", err)
	}
	urls, err := sqs.Provision(ctx, awssqs.NewFromConfig(awsCfg), "fleetcron", []string{fleetcron.DefaultPool}, c.MaxReceives)
	if err != nil {
		return c, fmt.Errorf("awstest: queues: %w", err)
	}
	c.Queues = urls
	if _, err := awssched.NewFromConfig(awsCfg).CreateScheduleGroup(ctx, &awssched.CreateScheduleGroupInput{Name: aws.String(c.ScheduleGroup)}); err != nil {
		return c, fmt.Errorf("awstest: schedule group: %w", err)
	}
	return c, nil
}

// AgentEnv is the whole environment of an agent process that reaches the
// emulator at endpoint with dummy credentials and no instance metadata.
func AgentEnv(endpoint string, c awsapp.Config) []string {
	queues, _ := json.Marshal(c.Queues)
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true",
		awsapp.EnvTable + "=" + c.Table, awsapp.EnvBucket + "=" + c.Bucket, awsapp.EnvQueues + "=" + string(queues)}
}
