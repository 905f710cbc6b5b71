package s3

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// List returns one page of bucket's keys with ListObjectsV2, objects and
// common prefixes merged in key order. Only items strictly after
// opts.StartAfter are returned, and only the delimiters "" and "/" are
// accepted (others fail with store.ErrInvalid: MinIO does not list them
// reliably). Items carry Key, Size, ETag and LastModified.
//
// Paging: after a truncated page the store remembers the endpoint's
// continuation token for a minute, and a List whose StartAfter is that
// page's last key continues with it, so block.ListAll walks one listing of
// the endpoint. A List from any other StartAfter starts a new listing there.
// On MinIO that start is sent as a MinIO listing marker in the continuation
// token rather than as start-after: with start-after and a small page,
// MinIO can stop early and report the listing complete when the bucket has
// keys such as "a!/…" or "a-b/…" beside "a/…" (they sort before "a/" but
// are walked after it, and use up the page). The endpoint is recognised as
// MinIO by the Server header of its responses.
func (s *Store) List(ctx context.Context, bucket string, opts block.ListOptions) (block.ListPage, error) {
	sink := &itemSink{bucket: bucket}
	truncated, err := s.list(ctx, bucket, opts, sink)
	if err != nil {
		return block.ListPage{}, err
	}
	return block.ListPage{Items: sink.items, Truncated: truncated}, nil
}

// ListPacked is List with the page packed (block.PackedLister): a
// recursive listing's answers are packed as they are decoded, and never
// held as ListItems.
func (s *Store) ListPacked(ctx context.Context, bucket string, opts block.ListOptions) (block.PackedPage, error) {
	if opts.Delimiter == "" {
		sink := &packSink{page: block.NewPageBuilder(bucket)}
		truncated, err := s.list(ctx, bucket, opts, sink)
		if !errors.Is(err, errUnordered) {
			if err != nil {
				return block.PackedPage{}, err
			}
			return sink.page.Page(truncated), nil
		}
		// An endpoint that lists keys out of order: List sorts each
		// answer.
	}
	// The objects and common prefixes of an answer come apart, to be
	// merged: List merges them.
	page, err := s.List(ctx, bucket, opts)
	if err != nil {
		return block.PackedPage{}, err
	}
	packed := block.PackPage(page, bucket)
	s.RecyclePage(page.Items)
	return packed, nil
}

// A pageSink collects the items of a page as list reads them.
type pageSink interface {
	// add takes the object h, which is before every other of the page.
	add(h *block.ListItem)
	// addResult takes the items of res after the key after.
	addResult(res *listResult, after string)
	// packer says how an answer's objects are to be packed as they are
	// decoded, or is nil to have them in res.Objects.
	packer(bucket, after string) *packing
	len() int
	dropLast()
	lastKey() string
}

// list reads one page of bucket's keys into sink and reports whether it
// is truncated (see List).
func (s *Store) list(ctx context.Context, bucket string, opts block.ListOptions, sink pageSink) (bool, error) {
	if err := block.ValidatePrefix(opts.Prefix); err != nil {
		return false, err
	}
	if err := block.ValidatePrefix(opts.StartAfter); err != nil {
		return false, err
	}
	if opts.Delimiter != "" && opts.Delimiter != "/" {
		return false, fmt.Errorf("%w: list delimiter %q: only \"/\" is supported", store.ErrInvalid, opts.Delimiter)
	}
	if opts.MaxKeys < 0 {
		return false, fmt.Errorf("%w: negative MaxKeys %d", store.ErrInvalid, opts.MaxKeys)
	}
	max := opts.MaxKeys
	if max == 0 || max > 1000 {
		max = 1000
	}
	switch {
	case opts.StartAfter != "" && opts.StartAfter < opts.Prefix:
		// Every key with the prefix is after StartAfter.
		opts.StartAfter = ""
	case opts.StartAfter > opts.Prefix && !strings.HasPrefix(opts.StartAfter, opts.Prefix):
		// Every key with the prefix is before StartAfter.
		return false, nil
	}
	startAfter, token := opts.StartAfter, ""
	// head, when not nil, delivers the object named exactly Prefix, which
	// a MinIO marker of Prefix would skip; it is looked up while the first
	// page is under way.
	var head <-chan headResult
	if t, ok := s.takeToken(bucket, opts); ok {
		startAfter, token = "", t
	} else if s.isMinIO(ctx, bucket) {
		marker := opts.StartAfter
		if marker == "" && opts.Prefix != "" {
			marker = opts.Prefix
			head = s.statHead(ctx, bucket, opts.Prefix)
		}
		startAfter, token = "", minioMarker(marker)
	}
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		res, err := s.listObjectsV2(ctx, bucket, opts.Prefix, startAfter, token, opts.Delimiter, max, sink.packer(bucket, opts.StartAfter))
		if head != nil {
			h := <-head
			head = nil
			if h.err != nil {
				return false, h.err
			}
			if h.item != nil {
				sink.add(h.item)
			}
		}
		if err != nil {
			return false, mapError("list", bucket, opts.Prefix, err)
		}
		sink.addResult(&res, opts.StartAfter)
		if sink.len() > max {
			// The head item made the page one too long: the next page
			// starts a new listing after the last item kept.
			sink.dropLast()
			return true, nil
		}
		if !res.Truncated {
			if sink.len() == 0 {
				// MinIO answers a listing of a missing bucket that starts
				// from a marker with an empty page: tell the two apart.
				if ok, err := s.BucketExists(ctx, bucket); err != nil {
					return false, err
				} else if !ok {
					return false, fmt.Errorf("s3: list %s: %w", bucket, block.ErrBucketNotFound)
				}
			}
			return false, nil
		}
		if sink.len() > 0 {
			// The token continues after the last item of this page.
			s.tokens.put(tokenKey(bucket, opts.Prefix, opts.Delimiter, sink.lastKey()), res.Next)
			return true, nil
		}
		// Everything on this page was at or before StartAfter: read on.
		startAfter, token = "", res.Next
	}
}

// itemSink collects a page as ListItems.
type itemSink struct {
	bucket string
	items  []block.ListItem
}

func (k *itemSink) add(h *block.ListItem) { k.items = append(k.items, *h) }

func (k *itemSink) addResult(res *listResult, after string) {
	n := len(k.items)
	if k.items == nil {
		k.items = itemSlices.get(len(res.Objects) + len(res.Prefixes))
	} else {
		k.items = slices.Grow(k.items, len(res.Objects)+len(res.Prefixes))
	}
	for i := range res.Objects {
		if o := &res.Objects[i]; o.Key > after {
			k.items = append(k.items, o.item(k.bucket))
		}
	}
	objectSlices.put(res.Objects)
	for _, p := range res.Prefixes {
		if p > after {
			k.items = append(k.items, block.ListItem{Key: p, IsPrefix: true})
		}
	}
	slices.SortFunc(k.items[n:], func(a, b block.ListItem) int { return strings.Compare(a.Key, b.Key) })
}

func (k *itemSink) packer(string, string) *packing { return nil }
func (k *itemSink) len() int                       { return len(k.items) }
func (k *itemSink) dropLast()                      { k.items = k.items[:len(k.items)-1] }
func (k *itemSink) lastKey() string                { return k.items[len(k.items)-1].Key }

// packSink collects a page packed, of a listing without a delimiter.
type packSink struct{ page *block.PageBuilder }

func (k *packSink) add(h *block.ListItem) { k.page.Add(h) }

func (k *packSink) addResult(res *listResult, _ string) { k.page.Append(res.Packed) }

func (k *packSink) packer(bucket, after string) *packing {
	return &packing{bucket: bucket, after: after}
}

func (k *packSink) len() int        { return k.page.Len() }
func (k *packSink) dropLast()       { k.page.DropLast() }
func (k *packSink) lastKey() string { return k.page.LastKey() }

// itemSlices holds the pages' items handed back (RecyclePage).
var itemSlices slicePool[block.ListItem]

// RecyclePage takes back the items of a page List returned, for a later
// page: a page of 1,000 keys takes about 130 KB of items, which an
// Iterator packs and drops at once.
func (s *Store) RecyclePage(items []block.ListItem) { itemSlices.put(items) }

// headResult is the object named exactly as a listing's prefix: item is
// nil when there is none.
type headResult struct {
	item *block.ListItem
	err  error
}

// statHead looks up bucket/key in the background.
func (s *Store) statHead(ctx context.Context, bucket, key string) <-chan headResult {
	ch := make(chan headResult, 1)
	go func() {
		info, err := s.Stat(ctx, bucket, key)
		switch {
		case err == nil:
			ch <- headResult{item: &block.ListItem{Key: key, Object: listInfo(info)}}
		case errors.Is(err, block.ErrNotFound):
			ch <- headResult{}
		default:
			ch <- headResult{err: err}
		}
	}()
	return ch
}

// listInfo keeps the fields a listing reports.
func listInfo(info block.ObjectInfo) block.ObjectInfo {
	return block.ObjectInfo{Bucket: info.Bucket, Key: info.Key, Size: info.Size, ETag: info.ETag, LastModified: info.LastModified}
}

// takeToken returns the continuation token that follows the page ending at
// opts.StartAfter, if one is remembered.
func (s *Store) takeToken(bucket string, opts block.ListOptions) (string, bool) {
	if opts.StartAfter == "" {
		return "", false
	}
	return s.tokens.take(tokenKey(bucket, opts.Prefix, opts.Delimiter, opts.StartAfter))
}

// Probe sends the endpoint one request, a listing of the buckets whose
// answer is not used, and returns an error when no answer came. From the
// answer, even a refusal, the store learns whether the endpoint is MinIO,
// which its first listing would otherwise ask before it starts: a process
// that probes at start-up spares its first job that round trip, and shows
// an unreachable endpoint at once.
func (s *Store) Probe(ctx context.Context) error {
	_, err := s.client.ListBuckets(ctx)
	if err != nil && s.server.kind.Load() == serverUnknown {
		return fmt.Errorf("s3: probe %s: %w", s.cfg.Endpoint, err)
	}
	return nil
}

// isMinIO reports whether the endpoint is MinIO, asking it (a HEAD of
// bucket) if no response has told yet.
func (s *Store) isMinIO(ctx context.Context, bucket string) bool {
	if s.server.kind.Load() == serverUnknown {
		s.client.BucketExists(ctx, bucket)
	}
	return s.server.kind.Load() == serverMinIO
}

// minioMarker is a continuation token that makes MinIO start a new listing
// after key (its own format: the marker, then a tag asking for a new list).
func minioMarker(key string) string {
	return base64.StdEncoding.EncodeToString([]byte(key + "[minio_cache:v2,return:]"))
}
