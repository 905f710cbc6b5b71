package tree

import (
	"context"
	"fmt"
	"maps"

	"github.com/lakeq/lakeq/store"
)

// Change is one change to a tree.
type Change struct {
	Path string
	// Entry is the new entry at Path; nil deletes Path.
	Entry *store.Entry
	// Base is the entry at Path in a merge base, when the change comes from
	// a comparison; optional.
	Base *store.Entry
}

// ChangeIterator yields changes in strictly increasing Path order.
type ChangeIterator interface {
	// Next advances to the next change and reports whether there is one;
	// it returns false at the end or on an error.
	Next() bool
	// Change returns the current change, valid until the next call of Next.
	Change() *Change
	// Err returns the error that stopped the iteration, if any.
	Err() error
	// Close releases the iterator.
	Close()
}

// ResolveFunc decides the final entry at ch.Path given the tree's current
// entry there (nil when absent); it returns nil for "absent". An error
// stops the Apply with that error.
type ResolveFunc func(current *store.Entry, ch *Change) (*store.Entry, error)

// SliceChanges returns a ChangeIterator over changes, which must be in
// strictly increasing Path order (Apply checks).
func SliceChanges(changes []Change) ChangeIterator {
	return &sliceChanges{changes: changes, i: -1}
}

type sliceChanges struct {
	changes []Change
	i       int
}

func (s *sliceChanges) Next() bool {
	if s.i+1 >= len(s.changes) {
		s.i = len(s.changes)
		return false
	}
	s.i++
	return true
}
func (s *sliceChanges) Change() *Change { return &s.changes[s.i] }
func (s *sliceChanges) Err() error      { return nil }
func (s *sliceChanges) Close()          {}

// changeCursor peeks one change ahead and checks the order.
type changeCursor struct {
	it   ChangeIterator
	cur  *Change
	last string
	n    int
	err  error
}

func (c *changeCursor) advance() {
	if c.err != nil {
		c.cur = nil
		return
	}
	if !c.it.Next() {
		c.cur, c.err = nil, c.it.Err()
		return
	}
	ch := c.it.Change()
	switch {
	case c.n > 0 && ch.Path <= c.last:
		c.cur, c.err = nil, fmt.Errorf("%w: change %q after %q", ErrOutOfOrder, ch.Path, c.last)
		return
	case ch.Entry != nil && ch.Entry.Path != ch.Path:
		c.cur, c.err = nil, fmt.Errorf("%w: change at %q carries an entry for %q", store.ErrInvalidValue, ch.Path, ch.Entry.Path)
		return
	}
	if err := store.ValidatePath(ch.Path); err != nil {
		c.cur, c.err = nil, err
		return
	}
	c.cur, c.last = ch, ch.Path
	c.n++
}

// Apply returns the tree base with changes applied: for each change, the
// entry resolve returns (ch.Entry when resolve is nil) replaces the entry
// at ch.Path, or removes it when nil. resolve is called once per change,
// in order, with the base's entry at ch.Path (nil when absent).
//
// Base ranges that no change falls into are passed through unopened
// whenever the output is at a range boundary. A range a change falls into
// (a change between two ranges falls into the following one) is read and
// its entries re-cut; when that leaves the output between boundaries, the
// following base ranges are read too, until the output is back on a
// boundary of the base. Changes after the last range are appended. The
// result is cut exactly as a fresh write of its entries would be, so
// equal trees get equal ids however they were made.
//
// Apply streams: it holds one base range and the ranges being uploaded.
// It closes changes. On error nothing written is referenced.
func (m *Manager) Apply(ctx context.Context, ns Namespace, base MetaRangeID, changes ChangeIterator, resolve ResolveFunc) (MetaRangeID, error) {
	defer changes.Close()
	w := m.NewWriter(ctx, ns)
	if err := m.apply(ctx, ns, base, changes, resolve, w); err != nil {
		w.Abort()
		return "", err
	}
	return w.Close()
}

func (m *Manager) apply(ctx context.Context, ns Namespace, base MetaRangeID, changes ChangeIterator, resolve ResolveFunc, w *Writer) error {
	ranges, err := m.metaRange(ctx, ns, base)
	if err != nil {
		return err
	}
	cc := &changeCursor{it: changes}
	cc.advance()
	// put writes the outcome of change ch over current.
	put := func(current *store.Entry, ch *Change) error {
		final := ch.Entry
		if resolve != nil {
			var err error
			if final, err = resolve(current, ch); err != nil {
				return err
			}
		}
		if final == nil {
			return nil
		}
		if final.Path != ch.Path {
			return fmt.Errorf("%w: resolving %q returned an entry for %q", store.ErrInvalidValue, ch.Path, final.Path)
		}
		if final == current {
			return w.add(current)
		}
		e := *final
		if len(e.Metadata) > 0 {
			e.Metadata = maps.Clone(e.Metadata)
		} else {
			e.Metadata = nil
		}
		return w.add(&e)
	}
	for i := range ranges {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := &ranges[i]
		if cc.err != nil {
			return cc.err
		}
		untouched := cc.cur == nil || cc.cur.Path > r.MaxKey
		if untouched && cc.cur != nil && i == len(ranges)-1 && !m.endsOnBoundary(r) {
			// The tree's last range may end where its input ended rather
			// than on a boundary; keys appended after it join it.
			untouched = false
		}
		if !w.Pending() && untouched {
			if err := w.addRange(r); err != nil {
				return err
			}
			continue
		}
		entries, err := m.rangeEntries(ctx, ns, r.ID)
		if err != nil {
			return err
		}
		j := 0
		for j < len(entries) || (cc.cur != nil && cc.cur.Path <= r.MaxKey) {
			switch {
			case cc.cur == nil || cc.cur.Path > r.MaxKey || (j < len(entries) && entries[j].Path < cc.cur.Path):
				err = w.add(&entries[j])
				j++
			case j < len(entries) && entries[j].Path == cc.cur.Path:
				err = put(&entries[j], cc.cur)
				j++
				cc.advance()
			default:
				err = put(nil, cc.cur)
				cc.advance()
			}
			if err != nil {
				return err
			}
		}
		if cc.err != nil {
			return cc.err
		}
	}
	// Changes after the last range.
	for n := 0; cc.cur != nil; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := put(nil, cc.cur); err != nil {
			return err
		}
		cc.advance()
	}
	return cc.err
}
