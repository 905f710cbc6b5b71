package importer

import (
	"container/heap"

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
	// uri is the source URI, whose key is uriPrefix where the listing's is
	// keyPrefix: an object's address is uri with its key below uriPrefix.
	uri       block.URI
	uriPrefix string

	path string // destination of the current object
}

func (p *partIter) next() bool {
	if !p.it.Next() {
		return false
	}
	p.path = p.dest + p.it.Object().Key[len(p.keyPrefix):]
	return true
}

// entry returns the current object as an entry that points at the source.
func (p *partIter) entry() store.Entry {
	o := p.it.Object()
	u := p.uri
	u.Key = p.uriPrefix + o.Key[len(p.keyPrefix):]
	return store.Entry{
		Path:        p.path,
		Address:     u.String(),
		AddressType: store.AddressFull,
		Size:        o.Size,
		ETag:        o.ETag,
		MTime:       o.MTime,
	}
}

// merger merges parts (k-way) into one sequence of entries in strictly
// ascending path order; of several objects mapped to one path it keeps
// the one of the latest source.
type merger struct {
	h   partHeap
	cur store.Entry
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
	m.cur = best.entry()
	m.advance()
	// Parts mapping an object to the same path: the latest source wins.
	for len(m.h) > 0 && m.h[0].path == m.cur.Path {
		if m.h[0].order > best.order {
			best = m.h[0]
			m.cur = best.entry()
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

// Entry returns the current entry.
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
