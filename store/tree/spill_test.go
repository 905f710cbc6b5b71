package tree

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// TestWriterSpills: a Writer with a spill directory holds one chunk of its
// pending range in memory, whatever the range's length, writes the same
// ranges as one without (same ids, same entries read back), and leaves
// nothing named in the directory, during the write or after.
func TestWriterSpills(t *testing.T) {
	ctx := context.Background()
	entries := make([]store.Entry, 8000)
	for i := range entries {
		entries[i] = entryAt(keyOf(i), i)
	}
	// Entries longer than a chunk, among short ones; ranges of both more
	// and fewer bytes than a file buffer (maxPooledFile).
	entries[100].Address = strings.Repeat("a", 3*pendingChunk)
	entries[101].Address = strings.Repeat("b", pendingChunk)
	entries[4000].Metadata = map[string]string{"k": strings.Repeat("v", 2*pendingChunk)}

	cfg := Config{TargetEntries: 2048, SyncWrites: true}
	want := writeTree(t, newManager(t, cfg), newNS(t, ""), entries)

	dir := t.TempDir()
	cfg.SpillDir = dir
	m := newManager(t, cfg)
	ns := newNS(t, "")
	bodies := &bodyStore{Store: ns.Store}
	ns.Store = bodies
	w := m.NewWriter(ctx, ns)
	spilled := 0
	for i := range entries {
		if err := w.Add(&entries[i]); err != nil {
			t.Fatal(err)
		}
		if n := len(w.pending.chunks); n > 1 {
			t.Fatalf("after entry %d the pending range holds %d chunks in memory", i, n)
		}
		spilled = max(spilled, len(w.spill.lens))
	}
	if spilled < 4 {
		t.Fatalf("at most %d chunks spilled: the ranges never outgrew memory", spilled)
	}
	requireEmptyDir(t, dir)
	got, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("spilled writer wrote metarange %s, in-memory one %s", got, want)
	}
	requireEntries(t, readAllEntries(t, m, ns, got), entries)
	ranges, err := m.GetMetaRange(ctx, ns, got)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ranges, func(r RangeInfo) bool { return r.Count > 2*rangeRowGroup }) {
		t.Fatalf("no range of more than %d entries, so of several row groups, was read back", 2*rangeRowGroup)
	}
	requireEmptyDir(t, dir)
	if w.spill.f != nil {
		t.Fatal("spill file still open after Close")
	}
	// Long ranges were encoded into the spill file, short ones in memory.
	if bodies.sections.Load() == 0 || bodies.buffers.Load() == 0 {
		t.Fatalf("%d range files uploaded from the spill file, %d from memory; want some of each", bodies.sections.Load(), bodies.buffers.Load())
	}
}

// bodyStore counts the range files uploaded from a part of a file and
// from a buffer.
type bodyStore struct {
	block.Store
	sections, buffers atomic.Int64
}

func (b *bodyStore) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, opts block.PutOptions) (block.ObjectInfo, error) {
	if strings.Contains(key, "/ranges/") {
		switch r.(type) {
		case *io.SectionReader:
			b.sections.Add(1)
		case *bytes.Buffer:
			b.buffers.Add(1)
		}
	}
	return b.Store.Put(ctx, bucket, key, r, size, opts)
}

// TestWriterSpillFails: a spill file that cannot be made fails the Add
// that needed it, and the writer after it.
func TestWriterSpillFails(t *testing.T) {
	m := newManager(t, Config{TargetEntries: 1 << 20, SyncWrites: true, SpillDir: filepath.Join(t.TempDir(), "missing")})
	w := m.NewWriter(context.Background(), newNS(t, ""))
	defer w.Abort()
	var err error
	for i := 0; err == nil && i < 10000; i++ {
		e := entryAt(keyOf(i), i)
		err = w.Add(&e)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Add: %v, want the spill file's ErrNotExist", err)
	}
	e := entryAt(keyOf(20000), 0)
	if err := w.Add(&e); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Add after the failure: %v, want it again", err)
	}
	if _, err := NewManager(Config{SpillDir: t.TempDir()}); err == nil {
		t.Fatal("SpillDir without SyncWrites accepted")
	}
}

// TestPendingReaderSpilled: a batch ends with each spilled chunk, as the
// next one is read over it; rows keep the path, address and content type
// of the row before across batches.
func TestPendingReaderSpilled(t *testing.T) {
	entries := make([]store.Entry, 1000)
	for i := range entries {
		entries[i] = entryAt(keyOf(i), i)
		entries[i].ContentType = "text/plain" // the same: coded as a flag
	}
	p := pendingRange{spill: &spillFile{dir: t.TempDir()}}
	defer p.spill.close()
	for i := range entries {
		if err := p.add(&entries[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.chunks) != 1 || len(p.spill.lens) < 2 {
		t.Fatalf("%d chunks in memory, %d spilled; want 1 and several", len(p.chunks), len(p.spill.lens))
	}
	perChunk, got := readBatches(t, &p, batchBytes)
	if len(perChunk) != len(p.spill.lens)+1 {
		t.Errorf("%d batches %v, want one per chunk: %d spilled and one in memory", len(perChunk), perChunk, len(p.spill.lens))
	}
	if len(got) != len(entries) {
		t.Fatalf("%d rows, want %d", len(got), len(entries))
	}
	for i, row := range got {
		if row.Path != entries[i].Path || row.Address != entries[i].Address || row.ContentType != "text/plain" {
			t.Fatalf("row %d: %q %q %q, want %q %q text/plain", i, row.Path, row.Address, row.ContentType, entries[i].Path, entries[i].Address)
		}
	}
	if i := slices.Index(perChunk, 0); i >= 0 {
		t.Fatalf("batch %d is empty", i)
	}
}

func requireEmptyDir(t *testing.T, dir string) {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) > 0 {
		t.Fatalf("%s holds %d files, want none: %s", dir, len(names), names[0].Name())
	}
}
