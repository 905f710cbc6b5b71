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
// errUnordered as soon as a key is not after the one before. With slots
// set, its pages take listing slots (block.Iterator.SetPageSlots).
type listIter struct {
	it     *block.Iterator
	prefix string
	after  string
	upTo   string
	cur    object
	last   []byte // the key before cur's, copied: the page's memory is reused
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
	it := block.ListAll(ctx, t.Store, t.Bucket, block.ListOptions{Prefix: prefix, StartAfter: startAfter, MaxKeys: pageSize})
	it.SetPageSlots(slots)
	// An ordered listing's objects are mapped to entries that copy what
	// they keep of them; the external sort keeps them whole.
	it.SetReuse(!unordered)
	return &listIter{it: it, prefix: prefix, after: after, upTo: upTo, unordered: unordered}
}

func (l *listIter) Next() bool {
	if l.done || l.err != nil {
		return false
	}
	l.cur = object{} // its strings may be in a page used up below
	for l.it.Next() {
		item := l.it.Item()
		if item.IsPrefix {
			continue
		}
		k := item.Key
		if !l.unordered {
			if len(l.last) > 0 && k <= string(l.last) {
				l.err = fmt.Errorf("%w: %q listed after %q", errUnordered, k, l.last)
				l.it.Close()
				return false
			}
			l.last = append(l.last[:0], k...)
		}
		if !strings.HasPrefix(k, l.prefix) || k <= l.after {
			continue
		}
		if l.upTo != "" && k > l.upTo {
			if l.unordered {
				continue
			}
			l.Close()
			return false
		}
		if isDirMarker(k, item.Object.Size) {
			continue
		}
		l.cur = object{Key: k, Size: item.Object.Size, ETag: item.Object.ETag, MTime: item.Object.LastModified}
		return true
	}
	l.done, l.err = true, l.it.Err()
	return false
}

func (l *listIter) Object() *object { return &l.cur }
func (l *listIter) Err() error      { return l.err }
func (l *listIter) Close() {
	l.done = true
	l.it.Close()
}
