package awsclient_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fleetcron/fleetcron/pkg/awsclient"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// AWS_ENDPOINT_URL reaches every client built from Load, and S3 goes
// path-style on it.
func TestEndpointFromEnvironment(t *testing.T) {
	ep := emulator.Moto(t)
	t.Setenv("AWS_ENDPOINT_URL", ep)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	ctx := context.Background()
	cfg, err := awsclient.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("DynamoDB via AWS_ENDPOINT_URL: %v", err)
	}
	s3 := awss3.NewFromConfig(cfg, awsclient.S3Options(cfg))
	bucket := aws.String("fleetcron-endpoint-" + fleetcron.NewID())
	if _, err := s3.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.PutObject(ctx, &awss3.PutObjectInput{Bucket: bucket, Key: aws.String("k"),
		Body: bytes.NewReader([]byte("v"))}); err != nil {
		t.Fatalf("S3 path-style: %v", err)
	}
	out, err := s3.GetObject(ctx, &awss3.GetObjectInput{Bucket: bucket, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	if string(b) != "v" {
		t.Fatalf("got %q", b)
	}
	if !awsclient.CustomEndpoint(cfg) {
		t.Fatal("custom endpoint not noticed")
	}
}
