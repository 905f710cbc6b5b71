package tree

import (
	"context"
	"strconv"
	"testing"
)

// TestBoundaryStability checks that a change rewrites only the ranges
// around it: every other range keeps its id, and Apply opens and writes no
// more than those.
func TestBoundaryStability(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 64})
	ns := newNS(t, "")
	const n = 20_000
	base := buildTree(t, m, ns, n)
	baseRanges, err := m.GetMetaRange(ctx, ns, base)
	if err != nil {
		t.Fatal(err)
	}
	if len(baseRanges) < 100 {
		t.Fatalf("only %d ranges", len(baseRanges))
	}
	// A range in the middle that ends on a content boundary (not forced).
	mid := len(baseRanges) / 2
	for !m.isBoundary(baseRanges[mid].MaxKey) {
		mid++
	}
	r := baseRanges[mid]
	// A new key inside r that is itself a boundary, and one that is not.
	newKey := func(boundary bool) string {
		for i := 0; ; i++ {
			k := r.MinKey + "/" + strconv.Itoa(i)
			if m.isBoundary(k) == boundary {
				return k
			}
		}
	}
	inner := keyOf(int(r.Count)/2 + indexOf(t, r.MinKey))
	if m.isBoundary(inner) {
		t.Fatalf("%q is a boundary", inner)
	}
	put := func(k string, v int) Change {
		e := bulkEntry(0, v)
		e.Path = k
		return Change{Path: k, Entry: &e}
	}
	del := func(k string) Change { return Change{Path: k} }

	for _, tc := range []struct {
		name           string
		change         Change
		removed, added int
		rangesDelta    int
		opened         int64
	}{
		{"modify", put(inner, 5), 1, 1, 0, 1},
		{"add inside", put(newKey(false), 5), 1, 1, 0, 1},
		{"add a boundary key", put(newKey(true), 5), 1, 2, +1, 1},
		{"delete inside", del(inner), 1, 1, 0, 1},
		{"delete a boundary key", del(r.MaxKey), 2, 1, -1, 2},
		{"delete the first key", del(keyOf(0)), 1, 1, 0, 1},
		{"append after the last key", put(keyOf(n), 5), 1, 1, 0, 1},
		{"delete an absent key", del(inner + "-absent"), 0, 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := m.Stats()
			id, err := m.Apply(ctx, ns, base, SliceChanges([]Change{tc.change}), nil)
			if err != nil {
				t.Fatal(err)
			}
			d := statsDelta(before, m.Stats())
			ranges, err := m.GetMetaRange(ctx, ns, id)
			if err != nil {
				t.Fatal(err)
			}
			removed, added := rangeChanges(baseRanges, ranges)
			if removed != tc.removed || added != tc.added || len(ranges)-len(baseRanges) != tc.rangesDelta {
				t.Fatalf("%d ranges removed, %d added, count %+d; want %d, %d, %+d", removed, added,
					len(ranges)-len(baseRanges), tc.removed, tc.added, tc.rangesDelta)
			}
			// Diff reads only the ranges that differ.
			before = m.Stats()
			it, err := m.Diff(ctx, ns, base, id)
			if err != nil {
				t.Fatal(err)
			}
			diffs := collectDiffs(t, it)
			if got := m.Stats().RangesOpened - before.RangesOpened; got > int64(removed+added) {
				t.Fatalf("diff opened %d ranges; %d differ", got, removed+added)
			}
			if tc.added > 0 && (len(diffs) != 1 || diffs[0].Path != tc.change.Path) {
				t.Fatalf("diff: %v", diffPaths(diffs))
			}
			if d.RangesOpened != tc.opened || d.RangesWritten != int64(tc.added) || d.MetaRangesWritten != min(int64(tc.added), 1) {
				t.Fatalf("apply opened %d and wrote %d ranges and %d metaranges", d.RangesOpened, d.RangesWritten, d.MetaRangesWritten)
			}
		})
	}
}

// indexOf parses the number at the end of a keyOf key.
func indexOf(t *testing.T, k string) int {
	t.Helper()
	i, err := strconv.Atoi(k[len(k)-8:])
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// rangeChanges counts the ranges only in a (removed) and only in b (added),
// checking that the unchanged ones are a common prefix and suffix.
func rangeChanges(a, b []RangeInfo) (removed, added int) {
	p := 0
	for p < len(a) && p < len(b) && a[p].ID == b[p].ID {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s].ID == b[len(b)-1-s].ID {
		s++
	}
	return len(a) - p - s, len(b) - p - s
}
