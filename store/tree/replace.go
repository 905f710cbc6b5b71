package tree

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// prefixSet is a set of key prefixes, sorted, none a prefix of another.
type prefixSet []string

func newPrefixSet(prefixes []string) prefixSet {
	ps := slices.Clone(prefixes)
	slices.Sort(ps)
	out := ps[:0]
	for _, p := range ps {
		// Sorted order puts a prefix right before the strings it covers.
		if len(out) > 0 && strings.HasPrefix(p, out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// owner returns the prefix of ps that key starts with, if any.
func (ps prefixSet) owner(key string) (string, bool) {
	// The largest prefix <= key is the only candidate: any element between
	// a prefix of key and key itself would start with that prefix.
	i := sort.SearchStrings(ps, key)
	if i < len(ps) && ps[i] == key {
		return key, true
	}
	if i > 0 && strings.HasPrefix(key, ps[i-1]) {
		return ps[i-1], true
	}
	return "", false
}

func (ps prefixSet) contains(key string) bool {
	_, ok := ps.owner(key)
	return ok
}

// covers reports whether every key in [min, max] is under one prefix.
func (ps prefixSet) covers(min, max string) bool {
	p, ok := ps.owner(min)
	return ok && strings.HasPrefix(max, p)
}

// meets reports whether some key in [min, max] may be under a prefix.
func (ps prefixSet) meets(min, max string) bool {
	if ps.contains(min) {
		return true
	}
	// The first prefix after min; its keys start at the prefix itself.
	i := sort.SearchStrings(ps, min)
	return i < len(ps) && ps[i] <= max
}

// Replace returns tree base without any key under one of prefixes, plus
// every entry of tree src; src's keys must all lie under one of prefixes,
// else the error wraps ErrOutsidePrefixes (and store.ErrInvalid). Base
// ranges wholly under a prefix are dropped unopened, base ranges wholly
// outside every prefix and src ranges wholly under one are passed through
// unopened where the output is at a range boundary; only ranges straddling
// a prefix's edge, or overlapping the other tree's, are read. Prefixes are
// plain key prefixes: "a/" does not cover "ab/x".
func (m *Manager) Replace(ctx context.Context, ns Namespace, base MetaRangeID, prefixes []string, src MetaRangeID) (MetaRangeID, error) {
	ps := newPrefixSet(prefixes)
	baseRanges, err := m.metaRange(ctx, ns, base)
	if err != nil {
		return "", err
	}
	srcRanges, err := m.metaRange(ctx, ns, src)
	if err != nil {
		return "", err
	}
	w := m.NewWriter(ctx, ns)
	if err := m.replace(ctx, ps, m.newCursor(ns, baseRanges), m.newCursor(ns, srcRanges), w); err != nil {
		w.Abort()
		return "", err
	}
	return w.Close()
}

func (m *Manager) replace(ctx context.Context, ps prefixSet, b, s *cursor, w *Writer) error {
	for {
		// Base ranges wholly under a prefix vanish unread.
		if !b.done() && !b.opened() && ps.covers(b.rng().MinKey, b.rng().MaxKey) {
			b.skip()
			continue
		}
		if b.done() && s.done() {
			return nil
		}
		if !b.opened() && !s.opened() {
			if err := ctx.Err(); err != nil {
				return err
			}
			// Neither side is open: pass the earlier range through when it
			// ends before the other begins and needs no filtering.
			if !w.Pending() {
				switch {
				case !b.done() && (s.done() || b.rng().MaxKey < s.rng().MinKey) && !ps.meets(b.rng().MinKey, b.rng().MaxKey):
					if err := w.addRange(b.rng()); err != nil {
						return err
					}
					b.skip()
					continue
				case !s.done() && (b.done() || s.rng().MaxKey < b.rng().MinKey) && ps.covers(s.rng().MinKey, s.rng().MaxKey):
					if err := w.addRange(s.rng()); err != nil {
						return err
					}
					s.skip()
					continue
				}
			}
		}
		if !b.done() && !b.opened() && (s.done() || b.key() <= s.key()) {
			if err := b.openRange(ctx); err != nil {
				return err
			}
			continue
		}
		if !s.done() && !s.opened() && (b.done() || s.key() <= b.key()) {
			if err := s.openRange(ctx); err != nil {
				return err
			}
			continue
		}
		// Every side not done is open, or unopened with a first key after
		// the other side's current entry.
		if b.opened() && (!s.opened() || b.key() < s.key()) {
			if e := b.entry(); !ps.contains(e.Path) {
				if err := w.add(e); err != nil {
					return err
				}
			}
			b.next()
			continue
		}
		// s is open and its key is the smallest; a base entry at the same
		// key is under a prefix (src's keys all are) and so replaced.
		e := s.entry()
		if !ps.contains(e.Path) {
			return fmt.Errorf("%w: replace %v: source entry %q", ErrOutsidePrefixes, []string(ps), e.Path)
		}
		if b.opened() && b.key() == e.Path {
			b.next()
		}
		if err := w.add(e); err != nil {
			return err
		}
		s.next()
	}
}
