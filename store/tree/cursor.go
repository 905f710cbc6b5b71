package tree

import (
	"context"

	"github.com/lakeq/lakeq/store"
)

// cursor walks the ranges of one metarange, opening a range only when asked
// to. Walks over two metaranges (Diff, Replace) and Apply's walk over its
// base use it to pass unchanged ranges by without reading them.
type cursor struct {
	m      *Manager
	ns     Namespace
	ranges []RangeInfo
	i      int           // current range
	open   []store.Entry // entries of ranges[i] when opened, else nil
	j      int           // current entry of open
}

func (m *Manager) newCursor(ns Namespace, ranges []RangeInfo) *cursor {
	return &cursor{m: m, ns: ns, ranges: ranges}
}

// done reports whether every range has been walked.
func (c *cursor) done() bool { return c.i >= len(c.ranges) }

// opened reports whether the current range is open.
func (c *cursor) opened() bool { return c.open != nil }

// rng is the current range.
func (c *cursor) rng() *RangeInfo { return &c.ranges[c.i] }

// key is the current entry's path when the range is open, else the range's
// first key.
func (c *cursor) key() string {
	if c.open != nil {
		return c.open[c.j].Path
	}
	return c.ranges[c.i].MinKey
}

// entry is the current entry of an open range.
func (c *cursor) entry() *store.Entry { return &c.open[c.j] }

// openRange reads the current range and positions at its first entry.
func (c *cursor) openRange(ctx context.Context) error {
	entries, err := c.m.rangeEntries(ctx, c.ns, c.ranges[c.i].ID)
	if err != nil {
		return err
	}
	c.open, c.j = entries, 0
	return nil
}

// next moves to the next entry of an open range, or past the range after
// its last entry.
func (c *cursor) next() {
	c.j++
	if c.j >= len(c.open) {
		c.open, c.j = nil, 0
		c.i++
	}
}

// skip moves past the current, unopened range.
func (c *cursor) skip() { c.i++ }

// skipEqual moves c and o, both at unopened ranges, past their common run
// of ranges with equal ids.
func (c *cursor) skipEqual(o *cursor) {
	i, j := c.i, o.i
	for i < len(c.ranges) && j < len(o.ranges) && c.ranges[i].ID == o.ranges[j].ID {
		i++
		j++
	}
	c.i, o.i = i, j
}
