package s3

import (
	"context"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/lakeq/lakeq/store/block"
)

// CopyKnown copies srcBucket/srcKey, whose size and ETag the caller
// already knows (from a commit's entry), to dstBucket/dstKey on the
// server, without the Stat that Copy makes first: objects up to
// CopyPartSize take exactly one CopyObject request, which keeps the
// source's content type and user metadata (metadata directive COPY) and,
// for a source that was uploaded in one part, its ETag. A non-empty etag
// pins the source: a source overwritten since fails the copy with an error
// wrapping store.ErrConflict. Larger objects are copied by Copy, in parts.
// The destination must differ from the source.
func (s *Store) CopyKnown(ctx context.Context, srcBucket, srcKey string, size int64, etag string, dstBucket, dstKey string) (block.ObjectInfo, error) {
	if size > s.cfg.CopyPartSize || size < 0 {
		return s.Copy(ctx, srcBucket, srcKey, dstBucket, dstKey)
	}
	if err := block.ValidateKey(srcKey); err != nil {
		return block.ObjectInfo{}, err
	}
	if err := block.ValidateKey(dstKey); err != nil {
		return block.ObjectInfo{}, err
	}
	src := minio.CopySrcOptions{Bucket: srcBucket, Object: srcKey, MatchETag: etag}
	dst := minio.CopyDestOptions{Bucket: dstBucket, Object: dstKey}
	up, err := s.client.CopyObject(ctx, dst, src)
	if err != nil {
		return block.ObjectInfo{}, mapError("copy "+name(srcBucket, srcKey)+" to", dstBucket, dstKey, err)
	}
	mod := up.LastModified
	if mod.IsZero() {
		mod = time.Now().UTC()
	}
	return block.ObjectInfo{Bucket: dstBucket, Key: dstKey, Size: size, ETag: strings.Trim(up.ETag, `"`), LastModified: mod}, nil
}
