package s3

import (
	"errors"
	"fmt"

	"github.com/minio/minio-go/v7"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// mapError wraps an error of the endpoint with the operation and, where the
// S3 error code has one, the block sentinel it means.
func mapError(op, bucket, key string, err error) error {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return fmt.Errorf("s3: %s %s: %w", op, name(bucket, key), err)
	}
	var sentinel error
	switch er.Code {
	case "NoSuchKey":
		sentinel = block.ErrNotFound
	case "NoSuchBucket":
		sentinel = block.ErrBucketNotFound
	case "InvalidRange":
		sentinel = block.ErrInvalidRange
	case "InvalidBucketName":
		sentinel = fmt.Errorf("%w bucket name", store.ErrInvalid)
	case "XMinioInvalidObjectName", "KeyTooLongError":
		sentinel = block.ErrInvalidKey
	case "InvalidArgument":
		sentinel = store.ErrInvalid
	case "BucketNotEmpty":
		sentinel = store.ErrPrecondition
	case "PreconditionFailed":
		sentinel = store.ErrConflict
	}
	if sentinel == nil {
		return fmt.Errorf("s3: %s %s: %w", op, name(bucket, key), err)
	}
	return fmt.Errorf("s3: %s %s: %w: %w", op, name(bucket, key), sentinel, err)
}

func name(bucket, key string) string {
	if key == "" {
		return bucket
	}
	return bucket + "/" + key
}
