package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lakeq/lakeq/store/block"
)

// errUnordered reports a listing that is not in ascending byte order, as
// some S3 implementations return; the shard is then listed again through
// an external sort.
var errUnordered = errors.New("listing not in ascending key order")

// object is one source object as a listing describes it.
type object struct {
	Key   string
	Size  int64
	ETag  string
	MTime time.Time
}

// objectIter walks source objects in strictly ascending key order.
type objectIter interface {
	// Next advances to the next object and reports whether there is one.
	Next() bool
	// Object returns the current object, valid until the next call of
	// Next.
	Object() *object
	// Err returns the error that stopped the iteration, if any.
	Err() error
	// Close releases the iterator's resources.
	Close()
}

// isDirMarker reports whether an object is an empty "directory" placeholder
// (a key ending in '/'), which imports skip: a path cannot be both an
// object and a directory of objects.
func isDirMarker(key string, size int64) bool {
	return size == 0 && strings.HasSuffix(key, "/")
}

// listIter lists one part of a shard in the store's order and fails with
// errUnordered as soon as a key is not after the one before.
//
// With slots set, the iterator holds a slot from the request of a page
// until the page is used up, so that the pages a worker holds in memory
// (requested or being read) are bounded however many shards it runs; it
// holds none while its caller waits for anything else.
type listIter struct {
	ctx    context.Context
	t      block.Target
	opts   block.ListOptions
	slots  chan struct{}
	held   bool
	page   []block.ListItem
	pos    int
	more   bool // the store has pages after this one
	prefix string
	after  string
	upTo   string
	cur    object
	last   string
	err    error
	done   bool
	// unordered accepts keys in any order: no order check, and no early
	// stop at upTo (keys in bounds may still follow); it feeds the
	// external sort.
	unordered bool
}

// newListIter lists the keys of t's store under prefix, from startAfter,
// that lie in (after, upTo], pageSize keys a request, taking one of slots
// (nil: no bound) for each page.
func newListIter(ctx context.Context, t block.Target, prefix, startAfter, after, upTo string, pageSize int, unordered bool, slots chan struct{}) *listIter {
	return &listIter{ctx: ctx, t: t, slots: slots, more: true, prefix: prefix, after: after, upTo: upTo, unordered: unordered,
		opts: block.ListOptions{Prefix: prefix, StartAfter: startAfter, MaxKeys: pageSize}}
}

// nextItem returns the next listing item, fetching pages as needed.
func (l *listIter) nextItem() (block.ListItem, bool) {
	for l.pos >= len(l.page) {
		l.page, l.pos = nil, 0
		l.release()
		if !l.more {
			return block.ListItem{}, false
		}
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
				l.held = true
			case <-l.ctx.Done():
				l.err = l.ctx.Err()
				return block.ListItem{}, false
			}
		}
		page, err := l.t.Store.List(l.ctx, l.t.Bucket, l.opts)
		if err != nil {
			l.err = err
			return block.ListItem{}, false
		}
		l.page = page.Items
		l.more = page.Truncated && len(page.Items) > 0
		if len(page.Items) > 0 {
			l.opts.StartAfter = page.Items[len(page.Items)-1].Key
		}
	}
	item := l.page[l.pos]
	l.pos++
	return item, true
}

// release gives back the slot of the page just used up.
func (l *listIter) release() {
	if l.held {
		<-l.slots
		l.held = false
	}
}

func (l *listIter) Next() bool {
	if l.done || l.err != nil {
		return false
	}
	for {
		item, ok := l.nextItem()
		if !ok {
			l.done = true
			return false
		}
		if item.IsPrefix {
			continue
		}
		k := item.Key
		if !l.unordered {
			if l.last != "" && k <= l.last {
				l.err = fmt.Errorf("%w: %q listed after %q", errUnordered, k, l.last)
				l.release()
				return false
			}
			l.last = k
		}
		if !strings.HasPrefix(k, l.prefix) || k <= l.after {
			continue
		}
		if l.upTo != "" && k > l.upTo {
			if l.unordered {
				continue
			}
			l.done = true
			l.release()
			return false
		}
		if isDirMarker(k, item.Object.Size) {
			continue
		}
		l.cur = object{Key: k, Size: item.Object.Size, ETag: item.Object.ETag, MTime: item.Object.LastModified}
		return true
	}
}

func (l *listIter) Object() *object { return &l.cur }
func (l *listIter) Err() error      { return l.err }
func (l *listIter) Close() {
	l.done = true
	l.page = nil
	l.release()
}
