package tree

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block/local"
)

const testBucket = "lake"

// newNS returns a namespace in a fresh local block store under
// t.TempDir().
func newNS(t testing.TB, prefix string) Namespace {
	t.Helper()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.MakeBucket(context.Background(), testBucket); err != nil {
		t.Fatal(err)
	}
	return Namespace{Store: s, Bucket: testBucket, Prefix: prefix}
}

func newManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var baseTime = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)

// entryAt returns a deterministic entry at path, version v.
func entryAt(path string, v int) store.Entry {
	e := store.Entry{
		Path:        path,
		Address:     fmt.Sprintf("data/g%d/%s-v%d", len(path)%7, path, v),
		Size:        int64(len(path)*31 + v),
		ETag:        fmt.Sprintf("%032x", len(path)*1000003+v),
		MTime:       baseTime.Add(time.Duration(v) * time.Second),
		ContentType: "application/octet-stream",
	}
	if v%3 == 1 {
		e.Metadata = map[string]string{"v": fmt.Sprint(v), "owner": "lakeq"}
	}
	if v%5 == 2 {
		e.AddressType = store.AddressFull
		e.Address = "s3://external/" + path
	}
	return e
}

// keyOf returns the i-th key of a generated key space, in sorted order for
// increasing i: "k/<i/10000, 4 digits>/<i, 8 digits>".
func keyOf(i int) string {
	var b [19]byte
	copy(b[:], "k/0000/00000000")
	putDigits(b[2:6], i/10000)
	putDigits(b[7:15], i)
	return string(b[:15])
}

// putDigits writes n in decimal into b, zero-padded to len(b).
func putDigits(b []byte, n int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
}

// bulkEntry is a cheap entry for large generated trees: key keyOf(i),
// version v.
func bulkEntry(i, v int) store.Entry {
	k := keyOf(i)
	return store.Entry{
		Path:    k,
		Address: "data/" + k + "/" + strconv.Itoa(v),
		Size:    int64(i + v),
		ETag:    strconv.FormatUint(uint64(i)*0x9e3779b97f4a7c15+uint64(v), 16),
		MTime:   baseTime.Add(time.Duration(v) * time.Second),
	}
}

// writeTree writes entries (sorted) as a tree and returns its id.
func writeTree(t testing.TB, m *Manager, ns Namespace, entries []store.Entry) MetaRangeID {
	t.Helper()
	w := m.NewWriter(context.Background(), ns)
	for i := range entries {
		if err := w.Add(&entries[i]); err != nil {
			t.Fatal(err)
		}
	}
	id, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// writeModel writes a model map as a tree.
func writeModel(t testing.TB, m *Manager, ns Namespace, model map[string]store.Entry) MetaRangeID {
	t.Helper()
	return writeTree(t, m, ns, modelEntries(model))
}

func modelEntries(model map[string]store.Entry) []store.Entry {
	keys := slices.Sorted(maps.Keys(model))
	out := make([]store.Entry, len(keys))
	for i, k := range keys {
		out[i] = model[k]
	}
	return out
}

// readAllEntries iterates tree id completely.
func readAllEntries(t testing.TB, m *Manager, ns Namespace, id MetaRangeID) []store.Entry {
	t.Helper()
	it, err := m.NewIterator(context.Background(), ns, id)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []store.Entry
	for it.Next() {
		out = append(out, *it.Entry())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// requireEntries fails unless got and want hold equal entries in order.
func requireEntries(t testing.TB, got, want []store.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if !got[i].Equal(&want[i]) {
			t.Fatalf("entry %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// collectDiffs drains a diff iterator.
func collectDiffs(t testing.TB, it DiffIterator) []Diff {
	t.Helper()
	defer it.Close()
	var out []Diff
	for it.Next() {
		d := *it.Diff()
		if d.Left != nil {
			l := *d.Left
			d.Left = &l
		}
		if d.Right != nil {
			r := *d.Right
			d.Right = &r
		}
		out = append(out, d)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// modelDiff computes the differences between two model maps.
func modelDiff(left, right map[string]store.Entry) []Diff {
	keys := map[string]bool{}
	for k := range left {
		keys[k] = true
	}
	for k := range right {
		keys[k] = true
	}
	var out []Diff
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		l, lok := left[k]
		r, rok := right[k]
		switch {
		case lok && !rok:
			out = append(out, Diff{Type: DiffRemoved, Path: k, Left: &l})
		case !lok && rok:
			out = append(out, Diff{Type: DiffAdded, Path: k, Right: &r})
		case !l.Equal(&r):
			out = append(out, Diff{Type: DiffChanged, Path: k, Left: &l, Right: &r})
		}
	}
	return out
}

func requireDiffs(t testing.TB, got, want []Diff) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d differences, want %d\ngot:  %v\nwant: %v", len(got), len(want), diffPaths(got), diffPaths(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Type != w.Type || g.Path != w.Path || !g.Left.Equal(w.Left) || !g.Right.Equal(w.Right) {
			t.Fatalf("difference %d: got %v %q, want %v %q", i, g.Type, g.Path, w.Type, w.Path)
		}
	}
}

func diffPaths(ds []Diff) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Type.String() + " " + d.Path
	}
	if len(out) > 20 {
		out = append(out[:20], "…")
	}
	return out
}

// statsDelta returns b - a.
func statsDelta(a, b Stats) Stats {
	return Stats{
		RangesOpened:      b.RangesOpened - a.RangesOpened,
		RangesWritten:     b.RangesWritten - a.RangesWritten,
		MetaRangesWritten: b.MetaRangesWritten - a.MetaRangesWritten,
		CacheHits:         b.CacheHits - a.CacheHits,
		CacheMisses:       b.CacheMisses - a.CacheMisses,
	}
}
