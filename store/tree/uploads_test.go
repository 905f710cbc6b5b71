package tree

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// countingStore counts the range Puts under way at once, each taking a while.
type countingStore struct {
	block.Store
	now, peak atomic.Int64
	puts      atomic.Int64
}

func (c *countingStore) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, opts block.PutOptions) (block.ObjectInfo, error) {
	if !strings.Contains(key, "/ranges/") {
		return c.Store.Put(ctx, bucket, key, r, size, opts) // a metarange
	}
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(5 * time.Millisecond)
	info, err := c.Store.Put(ctx, bucket, key, r, size, opts)
	c.puts.Add(1)
	return info, err
}

// TestSyncWrites: each range is stored before the Add that cut it
// returns, and the tree reads back whole.
func TestSyncWrites(t *testing.T) {
	ns := newNS(t, "")
	cs := &countingStore{Store: ns.Store}
	ns.Store = cs
	m := newManager(t, Config{TargetEntries: 1 << 20, MaxEntries: 10, SyncWrites: true})
	w := m.NewWriter(context.Background(), ns)
	entries := make([]store.Entry, 95)
	for i := range entries {
		entries[i] = entryAt(keyOf(i), i)
		if err := w.Add(&entries[i]); err != nil {
			t.Fatal(err)
		}
		if want := int64((i + 1) / 10); cs.puts.Load() != want {
			t.Fatalf("after %d entries, %d ranges stored, want %d", i+1, cs.puts.Load(), want)
		}
	}
	id, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	requireEntries(t, readAllEntries(t, m, ns, id), entries)
}

// TestManagerUploads: many Writers of one Manager never upload more
// ranges at once than Config.ManagerUploads, and one encode at a time
// (ManagerEncodes 1) does not hold them back: a range being uploaded holds
// no encode slot.
func TestManagerUploads(t *testing.T) {
	ns := newNS(t, "")
	cs := &countingStore{Store: ns.Store}
	ns.Store = cs
	m := newManager(t, Config{TargetEntries: 1 << 20, MaxEntries: 5, WriteConcurrency: 4, ManagerEncodes: 1, ManagerUploads: 3})
	var wg sync.WaitGroup
	written := make([][]store.Entry, 8)
	ids := make([]MetaRangeID, 8)
	for wr := range written {
		wg.Go(func() {
			entries := make([]store.Entry, 60)
			for i := range entries {
				entries[i] = entryAt(keyOf(wr*1000+i), i)
			}
			written[wr], ids[wr] = entries, writeTree(t, m, ns, entries)
		})
	}
	wg.Wait()
	// Entry slices are recycled across the writers once encoded: every
	// tree still reads back whole, from a fresh manager.
	fresh := newManager(t, Config{})
	for wr, id := range ids {
		requireEntries(t, readAllEntries(t, fresh, ns, id), written[wr])
	}
	if p := cs.peak.Load(); p != 3 {
		t.Fatalf("%d uploads at once, want 3 (ManagerUploads)", p)
	}
}
