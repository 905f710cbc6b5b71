package tree

import (
	"context"
	"fmt"
	"testing"
)

// rangesOf returns n valid, ordered ranges, distinct for each seed.
func rangesOf(seed, n int) []RangeInfo {
	out := make([]RangeInfo, n)
	for i := range out {
		out[i] = RangeInfo{
			ID:     RangeID(fmt.Sprintf("%032x%032x", seed, i)),
			MinKey: fmt.Sprintf("k/%06d/a", i),
			MaxKey: fmt.Sprintf("k/%06d/z", i),
			Count:  1,
		}
	}
	return out
}

// TestCacheBytes: the cache of decoded files stays within CacheBytes
// however many files pass through it, keeps the most recent, and does not
// keep a file larger than the bound.
func TestCacheBytes(t *testing.T) {
	ctx := context.Background()
	ns := newNS(t, "repo/")
	const bound = 64 << 10
	m := newManager(t, Config{CacheBytes: bound})
	var ids []MetaRangeID
	for i := range 50 {
		id, err := m.WriteMetaRange(ctx, ns, rangesOf(i, 100))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if b := m.Stats().CacheBytes; b <= 0 || b > bound {
			t.Fatalf("after %d metaranges of 100 ranges, the cache holds %d bytes, want 1 to %d", i+1, b, bound)
		}
	}
	read := func(id MetaRangeID) Stats {
		t.Helper()
		before := m.Stats()
		if _, err := m.GetMetaRange(ctx, ns, id); err != nil {
			t.Fatal(err)
		}
		return statsDelta(before, m.Stats())
	}
	if d := read(ids[len(ids)-1]); d.CacheHits != 1 {
		t.Errorf("the metarange written last: %+v, want a cache hit", d)
	}
	if d := read(ids[0]); d.CacheMisses != 1 {
		t.Errorf("the metarange written first: %+v, want a cache miss (evicted)", d)
	}
	held := m.Stats().CacheBytes
	large, err := m.WriteMetaRange(ctx, ns, rangesOf(99, 2000))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if d := read(large); d.CacheMisses != 1 {
			t.Errorf("a metarange larger than the cache: %+v, want a miss on every read", d)
		}
	}
	if b := m.Stats().CacheBytes; b != held {
		t.Errorf("the cache holds %d bytes after the large metarange, want %d as before", b, held)
	}
}
