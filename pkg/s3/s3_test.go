package s3_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/fleetcron/fleetcrontest"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/s3"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// Client is an S3 client for an emulator: path-style addressing.
func client(t *testing.T) *awss3.Client {
	return awss3.NewFromConfig(emulator.Config(emulator.Moto(t)), func(o *awss3.Options) { o.UsePathStyle = true })
}

func TestContract(t *testing.T) {
	fleetcrontest.TestBlobStore(t, func(t *testing.T) fleetcron.BlobStore {
		c := client(t)
		bucket := "fleetcron-" + fleetcron.NewID()
		if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatal(err)
		}
		return s3.New(c, bucket, "")
	})
}
