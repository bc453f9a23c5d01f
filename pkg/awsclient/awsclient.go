// Package awsclient loads the AWS configuration fleetcron's Lambda functions
// and agents share: the SDK's default chain (environment, shared config,
// instance or function role), AWS_ENDPOINT_URL and its per-service variants
// honoured (the SDK reads them; tests and LocalStack point them at
// emulators), a bounded retryer, and path-style S3 addressing on a custom
// endpoint.
package awsclient

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// Defaults of the retryer.
const (
	MaxAttempts = 5
	MaxBackoff  = 5 * time.Second
)

// Load returns the AWS config for fleetcron's clients.
func Load(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	opts = append([]func(*config.LoadOptions) error{config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = MaxAttempts
			o.MaxBackoff = MaxBackoff
		})
	})}, opts...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

// CustomEndpoint reports whether an endpoint override is in force for S3.
func CustomEndpoint(cfg aws.Config) bool {
	return cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
}

// S3Options sets path-style addressing when S3 is reached on a custom
// endpoint (emulators serve buckets by path, not by host name).
func S3Options(cfg aws.Config) func(*awss3.Options) {
	custom := CustomEndpoint(cfg)
	return func(o *awss3.Options) {
		if custom {
			o.UsePathStyle = true
		}
	}
}
