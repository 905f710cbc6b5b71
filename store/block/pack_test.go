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

// TestPageBuilder: items added one at a time, from ListItems or from the
// bytes of a decoded answer, and builders appended to one another, make a
// page of those items in order, whose last key follows a dropped item.
func TestPageBuilder(t *testing.T) {
	mod := time.Date(2026, 11, 22, 12, 0, 0, 5e8, time.FixedZone("X", 3600))
	obj := func(key string, size int64) ListItem {
		return ListItem{Key: key, Object: ObjectInfo{Bucket: "bkt", Key: key, Size: size, ETag: "e-" + key, LastModified: mod.UTC()}}
	}
	keys := func(items []ListItem) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.Key)
		}
		return out
	}
	head := NewPageBuilder("bkt")
	h := obj("p/", 0)
	head.Add(&h)
	body := NewPageBuilder("bkt")
	var want []ListItem
	want = append(want, h)
	for i := range 400 { // several chunks
		it := obj(fmt.Sprintf("p/%04d-%s", i, strings.Repeat("x", 40)), int64(i))
		body.AddObject([]byte(it.Key), it.Object.Size, []byte(it.Object.ETag), mod)
		want = append(want, it)
	}
	head.Append(body)
	if head.Len() != len(want) || head.LastKey() != want[len(want)-1].Key {
		t.Fatalf("appended: %d items, last %q; want %d, %q", head.Len(), head.LastKey(), len(want), want[len(want)-1].Key)
	}
	head.DropLast()
	want = want[:len(want)-1]
	if head.LastKey() != want[len(want)-1].Key {
		t.Fatalf("after a drop, last key %q, want %q", head.LastKey(), want[len(want)-1].Key)
	}
	page := head.Page(true)
	got := page.Items("bkt")
	if !page.Truncated || page.Len() != len(want) || page.LastKey() != want[len(want)-1].Key || len(page.chunks) < 2 {
		t.Fatalf("page: truncated %v, %d items in %d chunks, last %q", page.Truncated, page.Len(), len(page.chunks), page.LastKey())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("items %q\nwant %q", keys(got), keys(want))
	}
	// A builder of one item appended, then dropped: the last key is the
	// one before it again.
	a, b := NewPageBuilder("bkt"), NewPageBuilder("bkt")
	x, y := obj("a", 1), obj("b", 2)
	a.Add(&x)
	b.Add(&y)
	a.Append(b)
	a.DropLast()
	if a.Len() != 1 || a.LastKey() != "a" {
		t.Fatalf("after dropping an appended item: %d items, last %q; want 1, \"a\"", a.Len(), a.LastKey())
	}
	if p := NewPageBuilder("bkt").Page(false); p.Len() != 0 || p.LastKey() != "" || len(p.Items("bkt")) != 0 || p.Truncated {
		t.Fatalf("empty page: %d items, last %q, truncated %v", p.Len(), p.LastKey(), p.Truncated)
	}
}

// packedPages lists fixed pages through ListPacked; List must not be used.
type packedPages struct {
	Store
	pages []ListPage
	calls int
	opts  []ListOptions
}

func (p *packedPages) ListPacked(_ context.Context, bucket string, opts ListOptions) (PackedPage, error) {
	page := p.pages[p.calls]
	p.calls++
	p.opts = append(p.opts, opts)
	pb := NewPageBuilder(bucket)
	for i := range page.Items {
		pb.Add(&page.Items[i])
	}
	return pb.Page(page.Truncated), nil
}

// listPages returns n pages of per objects of bucket "bkt", the i-th of
// page p with the key and ETag obj gives and size i, all the items in
// order, and the pages, each but the last truncated.
func listPages(n, per int, obj func(p, i int) (key, etag string)) ([]ListItem, []ListPage) {
	var all []ListItem
	var pages []ListPage
	for p := range n {
		var items []ListItem
		for i := range per {
			key, etag := obj(p, i)
			items = append(items, ListItem{Key: key, Object: ObjectInfo{Bucket: "bkt", Key: key, Size: int64(i), ETag: etag}})
		}
		all = append(all, items...)
		pages = append(pages, ListPage{Items: items, Truncated: p < n-1})
	}
	return all, pages
}

// TestIteratorListsPacked: an iterator over a PackedLister gets its pages
// packed, lists each from the last key of the one before, and gives back
// every item.
func TestIteratorListsPacked(t *testing.T) {
	all, pages := listPages(3, 50, func(p, i int) (string, string) { return fmt.Sprintf("k/%d/%03d", p, i), "e" })
	st := &packedPages{pages: pages}
	it := ListAll(context.Background(), st, "bkt", ListOptions{Prefix: "k/", MaxKeys: 50})
	var got []ListItem
	for it.Next() {
		got = append(got, it.Item())
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, all) {
		t.Fatalf("%d items, want %d as listed", len(got), len(all))
	}
	var starts []string
	for _, o := range st.opts {
		starts = append(starts, o.StartAfter)
	}
	if want := []string{"", "k/0/049", "k/1/049"}; !slices.Equal(starts, want) {
		t.Fatalf("pages listed after %q, want %q", starts, want)
	}
}

// TestIteratorReuse pages through a listing with and without SetReuse.
// Either way it gives back every item. Keys kept from each item as given
// (not copied) stay intact without reuse, and with reuse some are
// overwritten by later pages, which fill the chunks of pages used up.
func TestIteratorReuse(t *testing.T) {
	all, pages := listPages(20, 400, func(p, i int) (string, string) {
		return fmt.Sprintf("prefix/%02d/%04d/%s", p, i, strings.Repeat("x", 40)), fmt.Sprintf("%032x", p*1000+i)
	})
	for _, reuse := range []bool{false, true} {
		it := ListAll(context.Background(), &packedPages{pages: pages}, "bkt", ListOptions{MaxKeys: 400})
		it.SetReuse(reuse)
		var got []ListItem
		var kept []string // each item's key as given
		for it.Next() {
			item := it.Item()
			kept = append(kept, item.Key)
			got = append(got, cloneItem(item, "bkt"))
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, all) {
			t.Fatalf("reuse %v: %d items, want %d as listed", reuse, len(got), len(all))
		}
		changed := 0
		for i, k := range kept {
			if k != all[i].Key {
				changed++
			}
		}
		if reuse != (changed > 0) {
			t.Fatalf("reuse %v: %d of %d keys kept from the items changed after", reuse, changed, len(kept))
		}
	}
}
