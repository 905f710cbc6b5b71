package kvtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// setShuffled stores every key (value: "v:" + key) in a random order, so
// that scan order cannot come from insertion order.
func setShuffled(t *testing.T, s kv.Store, partition string, keys []string) {
	t.Helper()
	shuffled := slices.Clone(keys)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, k := range shuffled {
		mustSet(t, s, partition, k, []byte("v:"+k))
	}
}

// wantPage fails t unless page lists exactly want, in order, each with the
// value setShuffled gave it.
func wantPage(t *testing.T, what string, page []kv.Entry, want []string) {
	t.Helper()
	got := keysOf(page)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: keys %q, want %q", what, got, want)
	}
	for _, e := range page {
		if string(e.Value) != "v:"+e.Key {
			t.Fatalf("%s: key %q has value %q, want %q", what, e.Key, e.Value, "v:"+e.Key)
		}
	}
}

// expected filters sorted keys the way a scan with prefix and start must.
func expected(sorted []string, prefix, start string, limit int) []string {
	var out []string
	for _, k := range sorted {
		if strings.HasPrefix(k, prefix) && k >= start && (limit == 0 || len(out) < limit) {
			out = append(out, k)
		}
	}
	return out
}

func testScanOrderPrefixStartLimit(t *testing.T, s kv.Store) {
	ctx := context.Background()
	setShuffled(t, s, "p", []string{"a", "a/1", "a/2", "a/3", "b", "b/1", "c"})
	tests := []struct {
		name string
		opts kv.ScanOptions
		want []string
	}{
		{"All", kv.ScanOptions{}, []string{"a", "a/1", "a/2", "a/3", "b", "b/1", "c"}},
		{"Limit", kv.ScanOptions{Limit: 3}, []string{"a", "a/1", "a/2"}},
		{"LimitOne", kv.ScanOptions{Limit: 1}, []string{"a"}},
		{"Prefix", kv.ScanOptions{Prefix: "a/"}, []string{"a/1", "a/2", "a/3"}},
		{"PrefixIsKey", kv.ScanOptions{Prefix: "c"}, []string{"c"}},
		{"PrefixLimit", kv.ScanOptions{Prefix: "a/", Limit: 2}, []string{"a/1", "a/2"}},
		{"PrefixStart", kv.ScanOptions{Prefix: "a/", Start: "a/2"}, []string{"a/2", "a/3"}},
		{"PrefixResume", kv.ScanOptions{Prefix: "a/", Start: "a/2\x00"}, []string{"a/3"}},
		{"StartBelowPrefix", kv.ScanOptions{Prefix: "a/", Start: "0"}, []string{"a/1", "a/2", "a/3"}},
		{"StartAbovePrefix", kv.ScanOptions{Prefix: "a/", Start: "b"}, nil},
		{"StartBetweenKeys", kv.ScanOptions{Start: "a/25"}, []string{"a/3", "b", "b/1", "c"}},
		{"Start", kv.ScanOptions{Start: "b"}, []string{"b", "b/1", "c"}},
		{"StartPastEnd", kv.ScanOptions{Start: "c\x00"}, nil},
		{"PrefixNoMatch", kv.ScanOptions{Prefix: "x"}, nil},
		{"PrefixBeforeAll", kv.ScanOptions{Prefix: "0"}, nil},
		{"PrefixLongerThanKeys", kv.ScanOptions{Prefix: "a/1/"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := s.Scan(ctx, "p", tc.opts)
			if err != nil {
				t.Fatalf("Scan(%+v): %v", tc.opts, err)
			}
			wantPage(t, describe(tc.opts), page, tc.want)
		})
	}
}

func testScanBinaryKeys(t *testing.T, s kv.Store) {
	ctx := context.Background()
	keys := []string{
		"\x00", "\x00\x00", "\x00\xff", "\x01",
		"a", "a\x00", "a\x00b", "a\x7f", "a\x80", "a\xfe", "a\xff", "a\xff\x00", "a\xff\xff", "ab",
		"b", "z", "é", "éa", "日本", "日本語", "\xfe\xff", "\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff",
	}
	setShuffled(t, s, "p", keys)
	sorted := slices.Clone(keys)
	slices.Sort(sorted) // Go compares strings byte by byte

	page, err := s.Scan(ctx, "p", kv.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantPage(t, "full scan", page, sorted)

	prefixes := []string{"\x00", "a", "a\x00", "a\xff", "a\xff\xff", "\xfe", "\xff", "\xff\xff", "\xff\xff\xff", "é", "é"[:1], "日本", "\x7f"}
	for _, prefix := range prefixes {
		page, err := s.Scan(ctx, "p", kv.ScanOptions{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		wantPage(t, fmt.Sprintf("prefix %q", prefix), page, expected(sorted, prefix, "", 0))
	}
	for _, k := range sorted {
		for _, start := range []string{k, k + "\x00"} {
			for _, prefix := range []string{"", k[:1]} {
				opts := kv.ScanOptions{Prefix: prefix, Start: start, Limit: 3}
				page, err := s.Scan(ctx, "p", opts)
				if err != nil {
					t.Fatal(err)
				}
				wantPage(t, describe(opts), page, expected(sorted, prefix, start, 3))
			}
		}
	}
}

// countingStore counts the Scan calls made through it.
type countingStore struct {
	kv.Store
	scans int
}

// Scan counts the call and forwards it.
func (c *countingStore) Scan(ctx context.Context, partition string, opts kv.ScanOptions) ([]kv.Entry, error) {
	c.scans++
	return c.Store.Scan(ctx, partition, opts)
}

func testScanPaging(t *testing.T, s kv.Store) {
	ctx := context.Background()
	var keys []string
	for i := range 250 {
		keys = append(keys, fmt.Sprintf("x/%04d", i))
	}
	setShuffled(t, s, "p", append(slices.Clone(keys), "w", "x", "y/0", "y/1"))

	t.Run("Iterator", func(t *testing.T) {
		cs := &countingStore{Store: s}
		var got []kv.Entry
		it := kv.Scan(ctx, cs, "p", "x/", "", 100)
		for it.Next() {
			got = append(got, it.Entry())
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		wantPage(t, "iterator", got, keys)
		if cs.scans != 3 {
			t.Fatalf("iterator made %d Scan calls for 250 keys in pages of 100, want 3", cs.scans)
		}
	})
	t.Run("IteratorStart", func(t *testing.T) {
		var got []string
		it := kv.Scan(ctx, s, "p", "x/", "x/0200", 7)
		for it.Next() {
			got = append(got, it.Entry().Key)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, keys[200:]) {
			t.Fatalf("iterator from x/0200 = %q, want %q", got, keys[200:])
		}
	})
	t.Run("IteratorSeekGE", func(t *testing.T) {
		it := kv.Scan(ctx, s, "p", "x/", "", 10)
		for range 5 {
			if !it.Next() {
				t.Fatalf("iterator stopped early: %v", it.Err())
			}
		}
		it.SeekGE("x/0123")
		if !it.Next() || it.Entry().Key != "x/0123" {
			t.Fatalf("after SeekGE(x/0123): %q, %v", it.Entry().Key, it.Err())
		}
		it.SeekGE("a") // below the prefix: back to its start
		if !it.Next() || it.Entry().Key != "x/0000" {
			t.Fatalf("after SeekGE(a): %q, %v", it.Entry().Key, it.Err())
		}
	})
	t.Run("ManualResume", func(t *testing.T) {
		var got []kv.Entry
		opts := kv.ScanOptions{Prefix: "x/", Limit: 64}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("too many pages")
			}
			page, err := s.Scan(ctx, "p", opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > opts.Limit {
				t.Fatalf("page of %d entries exceeds limit %d", len(page), opts.Limit)
			}
			got = append(got, page...)
			if len(page) < opts.Limit {
				break
			}
			opts.Start = page[len(page)-1].Key + "\x00"
		}
		wantPage(t, "manual paging", got, keys)
	})
}

func testScanDefaultLimit(t *testing.T, s kv.Store) {
	ctx := context.Background()
	n := kv.DefaultScanLimit + 5
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%05d", i)
	}
	setConcurrently(t, s, "p", keys)
	page, err := s.Scan(ctx, "p", kv.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != kv.DefaultScanLimit {
		t.Fatalf("Scan with Limit 0 returned %d entries, want %d", len(page), kv.DefaultScanLimit)
	}
	wantPage(t, "default page", page, keys[:kv.DefaultScanLimit])
	rest, err := s.Scan(ctx, "p", kv.ScanOptions{Start: page[len(page)-1].Key + "\x00"})
	if err != nil {
		t.Fatal(err)
	}
	wantPage(t, "second page", rest, keys[kv.DefaultScanLimit:])
}

func testScanNegativeLimit(t *testing.T, s kv.Store) {
	_, err := s.Scan(context.Background(), "p", kv.ScanOptions{Limit: -1})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Scan with Limit -1: error %v, want one wrapping store.ErrInvalid", err)
	}
}

// describe names a scan for failure messages.
func describe(o kv.ScanOptions) string {
	return fmt.Sprintf("Scan(prefix %q, start %q, limit %d)", o.Prefix, o.Start, o.Limit)
}
