// Package block defines the object-storage contract lakeq keeps object data,
// range files and reports in, the storage URIs that name places in it, and
// helpers that work over any implementation.
//
// Implementations: store/block/s3 (any S3-compatible endpoint, via minio-go)
// and store/block/local (a directory tree no path can escape). Both pass the
// conformance suite in store/block/blocktest.
package block

import (
	"context"
	"io"
	"time"
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Bucket       string
	Key          string
	Size         int64
	ETag         string // without quotes
	LastModified time.Time
	ContentType  string
	Metadata     map[string]string // user metadata, keys lower-case
}

// PutOptions carries an object's attributes.
type PutOptions struct {
	ContentType string
	Metadata    map[string]string
}

// Range selects bytes [Offset, Offset+Length) of an object; Length < 0 reads
// to the end.
type Range struct {
	Offset int64
	Length int64
}

// ListOptions selects a page of an ordered listing.
type ListOptions struct {
	Prefix     string // only keys starting with Prefix
	StartAfter string // only keys strictly after StartAfter
	Delimiter  string // "" lists recursively; "/" groups by directory; no other value is valid
	MaxKeys    int    // page size; 0 means 1,000
}

// ListItem is one listing result: an object, or (with a delimiter) a common
// prefix, in which case only Key is set and ends with the delimiter.
type ListItem struct {
	Key      string
	IsPrefix bool
	Object   ObjectInfo
}

// ListPage is one page of a listing, in ascending key order.
type ListPage struct {
	Items []ListItem
	// Truncated reports that more items follow; list again with
	// StartAfter = the last item's Key.
	Truncated bool
}

// DeleteError reports one key a batch delete could not remove.
type DeleteError struct {
	Key string
	Err error
}

// MaxDeleteBatch is the largest number of keys DeleteMany takes in one call.
const MaxDeleteBatch = 1000

// Store is the object-storage contract. Every method is safe for concurrent
// use. Bucket names an S3 bucket, or a top-level directory of a local store
// ("" is the local store's root itself).
type Store interface {
	// Put streams r into bucket/key. size is the exact length, or -1 when
	// unknown; large or unknown-size objects are uploaded in parts.
	Put(ctx context.Context, bucket, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error)
	// Get opens bucket/key for reading; rng == nil reads it all. Missing
	// objects return an error wrapping ErrNotFound; an unsatisfiable range,
	// ErrInvalidRange. The caller closes the reader.
	Get(ctx context.Context, bucket, key string, rng *Range) (io.ReadCloser, ObjectInfo, error)
	// Stat describes bucket/key, or returns an error wrapping ErrNotFound.
	Stat(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// Copy copies srcBucket/srcKey to dstBucket/dstKey inside the store
	// without moving the bytes through the caller where the store allows it
	// (S3: server-side, in parts above 5 GiB).
	Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (ObjectInfo, error)
	// Delete removes bucket/key; deleting an absent object is not an error.
	Delete(ctx context.Context, bucket, key string) error
	// DeleteMany removes up to MaxDeleteBatch keys in one call and reports
	// the keys it could not remove. Absent keys are not errors.
	DeleteMany(ctx context.Context, bucket string, keys []string) ([]DeleteError, error)
	// List returns one page of bucket's keys in ascending byte order.
	List(ctx context.Context, bucket string, opts ListOptions) (ListPage, error)
	// PresignGet returns a URL that reads bucket/key without credentials
	// until expiry, or an error wrapping ErrNotSupported.
	PresignGet(ctx context.Context, bucket, key string, expiry time.Duration) (string, error)
	// PresignPut returns a URL that writes bucket/key without credentials
	// until expiry, or an error wrapping ErrNotSupported.
	PresignPut(ctx context.Context, bucket, key string, expiry time.Duration) (string, error)
	// BucketExists reports whether bucket exists and is reachable.
	BucketExists(ctx context.Context, bucket string) (bool, error)
}

// A PackedLister is a Store that can return a listing page packed as it
// decodes it (see PageBuilder), never holding the page as ListItems. An
// Iterator lists through it.
type PackedLister interface {
	// ListPacked returns the page List would return, packed.
	ListPacked(ctx context.Context, bucket string, opts ListOptions) (PackedPage, error)
}

// A PageRecycler is a Store that takes back the items of a listing page
// once nothing uses them any more, for a later page to reuse: an Iterator
// hands back each page it holds packed, so that a long walk does not
// allocate a page's items anew for every page.
type PageRecycler interface {
	// RecyclePage takes back items, a page's Items as List returned
	// them; the caller does not use them, or what they point to, again.
	RecyclePage(items []ListItem)
}
