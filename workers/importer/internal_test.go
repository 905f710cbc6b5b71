package importer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/jobs"
)

func TestMaxSuffix(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 12; n++ {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := maxSuffix(n)
			if !utf8.ValidString(s) || len(s) > n || (n > 0 && len(s) < n) {
				t.Fatalf("maxSuffix(%d) = %q: want valid UTF-8 of %d bytes", n, s, n)
			}
			// Every valid string of at most n bytes sorts at or before it.
			for range 2000 {
				c := randomUTF8(rng, n)
				if c > s {
					t.Fatalf("%q (%d bytes) sorts after maxSuffix(%d) = %q", c, len(c), n, s)
				}
			}
			for _, c := range []string{"\U0010FFFF", "\uffff", "\u07ff", "\x7f", "zzzz"} {
				if len(c) <= n && c > s {
					t.Fatalf("%q sorts after maxSuffix(%d)", c, n)
				}
			}
		})
	}
}

// randomUTF8 returns a random valid UTF-8 string of at most n bytes,
// biased towards large code points.
func randomUTF8(rng *rand.Rand, n int) string {
	var b strings.Builder
	for {
		var r rune
		switch rng.IntN(4) {
		case 0:
			r = rune(rng.IntN(0x80))
		case 1:
			r = 0x10FFFF - rune(rng.IntN(3))
		case 2:
			r = 0xFFFF - rune(rng.IntN(3))
		default:
			r = rune(rng.IntN(0x10FFFF))
			if !utf8.ValidRune(r) {
				continue
			}
		}
		if b.Len()+utf8.RuneLen(r) > n {
			return b.String()
		}
		b.WriteRune(r)
	}
}

func TestLastKeyOfCoversPrefix(t *testing.T) {
	tests := []struct {
		name    string
		item    block.ListItem
		inside  []string
		outside []string
	}{
		{"prefix", block.ListItem{Key: "p/a/", IsPrefix: true},
			[]string{"p/a/", "p/a/x", "p/a/\U0010FFFF\U0010FFFF", "p/a/" + strings.Repeat("\U0010FFFF", 255)},
			[]string{"p/a0", "p/b/", "p/a\U0010FFFF"}},
		{"object", block.ListItem{Key: "p/a.txt"}, []string{"p/a.txt", "p/a.tx"}, []string{"p/a.txt0", "p/a.txu"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			last := lastKeyOf(tc.item)
			if len(last) > block.MaxKeyLength || !utf8.ValidString(last) {
				t.Fatalf("bound of %d bytes, valid UTF-8 %v", len(last), utf8.ValidString(last))
			}
			for _, k := range tc.inside {
				if !inBounds(k, "", last) {
					t.Errorf("%q not covered by %q's bound", k, tc.item.Key)
				}
			}
			for _, k := range tc.outside {
				if inBounds(k, "", last) {
					t.Errorf("%q covered by %q's bound", k, tc.item.Key)
				}
			}
		})
	}
}

// sliceIter yields objects from a slice in the slice's order.
type sliceIter struct {
	objs []object
	i    int
}

func (s *sliceIter) Next() bool {
	if s.i >= len(s.objs) {
		return false
	}
	s.i++
	return true
}
func (s *sliceIter) Object() *object { return &s.objs[s.i-1] }
func (s *sliceIter) Err() error      { return nil }
func (s *sliceIter) Close()          {}

func TestExternalSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name     string
		n        int
		buf      int64
		wantRuns bool
	}{
		{"in memory", 500, 1 << 20, false},
		{"spilled runs", 5000, 16 << 10, true},
		{"empty", 0, 1 << 10, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var objs []object
			want := map[string]int64{}
			for i := range tc.n {
				k := fmt.Sprintf("k/%06d-%s", rng.IntN(tc.n*2), strings.Repeat("é", rng.IntN(5)))
				o := object{Key: k, Size: int64(i), ETag: fmt.Sprintf("e%d", i), MTime: mtime}
				if i%7 == 0 {
					o.MTime = time.Time{}
				}
				if _, dup := want[k]; !dup {
					want[k] = o.Size
				}
				objs = append(objs, o)
				if i%50 == 0 {
					objs = append(objs, o) // listed twice
				}
			}
			dir := t.TempDir()
			s, st, err := newSortIter(context.Background(), &sliceIter{objs: objs}, dir, tc.buf)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if (st.Runs > 0) != tc.wantRuns {
				t.Fatalf("runs = %d, want runs: %v", st.Runs, tc.wantRuns)
			}
			var got []string
			for s.Next() {
				o := s.Object()
				got = append(got, o.Key)
				if o.Size != want[o.Key] {
					t.Fatalf("%q: size %d, want the first listed, %d", o.Key, o.Size, want[o.Key])
				}
				if o.ETag != fmt.Sprintf("e%d", o.Size) || (!o.MTime.IsZero() && !o.MTime.Equal(mtime)) {
					t.Fatalf("%q: fields not kept: %+v", o.Key, o)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if !slices.IsSorted(got) || len(got) != len(want) {
				t.Fatalf("got %d keys (sorted %v), want %d distinct", len(got), slices.IsSorted(got), len(want))
			}
			if got = slices.Compact(got); len(got) != len(want) {
				t.Fatal("duplicate keys in the output")
			}
			// Unnamed while in use: a process that dies leaves none.
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Fatalf("run files named in the directory: %v", left)
			}
			s.Close()
		})
	}
}

func TestMergerLaterSourceWins(t *testing.T) {
	mk := func(keys ...string) objectIter {
		var objs []object
		for _, k := range keys {
			objs = append(objs, object{Key: k, Size: int64(len(k))})
		}
		return &sliceIter{objs: objs}
	}
	u1 := block.MustParseURI("s3://src-one/in/")
	u2 := block.MustParseURI("s3://src-two/other/")
	parts := []*partIter{
		newPartIter(mk("in/a", "in/b/x", "in/c"), 0, "in/", "d/", u1),
		newPartIter(mk("other/x", "other/y"), 1, "other/", "d/b/", u2),
	}
	m := newMerger(parts)
	var got []string
	for m.Next() {
		e := m.Entry()
		got = append(got, e.Path+"="+e.Address)
	}
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"d/a=s3://src-one/in/a",
		"d/b/x=s3://src-two/other/x",
		"d/b/y=s3://src-two/other/y",
		"d/c=s3://src-one/in/c",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestOverlapGroups(t *testing.T) {
	req := &jobs.ImportRequest{Paths: []jobs.ImportPath{
		{Destination: "b/"}, {Destination: "a/"}, {Destination: "ab/"}, {Destination: "a/x/"}, {Destination: "c"}, {Destination: "cd/"},
	}}
	got := overlapGroups(req, []int{0, 1, 2, 3, 4, 5})
	want := [][]int{{1, 3}, {2}, {0}, {4, 5}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups = %v, want %v", got, want)
	}
}

// TestSplitSource cuts real local listings into shards and checks that the
// shards partition the keys: every key in exactly one shard, in order.
func TestSplitSource(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		prefixes  int
		perPrefix int
		top       int
		maxShards int
		wantMax   int
	}{
		{"one shard per prefix", 12, 3, 0, 64, 13},
		{"top-level objects grouped", 2, 2, 300, 64, 6},
		{"prefixes merged under the cap", 40, 1, 5, 8, 8},
		{"one shard under a cap of one", 40, 1, 5, 1, 1},
		{"empty source", 0, 0, 0, 8, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := local.New(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.MakeBucket(ctx, "src"); err != nil {
				t.Fatal(err)
			}
			var keys []string
			put := func(k string) {
				keys = append(keys, k)
				if _, err := st.Put(ctx, "src", k, bytes.NewReader([]byte(k)), int64(len(k)), block.PutOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			for p := range tc.prefixes {
				for i := range tc.perPrefix {
					put(fmt.Sprintf("data/p%03d/f%d", p, i))
				}
			}
			for i := range tc.top {
				put(fmt.Sprintf("data/top-%05d", i))
			}
			// A neighbour that shares the prefix's first bytes stays out.
			put("database/x")
			slices.Sort(keys)
			res, err := block.NewResolver(block.ResolverConfig{Local: st})
			if err != nil {
				t.Fatal(err)
			}
			h := &Handler{cfg: Config{PlanItems: 2000, PrefixWeight: 100}.withDefaults(), sources: res}
			src := sourcePart{URI: "local://src/data/", Dest: "x/"}
			parts, err := h.splitSource(ctx, src, tc.maxShards)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) == 0 || len(parts) > tc.wantMax {
				t.Fatalf("%d shards, want 1 to %d", len(parts), tc.wantMax)
			}
			if parts[0].After != nil || parts[len(parts)-1].UpTo != nil {
				t.Fatal("the first shard must start at the beginning and the last run to the end")
			}
			var got []string
			for i, p := range parts {
				if i > 0 && p.After.last() != parts[i-1].UpTo.last() {
					t.Fatalf("shard %d does not start where shard %d ends", i, i-1)
				}
				prefix, startAfter := p.listPrefix("data/")
				if !strings.HasPrefix(prefix, "data/") {
					t.Fatalf("shard %d listed from %q, outside the source", i, prefix)
				}
				it := newListIter(ctx, block.Target{Store: st, Bucket: "src"}, prefix, startAfter, p.After.last(), p.UpTo.last(), 100, false, nil)
				for it.Next() {
					got = append(got, strings.Clone(it.Object().Key)) // valid until Next
				}
				if err := it.Err(); err != nil {
					t.Fatal(err)
				}
			}
			var want []string
			for _, k := range keys {
				if strings.HasPrefix(k, "data/") {
					want = append(want, k)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("shards list %d keys, want %d", len(got), len(want))
			}
		})
	}
}

func TestCommonPrefix(t *testing.T) {
	tests := []struct{ a, b, want string }{
		{"data/p001/", "data/p001/" + maxSuffix(10), "data/p001/"},
		{"data/p001/", "data/p007/x", "data/p00"},
		{"a", "b", ""},
		{"dé", "dè", "d"}, // é and è share their first byte
		{"same", "same", "same"},
	}
	for _, tc := range tests {
		if got := commonPrefix(tc.a, tc.b); got != tc.want || !utf8.ValidString(got) {
			t.Errorf("commonPrefix(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestListIterPageSlots: an iterator holds a listing slot while it reads a
// page, so a second iterator sharing one slot waits until the first lets
// go of its page.
func TestListIterPageSlots(t *testing.T) {
	ctx := context.Background()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.MakeBucket(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		k := fmt.Sprintf("k/%02d", i)
		if _, err := st.Put(ctx, "src", k, bytes.NewReader([]byte(k)), int64(len(k)), block.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slots := make(chan struct{}, 1)
	target := block.Target{Store: st, Bucket: "src"}
	first := newListIter(ctx, target, "k/", "", "", "", 10, false, slots)
	if !first.Next() {
		t.Fatal(first.Err())
	}
	second := newListIter(ctx, target, "k/", "", "", "", 10, false, slots)
	got := make(chan int)
	go func() {
		n := 0
		for second.Next() {
			n++
		}
		second.Close()
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("the second iterator listed %d keys while the first held the only slot", n)
	case <-time.After(100 * time.Millisecond):
	}
	first.Close()
	if n := <-got; n != 30 {
		t.Fatalf("the second iterator listed %d keys, want 30", n)
	}
	if len(slots) != 0 {
		t.Fatal("a slot is still held after both iterators closed")
	}
}

// TestMergerReusesMemory merges parts that map objects to the same paths
// and checks every entry, taken as the merge gives it, and that merging
// allocates nothing per entry: an entry's path and address are written
// into the merger's buffers, which the next one overwrites.
func TestMergerReusesMemory(t *testing.T) {
	const n = 2000
	objs := func(prefix string, step int) []object {
		var out []object
		for i := 0; i < n; i += step {
			out = append(out, object{Key: fmt.Sprintf("%s%06d", prefix, i), Size: int64(i), ETag: "e"})
		}
		return out
	}
	srcs := []struct {
		objs      []object
		keyPrefix string
		uri       block.URI
	}{
		{objs("a/", 1), "a/", block.MustParseURI("s3://one/a/")},
		{objs("b/", 2), "b/", block.MustParseURI("s3://two/b/")},
		{objs("c/", 3), "c/", block.MustParseURI("local:///srv/c/")},
	}
	// Every part maps to dest/: of a path several map to, the later
	// source's object wins.
	want := map[string]string{}
	for _, s := range srcs {
		for _, o := range s.objs {
			rel := o.Key[len(s.keyPrefix):]
			want["dest/"+rel] = s.uri.String() + rel
		}
	}
	var got []string
	merge := func(record bool) {
		parts := make([]*partIter, len(srcs))
		for i, s := range srcs {
			parts[i] = newPartIter(&sliceIter{objs: s.objs}, i, s.keyPrefix, "dest/", s.uri)
		}
		m := newMerger(parts)
		for m.Next() {
			if record {
				e := m.Entry()
				got = append(got, e.Path+" "+e.Address)
			}
		}
		if err := m.Err(); err != nil {
			t.Fatal(err)
		}
	}
	merge(true)
	if len(got) != n || len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), n)
	}
	for i, g := range got {
		path, addr, _ := strings.Cut(g, " ")
		if want[path] != addr || i > 0 && got[i-1] >= g {
			t.Fatalf("entry %d: %q (want address %q), after %q", i, g, want[path], got[max(i-1, 0)])
		}
	}
	// The parts and the merger allocate a handful of structs and buffers,
	// not one string per entry.
	if allocs := testing.AllocsPerRun(3, func() { merge(false) }); allocs > 40 {
		t.Fatalf("merging %d entries made %.0f allocations", n, allocs)
	}
}
