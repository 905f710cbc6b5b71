package block

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// pages lists fixed pages, one per List call, in order.
type pages struct {
	Store
	pages    []ListPage
	calls    int
	recycled []int // the lengths of the pages handed back
}

// RecyclePage records the page handed back and spoils its items, which
// the iterator must not use any more.
func (p *pages) RecyclePage(items []ListItem) {
	p.recycled = append(p.recycled, len(items))
	for i := range items {
		items[i] = ListItem{Key: "spoiled", Object: ObjectInfo{Key: "spoiled", ETag: "spoiled"}}
	}
}

func (p *pages) List(context.Context, string, ListOptions) (ListPage, error) {
	page := p.pages[p.calls]
	p.calls++
	// Items are the store's: the iterator must not rely on them staying.
	return ListPage{Items: append([]ListItem(nil), page.Items...), Truncated: page.Truncated}, nil
}

// TestIteratorPacksPages: an iterator gives back every item as the store
// listed it, field for field, whether it holds the page packed (plain
// items) or as it came (metadata, a time not in UTC), and the items stay
// whole after the iterator moves on and hands a packed page's items back
// to the store.
func TestIteratorPacksPages(t *testing.T) {
	mod := time.Date(2026, 11, 22, 12, 0, 0, 123456789, time.UTC)
	plain := []ListItem{
		{Key: "a/", IsPrefix: true},
		{Key: "a/b c%+#", Object: ObjectInfo{Bucket: "bkt", Key: "a/b c%+#", Size: 7, ETag: "d41d8cd98f00b204e9800998ecf8427e", LastModified: mod}},
		{Key: "a/ключ", Object: ObjectInfo{Bucket: "bkt", Key: "a/ключ", Size: 0, LastModified: mod.Add(-time.Hour)}},
		{Key: "a/" + strings.Repeat("k", 1000), Object: ObjectInfo{Bucket: "bkt", Key: "a/" + strings.Repeat("k", 1000), Size: 1 << 40, ETag: "abc-12", ContentType: "text/csv"}},
		{Key: "b", Object: ObjectInfo{Bucket: "other", Key: "b-own", Size: -1, LastModified: time.Unix(-5, 7).UTC()}},
		{Key: "c"},
	}
	// Enough items for several chunks, and one longer than a chunk.
	for i := range 1000 {
		key := fmt.Sprintf("a/p%03d/obj-%06d", i%7, i)
		plain = append(plain, ListItem{Key: key, Object: ObjectInfo{Bucket: "bkt", Key: key, Size: int64(i), ETag: fmt.Sprintf("%032x", i), LastModified: mod}})
	}
	long := "z/" + strings.Repeat("x", packChunk)
	plain = append(plain, ListItem{Key: long, Object: ObjectInfo{Bucket: "bkt", Key: long}})
	withMeta := []ListItem{{Key: "d", Object: ObjectInfo{Bucket: "bkt", Key: "d", Metadata: map[string]string{"k": "v"}}}}
	local := []ListItem{{Key: "e", Object: ObjectInfo{Bucket: "bkt", Key: "e", LastModified: mod.In(time.FixedZone("X", 3600))}}}
	if !packable(plain) || packable(withMeta) || packable(local) {
		t.Fatalf("packable: plain %v, with metadata %v, local time %v; want true, false, false", packable(plain), packable(withMeta), packable(local))
	}
	st := &pages{pages: []ListPage{{Items: plain, Truncated: true}, {Items: withMeta, Truncated: true}, {Items: local}}}
	it := ListAll(context.Background(), st, "bkt", ListOptions{})
	var got []ListItem
	for it.Next() {
		got = append(got, it.Item())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]ListItem(nil), plain...), withMeta...), local...)
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("item %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// Only the packed page was handed back, once; the items given out
	// before are whole (above).
	if !slices.Equal(st.recycled, []int{len(plain)}) {
		t.Errorf("pages of %v items handed back, want the packed one of %d", st.recycled, len(plain))
	}
	// The packed page is smaller than the items it holds, in chunks of a
	// small-object size but for the item longer than one.
	chunks := packItems(plain[1:3], "bkt")
	if size := len(chunks[0]); len(chunks) != 1 || size >= 2*int(unsafe.Sizeof(ListItem{})) {
		t.Errorf("two items packed in %d chunks, %d bytes, not in one of fewer than their %d-byte structs", len(chunks), size, 2*unsafe.Sizeof(ListItem{}))
	}
	chunks = packItems(plain, "bkt")
	if len(chunks) < 3 {
		t.Fatalf("%d items packed in %d chunks, want several", len(plain), len(chunks))
	}
	for i, c := range chunks {
		if cap(c) != packChunk && (i != len(chunks)-1 || cap(c) < len(long)) {
			t.Errorf("chunk %d of %d: %d bytes of %d; want %d, or the long item's own", i, len(chunks), len(c), cap(c), packChunk)
		}
	}
}
