package blocktest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lakeq/lakeq/store/block"
)

// testListModel compares paged listings with random prefixes, start keys,
// delimiters and page sizes against a reference computed from the sorted
// key set.
func testListModel(t *testing.T, s block.Store, bucket string) {
	r := rand.New(rand.NewPCG(1, 2))
	segs := []string{"a", "b", "ab", "a!", "a-b", "b.c", "-", "é"}
	keySet := map[string]bool{}
	var keys []string
	for len(keys) < 60 {
		depth := 1 + r.IntN(3)
		parts := make([]string, depth)
		for i := range parts {
			parts[i] = segs[r.IntN(len(segs))]
		}
		key := "model/" + strings.Join(parts, "/")
		if keySet[key] || conflicts(key, keys) {
			continue
		}
		keySet[key] = true
		keys = append(keys, key)
	}
	PutMany(t, s, bucket, keys)
	slices.Sort(keys)

	candidates := []string{"", "model/", "model/a", "model/a/", "model/a-", "model/b.c/", "model/é"}
	for _, k := range keys {
		cut := 1 + r.IntN(len(k))
		for !utf8.ValidString(k[:cut]) {
			cut--
		}
		candidates = append(candidates, k, k[:cut])
	}
	for q := 0; q < 150; q++ {
		opts := block.ListOptions{
			Prefix:     candidates[r.IntN(len(candidates))],
			StartAfter: candidates[r.IntN(len(candidates))],
			Delimiter:  []string{"", "/"}[r.IntN(2)],
			MaxKeys:    1 + r.IntN(5),
		}
		if r.IntN(3) == 0 {
			opts.StartAfter = ""
		}
		want := modelList(keys, opts)
		var got []string
		for _, it := range ListAllItems(t, s, bucket, opts) {
			key := it.Key
			if it.IsPrefix {
				key += " (prefix)"
			}
			got = append(got, key)
		}
		if !equalStrings(got, want) {
			t.Fatalf("List(%+v):\n got %q\nwant %q", opts, got, want)
		}
	}
}

// conflicts reports whether key and one of keys would need the same path to
// be both a file and a directory (a limit of the local store).
func conflicts(key string, keys []string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, key+"/") || strings.HasPrefix(key, k+"/") {
			return true
		}
	}
	return false
}

// modelList is the listing opts selects from the sorted keys, all pages.
func modelList(keys []string, opts block.ListOptions) []string {
	var out []string
	last := ""
	for _, k := range keys {
		if !strings.HasPrefix(k, opts.Prefix) {
			continue
		}
		if opts.Delimiter != "" {
			rest := k[len(opts.Prefix):]
			if i := strings.Index(rest, opts.Delimiter); i >= 0 {
				cp := opts.Prefix + rest[:i+len(opts.Delimiter)]
				if cp > opts.StartAfter && cp != last {
					out = append(out, fmt.Sprintf("%s (prefix)", cp))
					last = cp
				}
				continue
			}
		}
		if k > opts.StartAfter {
			out = append(out, k)
		}
	}
	return out
}
