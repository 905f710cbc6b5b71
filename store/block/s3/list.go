package s3

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// List returns one page of bucket's keys with ListObjectsV2, objects and
// common prefixes merged in key order. Only items strictly after
// opts.StartAfter are returned: when StartAfter is a common prefix from the
// previous page, keys under it that an endpoint returns again (rolled up
// into the same prefix) are dropped, and the listing continues with the
// continuation token until the page has items or the listing ends. Items
// carry Key, Size, ETag and LastModified.
func (s *Store) List(ctx context.Context, bucket string, opts block.ListOptions) (block.ListPage, error) {
	if err := block.ValidatePrefix(opts.Prefix); err != nil {
		return block.ListPage{}, err
	}
	if err := block.ValidatePrefix(opts.StartAfter); err != nil {
		return block.ListPage{}, err
	}
	if opts.MaxKeys < 0 {
		return block.ListPage{}, fmt.Errorf("%w: negative MaxKeys %d", store.ErrInvalid, opts.MaxKeys)
	}
	max := opts.MaxKeys
	if max == 0 || max > 1000 {
		max = 1000
	}
	var page block.ListPage
	token := ""
	for {
		if err := ctx.Err(); err != nil {
			return block.ListPage{}, err
		}
		// minio-go's Core.ListObjectsV2 takes no context; ctx is checked
		// between requests.
		res, err := s.core.ListObjectsV2(bucket, opts.Prefix, opts.StartAfter, token, opts.Delimiter, max)
		if err != nil {
			return block.ListPage{}, mapError("list", bucket, opts.Prefix, err)
		}
		items := make([]block.ListItem, 0, len(res.Contents)+len(res.CommonPrefixes))
		for _, o := range res.Contents {
			if o.Key <= opts.StartAfter {
				continue
			}
			items = append(items, block.ListItem{Key: o.Key, Object: objectInfo(bucket, o)})
		}
		for _, p := range res.CommonPrefixes {
			if p.Prefix <= opts.StartAfter {
				continue
			}
			items = append(items, block.ListItem{Key: p.Prefix, IsPrefix: true})
		}
		slices.SortFunc(items, func(a, b block.ListItem) int { return strings.Compare(a.Key, b.Key) })
		page.Items = append(page.Items, items...)
		if !res.IsTruncated {
			return page, nil
		}
		if len(page.Items) > 0 {
			page.Truncated = true
			return page, nil
		}
		token = res.NextContinuationToken
	}
}
