package tree

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/lakeq/lakeq/store"
)

func TestIteratorOpensLazily(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 16})
	ns := newNS(t, "")
	const n = 3000
	id := buildTree(t, m, ns, n)
	ranges, err := m.GetMetaRange(ctx, ns, id)
	if err != nil {
		t.Fatal(err)
	}
	opened := func() int64 { return m.Stats().RangesOpened }

	start := opened()
	it, err := m.NewIterator(ctx, ns, id)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if opened() != start {
		t.Fatal("NewIterator opened a range")
	}
	// Reading the first range's entries opens one range.
	for range ranges[0].Count {
		if !it.Next() {
			t.Fatal(it.Err())
		}
	}
	if got := opened() - start; got != 1 {
		t.Fatalf("reading the first range opened %d ranges", got)
	}
	// A seek far ahead opens only the range holding the target.
	target := keyOf(2 * n / 3)
	it.SeekGE(target)
	if !it.Next() || it.Entry().Path != target {
		t.Fatalf("SeekGE(%q) then Next: %v", target, it.Err())
	}
	if got := opened() - start; got != 2 {
		t.Fatalf("after a seek, %d ranges opened", got)
	}
	// Seeking between two ranges lands on the next range's first key.
	it.SeekGE(ranges[5].MaxKey + "~")
	if !it.Next() || it.Entry().Path != ranges[6].MinKey {
		t.Fatalf("seek into a gap: %q, want %q", it.Entry().Path, ranges[6].MinKey)
	}
	// Past the end.
	it.SeekGE("z")
	if it.Next() {
		t.Fatalf("seek past the end yields %q", it.Entry().Path)
	}
	it.SeekGE("")
	if !it.Next() || it.Entry().Path != keyOf(0) {
		t.Fatal("seek back to the start")
	}
	it.Close()
	if it.Next() {
		t.Fatal("Next after Close")
	}
	if it.Err() != nil {
		t.Fatalf("Err after Close: %v", it.Err())
	}

	// Get opens at most one range, and none for a key between ranges.
	start = opened()
	if _, err := m.Get(ctx, ns, id, ranges[5].MaxKey+"~"); !errors.Is(err, store.ErrObjectNotFound) {
		t.Fatalf("Get between ranges: %v", err)
	}
	if _, err := m.Get(ctx, ns, id, "0"); !errors.Is(err, store.ErrObjectNotFound) {
		t.Fatalf("Get before the first key: %v", err)
	}
	if got := opened() - start; got != 0 {
		t.Fatalf("Get of keys outside every range opened %d ranges", got)
	}
	e, err := m.Get(ctx, ns, id, keyOf(n/2))
	if err != nil || e.Path != keyOf(n/2) {
		t.Fatalf("Get: %v %v", e, err)
	}
	if got := opened() - start; got != 1 {
		t.Fatalf("Get opened %d ranges", got)
	}
}

func TestIteratorContextCanceled(t *testing.T) {
	m := newManager(t, Config{TargetEntries: 16})
	ns := newNS(t, "")
	id := buildTree(t, m, ns, 500)
	ctx, cancel := context.WithCancel(context.Background())
	it, err := m.NewIterator(ctx, ns, id)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	cancel()
	for it.Next() {
	}
	if !errors.Is(it.Err(), context.Canceled) {
		t.Fatalf("got %v", it.Err())
	}
}

// TestConcurrentUse shares one Manager between goroutines that write,
// apply, read and diff in the same namespace (run with -race).
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 16, CacheRanges: 8})
	ns := newNS(t, "")
	base := buildTree(t, m, ns, 2000)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			id := base
			for i := range 5 {
				e := bulkEntry(g*400+i*7, g+1)
				next, err := m.Apply(ctx, ns, id, SliceChanges([]Change{{Path: e.Path, Entry: &e}}), nil)
				if err != nil {
					errs <- err
					return
				}
				got, err := m.Get(ctx, ns, next, e.Path)
				if err != nil || !got.Equal(&e) {
					errs <- errors.New("read back a different entry")
					return
				}
				it, err := m.Diff(ctx, ns, id, next)
				if err != nil {
					errs <- err
					return
				}
				k := 0
				for it.Next() {
					k++
				}
				it.Close()
				if it.Err() != nil || k != 1 {
					errs <- errors.New("diff of one change")
					return
				}
				id = next
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
