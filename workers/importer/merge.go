package importer

import (
	"container/heap"
	"unsafe"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// partIter maps one part's objects to entries at their destination paths.
// Mapping keeps order: every key of a part starts with the same prefix,
// replaced by the same destination.
type partIter struct {
	it objectIter
	// order is the part's source index in the request: when two parts map
	// objects to the same path, the later source wins.
	order int
	// keyPrefix is the listed key prefix (in the target store's key space),
	// dest the destination path it maps to.
	keyPrefix, dest string
	// addrPrefix is the source URI with the key whose part below keyPrefix
	// follows: an object's address is addrPrefix and that part.
	addrPrefix string

	path    string // destination of the current object, in pathBuf
	pathBuf []byte
}

// newPartIter maps the objects it lists under keyPrefix, in the store of
// source URI u (whose key is keyPrefix in the URI's key space), to dest.
func newPartIter(it objectIter, order int, keyPrefix, dest string, u block.URI) *partIter {
	return &partIter{it: it, order: order, keyPrefix: keyPrefix, dest: dest, addrPrefix: u.String()}
}

// next advances to the part's next object. The path of the one before is
// overwritten.
func (p *partIter) next() bool {
	if !p.it.Next() {
		return false
	}
	p.pathBuf = append(append(p.pathBuf[:0], p.dest...), p.rel()...)
	p.path = bytesString(p.pathBuf)
	return true
}

// rel returns the current object's key below keyPrefix.
func (p *partIter) rel() string { return p.it.Object().Key[len(p.keyPrefix):] }

// entry sets e to the current object as an entry that points at the
// source, its strings written into b: nothing of it shares the listing's
// memory, which the part's next page may reuse.
func (p *partIter) entry(e *store.Entry, b *entryBuffers) {
	o := p.it.Object()
	b.path = append(b.path[:0], p.path...)
	b.addr = append(append(b.addr[:0], p.addrPrefix...), p.rel()...)
	b.etag = append(b.etag[:0], o.ETag...)
	*e = store.Entry{
		Path:        bytesString(b.path),
		Address:     bytesString(b.addr),
		AddressType: store.AddressFull,
		Size:        o.Size,
		ETag:        bytesString(b.etag),
		MTime:       o.MTime,
	}
}

// entryBuffers hold the strings of an entry, overwritten by the next.
type entryBuffers struct{ path, addr, etag []byte }

// bytesString returns a string that shares b's memory: valid until b is
// next written.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// merger merges parts (k-way) into one sequence of entries in strictly
// ascending path order; of several objects mapped to one path it keeps
// the one of the latest source.
type merger struct {
	h   partHeap
	cur store.Entry
	// cur's strings: the next entry overwrites them, which the tree
	// writer allows (it copies what it is given)
	buf entryBuffers
	err error
}

// newMerger starts the merge; it advances every part once.
func newMerger(parts []*partIter) *merger {
	m := &merger{}
	for _, p := range parts {
		if p.next() {
			m.h = append(m.h, p)
		} else if err := p.it.Err(); err != nil {
			m.err = err
		}
	}
	heap.Init(&m.h)
	return m
}

// Next advances to the next entry.
func (m *merger) Next() bool {
	if m.err != nil || len(m.h) == 0 {
		return false
	}
	best := m.h[0]
	best.entry(&m.cur, &m.buf)
	m.advance()
	// Parts mapping an object to the same path: the latest source wins.
	for len(m.h) > 0 && m.h[0].path == m.cur.Path {
		if m.h[0].order > best.order {
			best = m.h[0]
			best.entry(&m.cur, &m.buf)
		}
		m.advance()
		if m.err != nil {
			return false
		}
	}
	return m.err == nil
}

// advance moves the heap's top part forward.
func (m *merger) advance() {
	p := m.h[0]
	if p.next() {
		heap.Fix(&m.h, 0)
		return
	}
	if err := p.it.Err(); err != nil {
		m.err = err
	}
	heap.Pop(&m.h)
}

// Entry returns the current entry, valid until the next call of Next.
func (m *merger) Entry() *store.Entry { return &m.cur }

// Err returns the error that stopped the merge.
func (m *merger) Err() error { return m.err }

// partHeap orders parts by current path, then by source order.
type partHeap []*partIter

func (h partHeap) Len() int { return len(h) }
func (h partHeap) Less(i, j int) bool {
	if h[i].path != h[j].path {
		return h[i].path < h[j].path
	}
	return h[i].order < h[j].order
}
func (h partHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *partHeap) Push(x any)   { *h = append(*h, x.(*partIter)) }
func (h *partHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	return p
}
