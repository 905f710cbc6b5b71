package kv

import "context"

// Iterator walks a partition in key order, fetching one page at a time, so
// that memory stays bounded however large the partition is. It is not safe
// for concurrent use.
type Iterator struct {
	ctx       context.Context
	store     Store
	partition string
	opts      ScanOptions
	page      []Entry
	pos       int
	done      bool
	err       error
	cur       Entry
}

// Scan returns an iterator over the keys of partition that start with
// prefix, from start (inclusive; "" for the first), in pages of pageSize
// (0 for the default).
func Scan(ctx context.Context, s Store, partition, prefix, start string, pageSize int) *Iterator {
	if pageSize <= 0 {
		pageSize = DefaultScanLimit
	}
	return &Iterator{ctx: ctx, store: s, partition: partition,
		opts: ScanOptions{Prefix: prefix, Start: start, Limit: pageSize}}
}

// Next advances to the next entry and reports whether there is one.
func (it *Iterator) Next() bool {
	if it.err != nil {
		return false
	}
	for it.pos >= len(it.page) {
		if it.done {
			return false
		}
		if err := it.ctx.Err(); err != nil {
			it.err = err
			return false
		}
		page, err := it.store.Scan(it.ctx, it.partition, it.opts)
		if err != nil {
			it.err = err
			return false
		}
		it.page, it.pos = page, 0
		if len(page) < it.opts.Limit {
			it.done = true
		}
		if len(page) > 0 {
			it.opts.Start = page[len(page)-1].Key + "\x00"
		}
	}
	it.cur = it.page[it.pos]
	it.pos++
	return true
}

// Entry returns the current entry.
func (it *Iterator) Entry() Entry { return it.cur }

// SeekGE repositions the iterator at the first key >= key.
func (it *Iterator) SeekGE(key string) {
	if key < it.opts.Prefix {
		key = it.opts.Prefix
	}
	it.opts.Start = key
	it.page, it.pos, it.done = nil, 0, false
}

// Err returns the error that stopped the iteration, if any.
func (it *Iterator) Err() error { return it.err }
