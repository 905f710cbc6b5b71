package tree

import (
	"context"

	"github.com/lakeq/lakeq/store"
)

// DiffType classifies one difference between two trees.
type DiffType int

// Kinds of difference, from the left tree to the right one.
const (
	// DiffAdded: the path is only in the right tree.
	DiffAdded DiffType = iota + 1
	// DiffRemoved: the path is only in the left tree.
	DiffRemoved
	// DiffChanged: the path is in both trees with different entries.
	DiffChanged
)

// String returns "added", "removed" or "changed".
func (t DiffType) String() string {
	switch t {
	case DiffAdded:
		return "added"
	case DiffRemoved:
		return "removed"
	case DiffChanged:
		return "changed"
	}
	return "unknown"
}

// Diff is one difference between two trees.
type Diff struct {
	Type  DiffType
	Path  string
	Left  *store.Entry // nil when Added
	Right *store.Entry // nil when Removed
}

// DiffIterator yields differences in path order.
type DiffIterator interface {
	// Next advances to the next difference and reports whether there is
	// one; it returns false at the end or on an error.
	Next() bool
	// Diff returns the current difference, valid until the next call of
	// Next; its entries' Metadata maps must not be modified.
	Diff() *Diff
	// Err returns the error that stopped the iteration, if any.
	Err() error
	// Close releases the iterator.
	Close()
}

// Diff returns the differences from tree left to tree right, in path order.
// It never opens a range whose id is on both sides at the same place; where
// the two sides' ranges are misaligned it reads entries of both until they
// align again. Cost follows the size of the difference, not of the trees.
func (m *Manager) Diff(ctx context.Context, ns Namespace, left, right MetaRangeID) (DiffIterator, error) {
	lr, err := m.metaRange(ctx, ns, left)
	if err != nil {
		return nil, err
	}
	rr, err := m.metaRange(ctx, ns, right)
	if err != nil {
		return nil, err
	}
	return &diffIterator{ctx: ctx, l: m.newCursor(ns, lr), r: m.newCursor(ns, rr)}, nil
}

type diffIterator struct {
	ctx         context.Context
	l, r        *cursor
	cur         Diff
	left, right store.Entry
	err         error
	closed      bool
}

func (d *diffIterator) Next() bool {
	if d.err != nil || d.closed {
		return false
	}
	l, r := d.l, d.r
	for {
		if l.done() && r.done() {
			return false
		}
		if !l.done() && !r.done() && !l.opened() && !r.opened() {
			if err := d.ctx.Err(); err != nil {
				d.err = err
				return false
			}
			if l.rng().ID == r.rng().ID {
				l.skipEqual(r)
				continue
			}
		}
		if !l.done() && !l.opened() && (r.done() || l.key() <= r.key()) {
			if d.err = l.openRange(d.ctx); d.err != nil {
				return false
			}
			continue
		}
		if !r.done() && !r.opened() && (l.done() || r.key() <= l.key()) {
			if d.err = r.openRange(d.ctx); d.err != nil {
				return false
			}
			continue
		}
		// Every side not done is open, or unopened with a first key after
		// the other side's current entry.
		switch {
		case l.opened() && (!r.opened() || l.key() < r.key()):
			d.left = *l.entry()
			d.cur = Diff{Type: DiffRemoved, Path: d.left.Path, Left: &d.left}
			l.next()
			return true
		case r.opened() && (!l.opened() || r.key() < l.key()):
			d.right = *r.entry()
			d.cur = Diff{Type: DiffAdded, Path: d.right.Path, Right: &d.right}
			r.next()
			return true
		default:
			le, re := l.entry(), r.entry()
			if le.Equal(re) {
				l.next()
				r.next()
				continue
			}
			d.left, d.right = *le, *re
			d.cur = Diff{Type: DiffChanged, Path: le.Path, Left: &d.left, Right: &d.right}
			l.next()
			r.next()
			return true
		}
	}
}

func (d *diffIterator) Diff() *Diff { return &d.cur }
func (d *diffIterator) Err() error  { return d.err }
func (d *diffIterator) Close()      { d.closed = true }

// DiffChanges adapts a DiffIterator into a ChangeIterator: each difference
// becomes a change to its Right entry (nil when removed), with its Left
// entry as Base. Closing the result closes it.
func (m *Manager) DiffChanges(it DiffIterator) ChangeIterator {
	return &diffChanges{it: it}
}

type diffChanges struct {
	it  DiffIterator
	cur Change
}

func (c *diffChanges) Next() bool {
	if !c.it.Next() {
		return false
	}
	d := c.it.Diff()
	c.cur = Change{Path: d.Path, Entry: d.Right, Base: d.Left}
	return true
}

func (c *diffChanges) Change() *Change { return &c.cur }
func (c *diffChanges) Err() error      { return c.it.Err() }
func (c *diffChanges) Close()          { c.it.Close() }
