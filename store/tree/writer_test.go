package tree

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"unsafe"

	"github.com/lakeq/lakeq/store"
)

func TestWriterRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		prefix string
		n      int
		cfg    Config
	}{
		{name: "one entry", n: 1, cfg: Config{TargetEntries: 16}},
		{name: "many ranges", n: 1000, cfg: Config{TargetEntries: 16}},
		{name: "forced by count", n: 500, cfg: Config{TargetEntries: 1 << 20, MaxEntries: 7}},
		{name: "forced by bytes", n: 500, cfg: Config{TargetEntries: 1 << 20, MaxBytes: 1000}},
		{name: "namespace prefix", prefix: "repos/r1/", n: 300, cfg: Config{TargetEntries: 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, tc.cfg)
			ns := newNS(t, tc.prefix)
			entries := make([]store.Entry, tc.n)
			for i := range entries {
				entries[i] = entryAt(keyOf(i), i)
			}
			id := writeTree(t, m, ns, entries)
			requireEntries(t, readAllEntries(t, m, ns, id), entries)

			ranges, err := m.GetMetaRange(ctx, ns, id)
			if err != nil {
				t.Fatal(err)
			}
			var count, size int64
			for i, r := range ranges {
				got, err := m.GetRange(ctx, ns, r.ID)
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(got)) != r.Count || got[0].Path != r.MinKey || got[len(got)-1].Path != r.MaxKey {
					t.Fatalf("range %d: info %+v does not match its %d entries [%q, %q]", i, r, len(got), got[0].Path, got[len(got)-1].Path)
				}
				var b int64
				for _, e := range got {
					b += e.Size
				}
				if b != r.Bytes || r.FileSize <= 0 {
					t.Fatalf("range %d: Bytes %d (entries sum %d), FileSize %d", i, r.Bytes, b, r.FileSize)
				}
				if tc.cfg.MaxEntries > 0 && r.Count > int64(tc.cfg.MaxEntries) {
					t.Fatalf("range %d has %d entries, over MaxEntries %d", i, r.Count, tc.cfg.MaxEntries)
				}
				if _, err := ns.Store.Stat(ctx, ns.Bucket, tc.prefix+"_lakeq/ranges/"+string(r.ID)); err != nil {
					t.Fatalf("range file: %v", err)
				}
				count += r.Count
				size += r.Bytes
			}
			if count != int64(tc.n) {
				t.Fatalf("ranges hold %d entries, want %d", count, tc.n)
			}
			if _, err := ns.Store.Stat(ctx, ns.Bucket, tc.prefix+"_lakeq/metaranges/"+string(id)); err != nil {
				t.Fatalf("metarange file: %v", err)
			}
			if tc.n > 100 && len(ranges) < 2 {
				t.Fatalf("%d entries made %d ranges", tc.n, len(ranges))
			}

			// The same content again: same id, nothing written.
			before := m.Stats()
			if again := writeTree(t, m, ns, entries); again != id {
				t.Fatalf("same content: id %s, first %s", again, id)
			}
			if d := statsDelta(before, m.Stats()); d.RangesWritten != 0 || d.MetaRangesWritten != 0 {
				t.Fatalf("rewriting equal content wrote %+v", d)
			}
			// A fresh manager (nothing known) uploads the same files again,
			// under the same names and with the same bytes.
			metaKey := tc.prefix + "_lakeq/metaranges/" + string(id)
			first := readObject(t, ns, metaKey)
			m2 := newManager(t, tc.cfg)
			if again := writeTree(t, m2, ns, entries); again != id {
				t.Fatalf("fresh manager: id %s, first %s", again, id)
			}
			if s := m2.Stats(); s.RangesWritten != int64(len(ranges)) || s.MetaRangesWritten != 1 {
				t.Fatalf("fresh manager wrote %+v, want %d ranges and 1 metarange", s, len(ranges))
			}
			if again := readObject(t, ns, metaKey); !bytes.Equal(again, first) {
				t.Fatal("the rewritten metarange differs")
			}
			// A fresh manager reads the files back from the store.
			requireEntries(t, readAllEntries(t, m2, ns, id), entries)
		})
	}
}

func TestWriterOrder(t *testing.T) {
	m := newManager(t, Config{TargetEntries: 4})
	ns := newNS(t, "")
	w := m.NewWriter(context.Background(), ns)
	defer w.Abort()
	b := entryAt("b", 1)
	if err := w.Add(&b); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "b"} {
		e := entryAt(p, 1)
		if err := w.Add(&e); !errors.Is(err, ErrOutOfOrder) || !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Add(%q) after %q: %v, want ErrOutOfOrder", p, "b", err)
		}
	}
	bad := store.Entry{Path: ""}
	if err := w.Add(&bad); !errors.Is(err, store.ErrInvalidPath) {
		t.Fatalf("Add of an empty path: %v", err)
	}
	c := entryAt("c", 1)
	if err := w.Add(&c); err != nil {
		t.Fatalf("writer unusable after a rejected entry: %v", err)
	}
	id, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	requireEntries(t, readAllEntries(t, m, ns, id), []store.Entry{entryAt("b", 1), entryAt("c", 1)})
	if err := w.Add(&c); !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
	if _, err := w.Close(); !errors.Is(err, ErrWriterClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWriterEmpty(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{})
	ns := newNS(t, "")
	id, err := m.NewWriter(ctx, ns).Close()
	if err != nil {
		t.Fatal(err)
	}
	empty, err := m.EmptyMetaRange(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	if id != empty {
		t.Fatalf("empty writer: %s, EmptyMetaRange: %s", id, empty)
	}
	ranges, err := m.GetMetaRange(ctx, ns, id)
	if err != nil || len(ranges) != 0 {
		t.Fatalf("empty metarange: %v, %v", ranges, err)
	}
	if got := readAllEntries(t, m, ns, id); len(got) != 0 {
		t.Fatalf("empty tree iterates %d entries", len(got))
	}
	if _, err := m.Get(ctx, ns, id, "a"); !errors.Is(err, store.ErrObjectNotFound) {
		t.Fatalf("Get in the empty tree: %v", err)
	}
	if s := m.Stats(); s.MetaRangesWritten != 1 || s.RangesWritten != 0 {
		t.Fatalf("stats %+v: want one metarange written once", s)
	}
	// Read back by a manager that did not write it.
	m2 := newManager(t, Config{})
	ranges, err = m2.GetMetaRange(ctx, ns, id)
	if err != nil || len(ranges) != 0 {
		t.Fatalf("empty metarange read back: %v, %v", ranges, err)
	}
}

func TestWriterAddRange(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 4})
	ns := newNS(t, "")
	var entries []store.Entry
	for i := 0; i < 200; i++ {
		entries = append(entries, entryAt(keyOf(i), i))
	}
	src := writeTree(t, m, ns, entries)
	ranges, err := m.GetMetaRange(ctx, ns, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(ranges) < 4 {
		t.Fatalf("want several ranges, got %d", len(ranges))
	}
	r0, r1, r2 := ranges[0], ranges[1], ranges[2]

	t.Run("pass through", func(t *testing.T) {
		w := m.NewWriter(ctx, ns)
		for _, r := range ranges {
			if err := w.AddRange(r); err != nil {
				t.Fatal(err)
			}
		}
		if w.Pending() {
			t.Fatal("pending after ranges only")
		}
		got, err := w.Close()
		if err != nil || got != src {
			t.Fatalf("ranges passed through: %s, %v; want %s", got, err, src)
		}
	})
	t.Run("after an entry ending a range", func(t *testing.T) {
		w := m.NewWriter(ctx, ns)
		defer w.Abort()
		// r0's entries end on a boundary, so the writer is not pending.
		for i := 0; i < int(r0.Count); i++ {
			if err := w.Add(&entries[i]); err != nil {
				t.Fatal(err)
			}
		}
		if w.Pending() {
			t.Fatal("pending after a whole range's entries")
		}
		if err := w.AddRange(r1); err != nil {
			t.Fatal(err)
		}
		rs := w.Ranges()
		if len(rs) != 2 || rs[0].ID != r0.ID || rs[1].ID != r1.ID {
			t.Fatalf("Ranges() = %+v", rs)
		}
	})
	t.Run("illegal", func(t *testing.T) {
		w := m.NewWriter(ctx, ns)
		defer w.Abort()
		if err := w.AddRange(r1); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			r    RangeInfo
			want error
		}{
			{"overlapping", r1, ErrOutOfOrder},
			{"before", r0, ErrOutOfOrder},
			{"bad id", RangeInfo{ID: "nope", MinKey: "z1", MaxKey: "z2", Count: 1}, ErrInvalidID},
			{"min after max", RangeInfo{ID: r2.ID, MinKey: "z2", MaxKey: "z1", Count: 1}, store.ErrInvalidValue},
			{"no entries", RangeInfo{ID: r2.ID, MinKey: "z1", MaxKey: "z2"}, store.ErrInvalidValue},
		} {
			if err := w.AddRange(tc.r); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		e := entryAt(r2.MinKey, 0)
		if err := w.Add(&e); err != nil {
			t.Fatal(err)
		}
		if !w.Pending() {
			t.Skip("the first key of r2 is a boundary")
		}
		if err := w.AddRange(ranges[3]); !errors.Is(err, ErrPendingEntries) {
			t.Fatalf("AddRange with pending entries: %v", err)
		}
	})
	t.Run("entry after range", func(t *testing.T) {
		w := m.NewWriter(ctx, ns)
		defer w.Abort()
		if err := w.AddRange(r1); err != nil {
			t.Fatal(err)
		}
		e := entryAt(r1.MaxKey, 0)
		if err := w.Add(&e); !errors.Is(err, ErrOutOfOrder) {
			t.Fatalf("Add at the range's max key: %v", err)
		}
	})
}

func TestWriteMetaRangeValidates(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{})
	ns := newNS(t, "")
	id := RangeID("0000000000000000000000000000000000000000000000000000000000000000")
	for _, tc := range []struct {
		name   string
		ranges []RangeInfo
	}{
		{"overlap", []RangeInfo{{ID: id, MinKey: "a", MaxKey: "c", Count: 2}, {ID: id, MinKey: "c", MaxKey: "d", Count: 2}}},
		{"unordered", []RangeInfo{{ID: id, MinKey: "x", MaxKey: "y", Count: 2}, {ID: id, MinKey: "a", MaxKey: "b", Count: 2}}},
		{"bad id", []RangeInfo{{ID: "x", MinKey: "a", MaxKey: "b", Count: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.WriteMetaRange(ctx, ns, tc.ranges); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid", err)
			}
		})
	}
}

// TestWriterCopiesEntries adds entries whose strings share one buffer,
// overwritten after every Add, as an importer's entries do: the tree and
// its ranges' bounds must be those of the entries as added.
func TestWriterCopiesEntries(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{{TargetEntries: 16}, {TargetEntries: 16, SyncWrites: true}} {
		m := newManager(t, cfg)
		ns := newNS(t, "")
		want := make([]store.Entry, 600)
		for i := range want {
			want[i] = entryAt(keyOf(i), i)
		}
		w := m.NewWriter(ctx, ns)
		var buf []byte
		for i := range want {
			e := want[i]
			buf = append(append(append(buf[:0], e.Path...), e.Address...), e.ContentType...)
			e.Path = unsafe.String(&buf[0], len(e.Path))
			e.Address = unsafe.String(&buf[len(e.Path)], len(e.Address))
			e.ContentType = unsafe.String(&buf[len(e.Path)+len(e.Address)], len(e.ContentType))
			if err := w.Add(&e); err != nil {
				t.Fatal(err)
			}
			for j := range buf {
				buf[j] = '~'
			}
		}
		id, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		requireEntries(t, readAllEntries(t, m, ns, id), want)
		ranges, err := m.GetMetaRange(ctx, ns, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(ranges) < 10 {
			t.Fatalf("%d ranges, want many", len(ranges))
		}
		for i, r := range ranges {
			got, err := m.GetRange(ctx, ns, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Path != r.MinKey || got[len(got)-1].Path != r.MaxKey {
				t.Fatalf("range %d: bounds [%q, %q], entries [%q, %q]", i, r.MinKey, r.MaxKey, got[0].Path, got[len(got)-1].Path)
			}
		}
	}
}
