package s3

import (
	"context"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/lakeq/lakeq/store/block"
)

// copyThreads is how many upload-part-copy requests one multipart copy
// runs at a time.
const copyThreads = 4

// Copy copies srcBucket/srcKey to dstBucket/dstKey on the server, keeping
// content type and user metadata. Objects up to CopyPartSize take one
// CopyObject request; larger ones a multipart upload of upload-part-copy
// requests (minio-go's ComposeObject), as S3 requires above 5 GiB. The
// source is pinned by its ETag, so a source overwritten mid-copy fails the
// copy instead of mixing versions.
func (s *Store) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (block.ObjectInfo, error) {
	if err := block.ValidateKey(srcKey); err != nil {
		return block.ObjectInfo{}, err
	}
	if err := block.ValidateKey(dstKey); err != nil {
		return block.ObjectInfo{}, err
	}
	src, err := s.Stat(ctx, srcBucket, srcKey)
	if err != nil {
		return block.ObjectInfo{}, err
	}
	srcOpts := minio.CopySrcOptions{Bucket: srcBucket, Object: srcKey, MatchETag: src.ETag}
	// Metadata is set explicitly (REPLACE) rather than copied, so both
	// paths below give the destination the source's content type, which a
	// multipart copy would otherwise drop; REPLACE also allows copying an
	// object onto itself.
	meta := make(map[string]string, len(src.Metadata)+1)
	for k, v := range src.Metadata {
		meta[k] = v
	}
	if src.ContentType != "" {
		meta["Content-Type"] = src.ContentType
	}
	dstOpts := minio.CopyDestOptions{
		Bucket:          dstBucket,
		Object:          dstKey,
		UserMetadata:    meta,
		ReplaceMetadata: true,
		PartSize:        uint64(s.cfg.CopyPartSize),
		NumThreads:      copyThreads,
	}
	var up minio.UploadInfo
	if src.Size <= s.cfg.CopyPartSize {
		up, err = s.client.CopyObject(ctx, dstOpts, srcOpts)
	} else {
		up, err = s.client.ComposeObject(ctx, dstOpts, srcOpts)
	}
	if err != nil {
		return block.ObjectInfo{}, mapError("copy "+name(srcBucket, srcKey)+" to", dstBucket, dstKey, err)
	}
	mod := up.LastModified
	if mod.IsZero() {
		mod = time.Now().UTC()
	}
	return block.ObjectInfo{
		Bucket: dstBucket, Key: dstKey, Size: src.Size, ETag: strings.Trim(up.ETag, `"`),
		LastModified: mod, ContentType: src.ContentType, Metadata: src.Metadata,
	}, nil
}
