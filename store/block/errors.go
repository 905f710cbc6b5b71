package block

import (
	"fmt"

	"github.com/lakeq/lakeq/store"
)

var (
	// ErrNotFound reports a missing object or bucket.
	ErrNotFound = fmt.Errorf("object %w", store.ErrNotFound)
	// ErrBucketNotFound reports a missing bucket.
	ErrBucketNotFound = fmt.Errorf("bucket %w", store.ErrNotFound)
	// ErrInvalidKey reports a key that is empty, not UTF-8, or would escape
	// a local store's root.
	ErrInvalidKey = fmt.Errorf("%w object key", store.ErrInvalid)
	// ErrInvalidRange reports a byte range outside the object.
	ErrInvalidRange = fmt.Errorf("%w byte range", store.ErrInvalid)
	// ErrNotSupported reports an operation the store cannot do.
	ErrNotSupported = fmt.Errorf("block store: %w", store.ErrNotImplemented)
	// ErrInvalidMetadata reports user metadata that cannot be stored as is.
	ErrInvalidMetadata = fmt.Errorf("%w object metadata", store.ErrInvalid)
	// ErrTooManyKeys reports a DeleteMany over MaxDeleteBatch keys.
	ErrTooManyKeys = fmt.Errorf("%w: more than %d keys in one batch delete", store.ErrInvalid, MaxDeleteBatch)
)
