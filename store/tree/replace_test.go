package tree

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store"
)

// modelReplace is what Replace should return.
func modelReplace(base map[string]store.Entry, prefixes []string, src map[string]store.Entry) map[string]store.Entry {
	out := map[string]store.Entry{}
	for k, e := range base {
		covered := false
		for _, p := range prefixes {
			covered = covered || strings.HasPrefix(k, p)
		}
		if !covered {
			out[k] = e
		}
	}
	maps.Copy(out, src)
	return out
}

func TestReplace(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 4})
	ns := newNS(t, "")
	base := map[string]store.Entry{}
	for _, dir := range []string{"a/", "ab/", "a0", "b/", "c/", "a/x/"} {
		for i := range 30 {
			k := fmt.Sprintf("%s%03d", dir, i)
			base[k] = entryAt(k, 1)
		}
	}
	bid := writeModel(t, m, ns, base)
	for _, tc := range []struct {
		name     string
		prefixes []string
		src      []string
	}{
		{"one prefix", []string{"a/"}, []string{"a/new1", "a/new2", "a/x/005"}},
		{"empty source deletes", []string{"a/"}, nil},
		{"two prefixes, source spans both", []string{"b/", "a/"}, []string{"a/1", "a/2", "b/1", "b/2"}},
		{"nested prefixes", []string{"a/", "a/x/"}, []string{"a/x/1"}},
		{"prefix of nothing", []string{"zz/"}, []string{"zz/1"}},
		{"everything", []string{""}, []string{"q"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := map[string]store.Entry{}
			for _, k := range tc.src {
				src[k] = entryAt(k, 7)
			}
			sid := writeModel(t, m, ns, src)
			got, err := m.Replace(ctx, ns, bid, tc.prefixes, sid)
			if err != nil {
				t.Fatal(err)
			}
			want := modelReplace(base, tc.prefixes, src)
			requireEntries(t, readAllEntries(t, m, ns, got), modelEntries(want))
			if strings.HasPrefix(tc.name, "one prefix") {
				for k, e := range base {
					if strings.HasPrefix(k, "ab/") || strings.HasPrefix(k, "a0") {
						g, err := m.Get(ctx, ns, got, k)
						if err != nil || !g.Equal(&e) {
							t.Fatalf("%q changed: %v %v", k, g, err)
						}
					}
				}
			}
		})
	}
	t.Run("source outside the prefixes", func(t *testing.T) {
		for _, keys := range [][]string{{"b/1"}, {"a/1", "b/1"}, {"a/1", "a0", "a/2"}} {
			src := map[string]store.Entry{}
			for _, k := range keys {
				src[k] = entryAt(k, 7)
			}
			sid := writeModel(t, m, ns, src)
			before := m.Stats()
			_, err := m.Replace(ctx, ns, bid, []string{"a/"}, sid)
			if !errors.Is(err, ErrOutsidePrefixes) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("source %v: got %v", keys, err)
			}
			if d := statsDelta(before, m.Stats()); d.MetaRangesWritten != 0 {
				t.Fatalf("failed replace wrote a metarange")
			}
		}
	})
}

func TestReplaceDropsCoveredRangesUnopened(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 32})
	ns := newNS(t, "")
	const big = 4000
	var entries []store.Entry
	for i := range 200 {
		entries = append(entries, entryAt(fmt.Sprintf("a/%05d", i), 1))
	}
	for i := range big {
		entries = append(entries, entryAt(fmt.Sprintf("big/%06d", i), 1))
	}
	for i := range 200 {
		entries = append(entries, entryAt(fmt.Sprintf("z/%05d", i), 1))
	}
	bid := writeTree(t, m, ns, entries)
	ranges, err := m.GetMetaRange(ctx, ns, bid)
	if err != nil {
		t.Fatal(err)
	}
	var src []store.Entry
	for i := range big {
		src = append(src, entryAt(fmt.Sprintf("big/%06d", i), 2))
	}
	sid := writeTree(t, m, ns, src)

	before := m.Stats()
	got, err := m.Replace(ctx, ns, bid, []string{"big/"}, sid)
	if err != nil {
		t.Fatal(err)
	}
	d := statsDelta(before, m.Stats())
	// Only the ranges straddling the prefix's two edges (base and source
	// sides) are read; the hundreds of others are not.
	if d.RangesOpened > 8 {
		t.Fatalf("replace opened %d of %d ranges", d.RangesOpened, len(ranges))
	}
	if d.RangesWritten > 4 {
		t.Fatalf("replace wrote %d ranges", d.RangesWritten)
	}
	want := append(append(append([]store.Entry{}, entries[:200]...), src...), entries[200+big:]...)
	requireEntries(t, readAllEntries(t, m, ns, got), want)
}

func TestModelReplace(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 16, MaxEntries: 40})
	ns := newNS(t, "")
	rng := rand.New(rand.NewPCG(5, 6))
	key := func() string { return fmt.Sprintf("p%d%d/%03d", rng.IntN(4), rng.IntN(4), rng.IntN(60)) }
	allPrefixes := []string{"p0", "p1", "p11/", "p13/0", "p2", "p23/", "p3", "p30/05", "p0"}
	for c := range 12 {
		base := map[string]store.Entry{}
		for range 400 {
			k := key()
			base[k] = entryAt(k, 1)
		}
		var prefixes []string
		for range 1 + rng.IntN(3) {
			prefixes = append(prefixes, allPrefixes[rng.IntN(len(allPrefixes))])
		}
		src := map[string]store.Entry{}
		for range rng.IntN(300) {
			k := key()
			for _, p := range prefixes {
				if strings.HasPrefix(k, p) {
					src[k] = entryAt(k, 2)
				}
			}
		}
		bid, sid := writeModel(t, m, ns, base), writeModel(t, m, ns, src)
		got, err := m.Replace(ctx, ns, bid, prefixes, sid)
		if err != nil {
			t.Fatalf("case %d %v: %v", c, prefixes, err)
		}
		requireEntries(t, readAllEntries(t, m, ns, got), modelEntries(modelReplace(base, prefixes, src)))
	}
}

func TestPrefixSet(t *testing.T) {
	ps := newPrefixSet([]string{"b/", "a/", "a/x/", "a0", "b/"})
	if len(ps) != 3 {
		t.Fatalf("normalized to %v", ps)
	}
	for _, tc := range []struct {
		key  string
		want bool
	}{{"a/", true}, {"a/1", true}, {"a/x/1", true}, {"a", false}, {"ab", false}, {"a0", true}, {"a01", true}, {"a1", false}, {"b/", true}, {"c", false}, {"", false}} {
		if got := ps.contains(tc.key); got != tc.want {
			t.Errorf("contains(%q) = %v", tc.key, got)
		}
	}
	for _, tc := range []struct {
		min, max      string
		covers, meets bool
	}{
		{"a/1", "a/9", true, true},
		{"a/1", "a0", false, true},
		{"a1", "a2", false, false},
		{"a1", "b/0", false, true},
		{"a1", "b", false, false},
		{"0", "1", false, false},
		{"0", "z", false, true},
	} {
		if got := ps.covers(tc.min, tc.max); got != tc.covers {
			t.Errorf("covers(%q, %q) = %v", tc.min, tc.max, got)
		}
		if got := ps.meets(tc.min, tc.max); got != tc.meets {
			t.Errorf("meets(%q, %q) = %v", tc.min, tc.max, got)
		}
	}
}
