package exporter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// MetadataSourceETag is the user metadata key under which a streamed copy
// records its source's ETag, so that a redelivered task recognises a copy
// that is already complete even when the destination computed another
// ETag (multipart uploads).
const MetadataSourceETag = "lakeq-source-etag"

// knownCopier is a store that copies server-side an object whose size and
// ETag the caller knows, in one request (store/block/s3).
type knownCopier interface {
	CopyKnown(ctx context.Context, srcBucket, srcKey string, size int64, etag string, dstBucket, dstKey string) (block.ObjectInfo, error)
}

// copyOutcome is how the copy of one object ended.
type copyOutcome int

const (
	copied copyOutcome = iota
	skipped
	failed
)

// copyObject copies e to the destination, retrying with backoff. With
// check set (a redelivered task) it first looks at the destination and
// skips an object already copied. It returns ctx's error when ctx ends,
// and otherwise the outcome and, for a failure, the last error.
func (h *Handler) copyObject(ctx context.Context, x *export, e *store.Entry, check bool) (copyOutcome, error) {
	src, err := h.graph.PhysicalTarget(x.ns.Store, x.ns.Bucket, x.ns.Prefix, e)
	if err != nil {
		return failed, err
	}
	dstKey := x.dst.Key + e.Path
	if check {
		info, err := x.dst.Store.Stat(ctx, x.dst.Bucket, dstKey)
		if err == nil && sameObject(info, e) {
			h.skipped.Add(1)
			return skipped, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return failed, cerr
		}
	}
	backoff := h.cfg.RetryBase
	for attempt := 1; ; attempt++ {
		h.copies.Add(1)
		err = transfer(ctx, src, x.dst, dstKey, e)
		if err == nil {
			if h.afterCopy != nil {
				h.afterCopy(e.Path)
			}
			return copied, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return failed, cerr
		}
		if attempt >= h.cfg.CopyAttempts || !retryable(err) {
			return failed, err
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return failed, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, h.cfg.RetryMax)
	}
}

// transfer copies src to dst/dstKey: on the server when both are in the
// same store, else by streaming the bytes through, recording the source's
// ETag in the copy's metadata.
func transfer(ctx context.Context, src, dst block.Target, dstKey string, e *store.Entry) error {
	if src.Store == dst.Store {
		var err error
		if kc, ok := src.Store.(knownCopier); ok {
			_, err = kc.CopyKnown(ctx, src.Bucket, src.Key, e.Size, e.ETag, dst.Bucket, dstKey)
		} else {
			_, err = src.Store.Copy(ctx, src.Bucket, src.Key, dst.Bucket, dstKey)
		}
		return err
	}
	rc, info, err := src.Store.Get(ctx, src.Bucket, src.Key, nil)
	if err != nil {
		return fmt.Errorf("read %s/%s: %w", src.Bucket, src.Key, err)
	}
	defer rc.Close()
	if e.ETag != "" && info.ETag != "" && info.ETag != e.ETag {
		return fmt.Errorf("%w: %s/%s changed since it was committed (ETag %s, committed %s)", store.ErrConflict, src.Bucket, src.Key, info.ETag, e.ETag)
	}
	md := maps.Clone(info.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	if e.ETag != "" {
		md[MetadataSourceETag] = e.ETag
	}
	if _, err := dst.Store.Put(ctx, dst.Bucket, dstKey, rc, info.Size, block.PutOptions{ContentType: info.ContentType, Metadata: md}); err != nil {
		return fmt.Errorf("write %s/%s: %w", dst.Bucket, dstKey, err)
	}
	return nil
}

// sameObject reports whether info describes a complete copy of e.
func sameObject(info block.ObjectInfo, e *store.Entry) bool {
	if info.Size != e.Size || e.ETag == "" {
		return false
	}
	return info.ETag == e.ETag || info.Metadata[MetadataSourceETag] == e.ETag
}

// retryable reports whether another attempt may succeed: not when the
// source is missing or changed, or the key is refused.
func retryable(err error) bool {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid),
		errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotImplemented):
		return false
	}
	return true
}

// deleteKeys deletes keys (at most block.MaxDeleteBatch) at the
// destination, retrying the batch with backoff, and returns how many it
// deleted and the keys it could not delete.
func (h *Handler) deleteKeys(ctx context.Context, x *export, keys []string) (int64, []block.DeleteError, error) {
	backoff := h.cfg.RetryBase
	for attempt := 1; ; attempt++ {
		failedKeys, err := x.dst.Store.DeleteMany(ctx, x.dst.Bucket, keys)
		if err == nil {
			n := int64(len(keys) - len(failedKeys))
			h.deleted.Add(n)
			return n, failedKeys, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return 0, nil, cerr
		}
		if attempt >= h.cfg.CopyAttempts || !retryable(err) {
			all := make([]block.DeleteError, len(keys))
			for i, k := range keys {
				all[i] = block.DeleteError{Key: k, Err: err}
			}
			return 0, all, nil
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, nil, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, h.cfg.RetryMax)
	}
}
