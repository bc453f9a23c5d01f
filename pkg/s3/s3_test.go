package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/fleetcron/fleetcrontest"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/internal/faultproxy"
	"github.com/fleetcron/fleetcron/pkg/s3"
)

func TestMain(m *testing.M) { emulator.Main(m) }

// client is an S3 client for an endpoint: path-style addressing.
func client(endpoint string) *awss3.Client {
	return awss3.NewFromConfig(emulator.Config(endpoint), func(o *awss3.Options) { o.UsePathStyle = true })
}

// bucket creates a fresh bucket on the emulator.
func bucket(t *testing.T, endpoint string) string {
	name := "fleetcron-" + fleetcron.NewID()
	if _, err := client(endpoint).CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestContract(t *testing.T) {
	fleetcrontest.TestBlobStore(t, func(t *testing.T) fleetcron.BlobStore {
		ep := emulator.Moto(t)
		return s3.New(client(ep), bucket(t, ep), "")
	})
}

// The suite behind a proxy that fails a tenth of the requests, before or
// after they reach the emulator (500, 503, SlowDown, reset).
func TestContractUnderFaults(t *testing.T) {
	proxy := faultproxy.Start(t, emulator.Moto(t), 0.10, true, 2026)
	fleetcrontest.TestBlobStore(t, func(t *testing.T) fleetcron.BlobStore {
		return s3.New(client(proxy.URL), bucket(t, emulator.Moto(t)), "")
	})
	if proxy.Faults() == 0 {
		t.Fatal("no fault injected: the test proves nothing")
	}
	t.Log("fault proxy:", proxy.Report())
}

// An object whose content does not hash to its key (the emulator accepts
// any upload) is refused at the end of its body.
func TestTamperedObject(t *testing.T) {
	ep := emulator.Moto(t)
	b := bucket(t, ep)
	blobs := s3.New(client(ep), b, "")
	h := sha256.Sum256([]byte("echo uploaded"))
	sum := hex.EncodeToString(h[:])
	if _, err := client(ep).PutObject(context.Background(), &awss3.PutObjectInput{Bucket: &b, Key: aws.String(blobs.Key(sum)),
		Body: bytes.NewReader([]byte("rm -rf --no-preserve-root /"))}); err != nil {
		t.Fatal(err)
	}
	rc, err := blobs.GetBlob(context.Background(), sum)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, fleetcron.ErrHashMismatch) {
		t.Fatalf("read tampered blob: %v, want ErrHashMismatch", err)
	}
}
