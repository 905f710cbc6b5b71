package block

import "context"

// Iterator walks a listing in key order one page at a time, so memory stays
// bounded by the page size however many keys there are. It is not safe for
// concurrent use.
type Iterator struct {
	ctx    context.Context
	store  Store
	bucket string
	opts   ListOptions
	page   []ListItem // the page, when it is not packed
	pos    int
	packed [][]byte // the rest of the page, packed (see packItems)
	chunks [][]byte // with reuse: the packed page's chunks, to recycle
	reuse  bool
	done   bool
	err    error
	cur    ListItem
	slots  chan struct{}
	held   bool
}

// ListAll returns an iterator over every item opts selects (opts.MaxKeys is
// the page size; 0 means 1,000), starting after opts.StartAfter.
func ListAll(ctx context.Context, s Store, bucket string, opts ListOptions) *Iterator {
	return &Iterator{ctx: ctx, store: s, bucket: bucket, opts: opts}
}

// SetPageSlots makes the iterator hold one of slots from the request of
// each page until the page is used up (or Close), so that the pages many
// iterators hold at once, requested or being read, are bounded; it holds
// none while its caller waits for anything else. Call it before Next.
func (it *Iterator) SetPageSlots(slots chan struct{}) { it.slots = slots }

// SetReuse lets the iterator recycle the memory of a packed page once its
// caller has used it up, for the next page of any listing to fill: the
// strings of an item are then valid only until the next call of Next or
// Close. A caller that keeps nothing of an item past that spares the
// garbage collector a page's memory per page. Call it before Next.
func (it *Iterator) SetReuse(reuse bool) { it.reuse = reuse }

// Next advances to the next item and reports whether there is one.
func (it *Iterator) Next() bool {
	if it.err != nil {
		return false
	}
	for it.pos >= len(it.page) && len(it.packed) == 0 {
		it.page, it.packed = nil, nil // not held while the next page is on its way
		it.recycle()
		it.release()
		if it.done {
			return false
		}
		if err := it.ctx.Err(); err != nil {
			it.err = err
			return false
		}
		if it.slots != nil {
			select {
			case it.slots <- struct{}{}:
				it.held = true
			case <-it.ctx.Done():
				it.err = it.ctx.Err()
				return false
			}
		}
		if err := it.list(); err != nil {
			it.release()
			it.err = err
			return false
		}
	}
	if len(it.packed) > 0 {
		if it.packed[0] = unpackItem(it.packed[0], it.bucket, &it.cur); len(it.packed[0]) == 0 {
			it.packed[0] = nil // left to the items unpacked from it
			it.packed = it.packed[1:]
		}
		if len(it.packed) == 0 && !it.reuse {
			// Callers keep the page's last item while the next page is
			// on its way: it does not hold the page.
			it.cur = cloneItem(it.cur, it.bucket)
		}
		return true
	}
	it.cur = it.page[it.pos]
	it.pos++
	return true
}

// list reads the next page, packed where it can be.
func (it *Iterator) list() error {
	if pl, ok := it.store.(PackedLister); ok {
		page, err := pl.ListPacked(it.ctx, it.bucket, it.opts)
		if err != nil {
			return err
		}
		it.packed, it.pos = page.chunks, 0
		it.keepChunks()
		it.done = !page.Truncated || page.count == 0
		if page.count > 0 {
			it.opts.StartAfter = page.last
		}
		return nil
	}
	page, err := it.store.List(it.ctx, it.bucket, it.opts)
	if err != nil {
		return err
	}
	it.page, it.pos = page.Items, 0
	it.done = !page.Truncated || len(page.Items) == 0
	if len(page.Items) > 0 {
		it.opts.StartAfter = page.Items[len(page.Items)-1].Key
	}
	if packable(it.page) {
		it.packed = packItems(it.page, it.bucket)
		it.keepChunks()
		if r, ok := it.store.(PageRecycler); ok {
			r.RecyclePage(it.page)
		}
		it.page = nil
	}
	return nil
}

// recycle gives the chunks of the page just used up to the next pages of
// any listing, when the caller allows it (SetReuse).
func (it *Iterator) recycle() {
	if len(it.chunks) == 0 {
		return
	}
	for _, c := range it.chunks {
		putChunk(c)
	}
	clear(it.chunks)
	it.chunks = it.chunks[:0]
	it.cur = ListItem{} // its strings were in the chunks
}

// keepChunks notes the chunks of the page just read, to recycle, when the
// caller allows it; Next forgets each as it unpacks it.
func (it *Iterator) keepChunks() {
	if it.reuse {
		it.chunks = append(it.chunks, it.packed...)
	}
}

// release gives back the slot of the page just used up.
func (it *Iterator) release() {
	if it.held {
		<-it.slots
		it.held = false
	}
}

// Close stops the iteration early: it drops the page and gives back its
// slot. Next returns false afterwards.
func (it *Iterator) Close() {
	it.page, it.pos, it.packed, it.done = nil, 0, nil, true
	it.recycle()
	it.release()
}

// Item returns the current item.
func (it *Iterator) Item() ListItem { return it.cur }

// Err returns the error that stopped the iteration, if any.
func (it *Iterator) Err() error { return it.err }
