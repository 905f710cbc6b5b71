package s3

import (
	"context"

	"github.com/minio/minio-go/v7"
)

// ListObjectsV2 exposes one listing request of the streaming path to the
// external tests.
func ListObjectsV2(ctx context.Context, s *Store, bucket, prefix, startAfter, token, delimiter string, max int) (minio.ListBucketV2Result, error) {
	r, err := s.listObjectsV2(ctx, bucket, prefix, startAfter, token, delimiter, max, nil)
	res := minio.ListBucketV2Result{IsTruncated: r.Truncated, NextContinuationToken: r.Next, EncodingType: r.EncodingType}
	for _, o := range r.Objects {
		res.Contents = append(res.Contents, minio.ObjectInfo{Key: o.Key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified, StorageClass: o.StorageClass})
	}
	for _, p := range r.Prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, minio.CommonPrefix{Prefix: p})
	}
	return res, err
}

// SlowLists returns how many listing requests s left to minio-go.
func SlowLists(s *Store) int64 { return s.slowLists.Load() }

// Core returns s's minio-go core client.
func (s *Store) Core() minio.Core { return s.core }

// KnowsMinIO reports whether s has learnt that its endpoint is MinIO.
func KnowsMinIO(s *Store) bool { return s.server.kind.Load() == serverMinIO }
