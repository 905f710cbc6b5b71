package tree

import (
	"context"
	"fmt"
	"maps"
	"sort"

	"github.com/lakeq/lakeq/store"
)

// Iterator walks a tree's entries in path order. It opens ranges lazily,
// one at a time, and holds only the current one. It is not safe for
// concurrent use.
type Iterator struct {
	m      *Manager
	ctx    context.Context
	ns     Namespace
	ranges []RangeInfo

	ri      int           // index of the range being read
	entries []store.Entry // entries of ranges[ri], once opened
	ei      int           // index of the next entry in entries
	seek    string        // position entries at the first path >= seek when opened
	seeking bool

	cur    store.Entry
	err    error
	closed bool
}

// NewIterator returns an iterator over the entries of metarange id,
// positioned before the first entry. ctx bounds every read the iterator
// makes.
func (m *Manager) NewIterator(ctx context.Context, ns Namespace, id MetaRangeID) (*Iterator, error) {
	ranges, err := m.metaRange(ctx, ns, id)
	if err != nil {
		return nil, err
	}
	return &Iterator{m: m, ctx: ctx, ns: ns, ranges: ranges}, nil
}

// Next advances to the next entry and reports whether there is one. It
// returns false at the end or on an error (see Err).
func (it *Iterator) Next() bool {
	if it.err != nil || it.closed {
		return false
	}
	for {
		if it.entries != nil {
			if it.ei < len(it.entries) {
				it.cur = it.entries[it.ei]
				it.ei++
				return true
			}
			it.entries = nil
			it.ri++
		}
		if it.ri >= len(it.ranges) {
			return false
		}
		if err := it.ctx.Err(); err != nil {
			it.err = err
			return false
		}
		entries, err := it.m.rangeEntries(it.ctx, it.ns, it.ranges[it.ri].ID)
		if err != nil {
			it.err = err
			return false
		}
		it.entries, it.ei = entries, 0
		if it.seeking {
			it.seeking = false
			it.ei = sort.Search(len(entries), func(i int) bool { return entries[i].Path >= it.seek })
		}
	}
}

// Entry returns the current entry. It stays valid until the next call of
// Next or SeekGE; its Metadata map must not be modified.
func (it *Iterator) Entry() *store.Entry { return &it.cur }

// SeekGE positions the iterator so that the next call of Next returns the
// first entry whose path is path or after it. It opens at most one range,
// and only when Next is called.
func (it *Iterator) SeekGE(path string) {
	if it.err != nil {
		return
	}
	it.ri = sort.Search(len(it.ranges), func(i int) bool { return it.ranges[i].MaxKey >= path })
	it.entries, it.ei = nil, 0
	it.seek, it.seeking = path, true
}

// Err returns the error that stopped the iteration, if any.
func (it *Iterator) Err() error { return it.err }

// Close releases the iterator's range; Next returns false afterwards.
func (it *Iterator) Close() {
	it.entries, it.ranges = nil, nil
	it.closed = true
}

// Get returns the entry at path in metarange id, or an error wrapping
// store.ErrObjectNotFound. It opens at most one range.
func (m *Manager) Get(ctx context.Context, ns Namespace, id MetaRangeID, path string) (*store.Entry, error) {
	ranges, err := m.metaRange(ctx, ns, id)
	if err != nil {
		return nil, err
	}
	i := sort.Search(len(ranges), func(i int) bool { return ranges[i].MaxKey >= path })
	if i == len(ranges) || ranges[i].MinKey > path {
		return nil, fmt.Errorf("%w: %q", store.ErrObjectNotFound, path)
	}
	entries, err := m.rangeEntries(ctx, ns, ranges[i].ID)
	if err != nil {
		return nil, err
	}
	j := sort.Search(len(entries), func(j int) bool { return entries[j].Path >= path })
	if j == len(entries) || entries[j].Path != path {
		return nil, fmt.Errorf("%w: %q", store.ErrObjectNotFound, path)
	}
	e := entries[j]
	e.Metadata = maps.Clone(e.Metadata)
	return &e, nil
}
