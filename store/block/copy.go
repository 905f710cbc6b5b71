package block

import (
	"context"
	"fmt"
)

// Transfer copies srcBucket/srcKey of src to dstBucket/dstKey of dst and
// describes the copy. When src and dst are the same store it is that
// store's Copy (server-side for S3); otherwise the object streams from a
// Get into a Put of the size the Get reported, keeping its content type and
// user metadata, without being held in memory.
func Transfer(ctx context.Context, src Store, srcBucket, srcKey string, dst Store, dstBucket, dstKey string) (ObjectInfo, error) {
	if src == dst {
		info, err := src.Copy(ctx, srcBucket, srcKey, dstBucket, dstKey)
		if err != nil {
			return ObjectInfo{}, fmt.Errorf("transfer %s/%s to %s/%s: %w", srcBucket, srcKey, dstBucket, dstKey, err)
		}
		return info, nil
	}
	rc, info, err := src.Get(ctx, srcBucket, srcKey, nil)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("transfer %s/%s: read: %w", srcBucket, srcKey, err)
	}
	defer rc.Close()
	out, err := dst.Put(ctx, dstBucket, dstKey, rc, info.Size, PutOptions{ContentType: info.ContentType, Metadata: info.Metadata})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("transfer %s/%s to %s/%s: write: %w", srcBucket, srcKey, dstBucket, dstKey, err)
	}
	return out, nil
}
