package tree

import (
	"context"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
)

// buildTree writes a tree of n generated entries (keyOf(0..n-1)).
func buildTree(tb testing.TB, m *Manager, ns Namespace, n int) MetaRangeID {
	tb.Helper()
	w := m.NewWriter(context.Background(), ns)
	for i := range n {
		e := bulkEntry(i, 0)
		if err := w.Add(&e); err != nil {
			tb.Fatal(err)
		}
	}
	id, err := w.Close()
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// applyOne puts e into tree base.
func applyOne(tb testing.TB, m *Manager, ns Namespace, base MetaRangeID, e store.Entry) MetaRangeID {
	tb.Helper()
	id, err := m.Apply(context.Background(), ns, base, SliceChanges([]Change{{Path: e.Path, Entry: &e}}), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

// TestMillionEntries proves that the cost of a change follows the size of
// the change: on a tree of 1,000,000 entries, a one-entry change writes one
// range, and diff and merge open a handful.
func TestMillionEntries(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	ctx := context.Background()
	m := newManager(t, Config{})
	ns := newNS(t, "")
	start := time.Now()
	base := buildTree(t, m, ns, n)
	t.Logf("wrote %d entries in %v: %+v", n, time.Since(start), m.Stats())
	baseRanges, err := m.GetMetaRange(ctx, ns, base)
	if err != nil {
		t.Fatal(err)
	}

	// Apply: one changed entry rewrites exactly one range.
	changed := bulkEntry(n/3, 1)
	before := m.Stats()
	left := applyOne(t, m, ns, base, changed)
	d := statsDelta(before, m.Stats())
	if d.RangesWritten != 1 || d.MetaRangesWritten != 1 || d.RangesOpened != 1 {
		t.Fatalf("one-entry apply: %+v; want 1 range opened, 1 range and 1 metarange written", d)
	}
	leftRanges, err := m.GetMetaRange(ctx, ns, left)
	if err != nil {
		t.Fatal(err)
	}
	if len(leftRanges) != len(baseRanges) {
		t.Fatalf("%d ranges became %d", len(baseRanges), len(leftRanges))
	}
	differ := 0
	for i := range baseRanges {
		if baseRanges[i].ID != leftRanges[i].ID {
			differ++
		}
	}
	if differ != 1 {
		t.Fatalf("%d range ids changed, want 1", differ)
	}

	// Diff: the two ranges that differ are the only ones opened.
	before = m.Stats()
	it, err := m.Diff(ctx, ns, base, left)
	if err != nil {
		t.Fatal(err)
	}
	diffs := collectDiffs(t, it)
	if d := statsDelta(before, m.Stats()); d.RangesOpened > 2 {
		t.Fatalf("diff opened %d ranges", d.RangesOpened)
	}
	want := bulkEntry(n/3, 0)
	requireDiffs(t, diffs, []Diff{{Type: DiffChanged, Path: changed.Path, Left: &want, Right: &changed}})

	// Merge: one change on each side, far apart.
	other := bulkEntry(2*n/3, 2)
	right := applyOne(t, m, ns, base, other)
	before = m.Stats()
	merged, err := m.Merge(ctx, ns, base, left, right, MergeStrategyNone)
	if err != nil {
		t.Fatal(err)
	}
	d = statsDelta(before, m.Stats())
	// Diff base→left opens 2, the destination range it touches 1.
	if d.RangesOpened > 3 || d.RangesWritten > 1 || d.MetaRangesWritten != 1 {
		t.Fatalf("merge: %+v; want at most 3 ranges opened, at most 1 range and 1 metarange written", d)
	}
	if both := applyOne(t, m, ns, left, other); both != merged {
		t.Fatalf("merge result %s differs from applying both changes %s", merged, both)
	}
	for _, e := range []store.Entry{changed, other} {
		got, err := m.Get(ctx, ns, merged, e.Path)
		if err != nil || !got.Equal(&e) {
			t.Fatalf("merged Get(%q) = %+v, %v", e.Path, got, err)
		}
	}
}
