package exporter

import (
	"context"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/tree"
)

// change is one thing an export does at the destination: copy Entry to
// Path, or delete Path when Entry is nil.
type change struct {
	Path  string
	Entry *store.Entry
}

// walk calls fn, in path order, with every change of the export inside
// span s: in full mode a copy of every entry of the commit, in diff mode a
// copy of each added or changed entry and a delete of each removed one.
// The change's entry is fn's to keep.
func (h *Handler) walk(ctx context.Context, x *export, s span, fn func(change) error) error {
	right, err := h.spanIter(ctx, x, x.commit.MetaRangeID, s)
	if err != nil {
		return err
	}
	defer right.close()
	if x.prev == nil {
		for right.next() {
			e := *right.entry()
			if err := fn(change{Path: e.Path, Entry: &e}); err != nil {
				return err
			}
		}
		return right.err()
	}
	left, err := h.spanIter(ctx, x, x.prev.MetaRangeID, s)
	if err != nil {
		return err
	}
	defer left.close()
	lok, rok := left.next(), right.next()
	for lok || rok {
		switch {
		case lok && (!rok || left.entry().Path < right.entry().Path):
			if err := fn(change{Path: left.entry().Path}); err != nil {
				return err
			}
			lok = left.next()
		case rok && (!lok || right.entry().Path < left.entry().Path):
			e := *right.entry()
			if err := fn(change{Path: e.Path, Entry: &e}); err != nil {
				return err
			}
			rok = right.next()
		default:
			if !left.entry().Equal(right.entry()) {
				e := *right.entry()
				if err := fn(change{Path: e.Path, Entry: &e}); err != nil {
					return err
				}
			}
			lok, rok = left.next(), right.next()
		}
	}
	if err := left.err(); err != nil {
		return err
	}
	return right.err()
}

// boundedIter walks the entries of a tree inside a span.
type boundedIter struct {
	it   *tree.Iterator
	hi   string
	done bool
}

func (h *Handler) spanIter(ctx context.Context, x *export, id tree.MetaRangeID, s span) (*boundedIter, error) {
	it, err := h.graph.Trees().NewIterator(ctx, x.ns, id)
	if err != nil {
		return nil, err
	}
	it.SeekGE(s.Lo)
	return &boundedIter{it: it, hi: s.Hi}, nil
}

func (b *boundedIter) next() bool {
	if b.done {
		return false
	}
	if !b.it.Next() || b.it.Entry().Path > b.hi {
		b.done = true
		return false
	}
	return true
}

func (b *boundedIter) entry() *store.Entry { return b.it.Entry() }
func (b *boundedIter) err() error          { return b.it.Err() }
func (b *boundedIter) close()              { b.it.Close() }
