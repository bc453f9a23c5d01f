// Package s3 implements fleetcron.BlobStore on Amazon S3: scripts, binaries
// and run output under content-addressed keys (<prefix><sha256>), uploaded
// with the SHA256 checksum algorithm so S3 rejects a corrupted upload.
// Readers verify the hash of what they download themselves (package
// blobcache): what runs is what was uploaded, whatever the store returns;
// the reader GetBlob returns checks it too, failing at the end of a body
// that does not match (the emulators do not check upload checksums).
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// DefaultPrefix is where blobs live in the bucket.
const DefaultPrefix = "blobs/"

// Deadlines of the calls: a put (its HEAD and upload), and a get (the
// download of the body included).
const (
	DefaultPutTimeout = 5 * time.Minute
	DefaultGetTimeout = 10 * time.Minute
)

// API is the part of the S3 client the store calls.
type API interface {
	PutObject(ctx context.Context, in *awss3.PutObjectInput, opts ...func(*awss3.Options)) (*awss3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *awss3.GetObjectInput, opts ...func(*awss3.Options)) (*awss3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *awss3.HeadObjectInput, opts ...func(*awss3.Options)) (*awss3.HeadObjectOutput, error)
}

// Blobs is the blob store on one bucket.
type Blobs struct {
	api    API
	bucket string
	prefix string
}

var _ fleetcron.BlobStore = (*Blobs)(nil)

var sumRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// New returns a blob store on bucket under prefix ("" = DefaultPrefix).
func New(api API, bucket, prefix string) *Blobs {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Blobs{api: api, bucket: bucket, prefix: prefix}
}

// Key is the object key of a blob.
func (b *Blobs) Key(sum string) string { return b.prefix + sum }

// PutBlob stores data under its sha256; a no-op if it is there.
func (b *Blobs) PutBlob(ctx context.Context, sum string, data []byte) error {
	raw := sha256.Sum256(data)
	if !sumRe.MatchString(sum) || hex.EncodeToString(raw[:]) != sum {
		return fmt.Errorf("s3: put blob %.16s: %w", sum, fleetcron.ErrHashMismatch)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultPutTimeout)
	defer cancel()
	key := b.Key(sum)
	if _, err := b.api.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &b.bucket, Key: &key}); err == nil {
		return nil
	}
	_, err := b.api.PutObject(ctx, &awss3.PutObjectInput{Bucket: &b.bucket, Key: &key, Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(raw[:]))})
	if err != nil {
		return fmt.Errorf("s3: put blob %s: %w", sum, err)
	}
	return nil
}

// GetBlob opens a blob. ErrNotFound. The reader checks the sha256 of what
// it read: at the end of a body that does not hash to sum it returns
// ErrHashMismatch instead of io.EOF (readers still verify on their side).
// The download must end within DefaultGetTimeout of the call.
func (b *Blobs) GetBlob(ctx context.Context, sum string) (io.ReadCloser, error) {
	if !sumRe.MatchString(sum) {
		return nil, fmt.Errorf("s3: get blob %q: %w", sum, fleetcron.ErrNotFound)
	}
	key := b.Key(sum)
	ctx, cancel := context.WithTimeout(ctx, DefaultGetTimeout)
	out, err := b.api.GetObject(ctx, &awss3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		cancel()
		return nil, fmt.Errorf("s3: get blob %s: %w", sum, fleetcron.ErrNotFound)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("s3: get blob %s: %w", sum, err)
	}
	return &verified{body: out.Body, sum: sum, h: sha256.New(), cancel: cancel}, nil
}

// verified hashes a blob's body as it is read and refuses its end if the
// hash is not the blob's name.
type verified struct {
	body   io.ReadCloser
	sum    string
	h      hash.Hash
	cancel context.CancelFunc
}

func (v *verified) Read(p []byte) (int, error) {
	n, err := v.body.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.sum {
			return n, fmt.Errorf("s3: blob %s came back with sha256 %s: %w", v.sum, got, fleetcron.ErrHashMismatch)
		}
	}
	return n, err
}

func (v *verified) Close() error {
	defer v.cancel()
	return v.body.Close()
}
