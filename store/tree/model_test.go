package tree

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lakeq/lakeq/store"
)

// modelConfig cuts small ranges so that a few thousand keys span hundreds
// of ranges, with forced boundaries too.
var modelConfig = Config{TargetEntries: 8, MaxEntries: 24, MaxBytes: 4096}

// randomChanges returns a sorted batch of puts and deletes over the key
// space [0, keys), and applies it to model.
func randomChanges(rng *rand.Rand, model map[string]store.Entry, keys, n, version int) []Change {
	picked := map[string]bool{}
	for len(picked) < n {
		picked[keyOf(rng.IntN(keys))] = true
	}
	var out []Change
	for _, k := range slices.Sorted(maps.Keys(picked)) {
		_, present := model[k]
		if present && rng.IntN(3) == 0 {
			delete(model, k)
			out = append(out, Change{Path: k})
			continue
		}
		if !present && rng.IntN(5) == 0 {
			// Deleting an absent key changes nothing.
			out = append(out, Change{Path: k})
			continue
		}
		e := entryAt(k, version*1000+rng.IntN(1000))
		model[k] = e
		out = append(out, Change{Path: k, Entry: &e})
	}
	return out
}

func TestModelApplyDiff(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 12
	}
	runModelApplyDiff(t, newNS(t, ""), 1500, rounds)
}

// runModelApplyDiff applies rounds of random batches to a tree and to a map
// over keys keys, and checks after each round that they agree (iteration,
// Get, SeekGE, and the id of a fresh write); then it checks the diffs
// between random pairs of rounds.
func runModelApplyDiff(t *testing.T, ns Namespace, keys, rounds int) {
	ctx := context.Background()
	m := newManager(t, modelConfig)
	rng := rand.New(rand.NewPCG(1, 2))

	model := map[string]store.Entry{}
	id, err := m.EmptyMetaRange(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	ids := []MetaRangeID{id}
	models := []map[string]store.Entry{maps.Clone(model)}
	for round := 1; round <= rounds; round++ {
		n := 1 + rng.IntN(40)
		switch round % 10 {
		case 1:
			n = 300 + rng.IntN(300) // large batches too
		case 4, 7:
			n = 1
		}
		changes := randomChanges(rng, model, keys, min(n, keys/2), round)
		if round%3 == 0 {
			// A key after every key so far: appended after the last range.
			e := entryAt(keyOf(keys+round), round)
			model[e.Path] = e
			changes = append(changes, Change{Path: e.Path, Entry: &e})
		}
		next, err := m.Apply(ctx, ns, id, SliceChanges(changes), nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		want := modelEntries(model)
		requireEntries(t, readAllEntries(t, m, ns, next), want)
		// Apply's output is cut exactly as a fresh write of the same
		// entries: boundaries depend on content only.
		if fresh := writeModel(t, m, ns, model); fresh != next {
			t.Fatalf("round %d: applied tree %s differs from a fresh write %s", round, next, fresh)
		}
		checkGets(t, m, ns, next, model, rng, keys)
		checkSeeks(t, m, ns, next, want, rng, keys)
		id = next
		ids = append(ids, id)
		models = append(models, maps.Clone(model))
	}

	for range 40 {
		i, j := rng.IntN(len(ids)), rng.IntN(len(ids))
		it, err := m.Diff(ctx, ns, ids[i], ids[j])
		if err != nil {
			t.Fatal(err)
		}
		requireDiffs(t, collectDiffs(t, it), modelDiff(models[i], models[j]))
	}
}

func checkGets(t *testing.T, m *Manager, ns Namespace, id MetaRangeID, model map[string]store.Entry, rng *rand.Rand, keys int) {
	t.Helper()
	ctx := context.Background()
	for range 50 {
		k := keyOf(rng.IntN(keys + 10))
		if rng.IntN(10) == 0 {
			k += "~" // never a key of the model
		}
		got, err := m.Get(ctx, ns, id, k)
		want, ok := model[k]
		switch {
		case ok && err != nil:
			t.Fatalf("Get(%q): %v", k, err)
		case ok && !got.Equal(&want):
			t.Fatalf("Get(%q) = %+v, want %+v", k, got, want)
		case !ok && !errors.Is(err, store.ErrObjectNotFound):
			t.Fatalf("Get(%q) of an absent key: %v, %v", k, got, err)
		}
	}
}

func checkSeeks(t *testing.T, m *Manager, ns Namespace, id MetaRangeID, want []store.Entry, rng *rand.Rand, keys int) {
	t.Helper()
	it, err := m.NewIterator(context.Background(), ns, id)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for range 20 {
		k := keyOf(rng.IntN(keys + 10))
		it.SeekGE(k)
		i, _ := slices.BinarySearchFunc(want, k, func(e store.Entry, k string) int {
			switch {
			case e.Path < k:
				return -1
			case e.Path > k:
				return 1
			}
			return 0
		})
		for n := 0; n < 5; n++ {
			has := it.Next()
			if has != (i+n < len(want)) {
				t.Fatalf("SeekGE(%q) + %d: Next %v, %d entries left", k, n, has, len(want)-i-n)
			}
			if !has {
				break
			}
			if !it.Entry().Equal(&want[i+n]) {
				t.Fatalf("SeekGE(%q) + %d: %q, want %q", k, n, it.Entry().Path, want[i+n].Path)
			}
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestApplyResolve(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, modelConfig)
	ns := newNS(t, "")
	model := map[string]store.Entry{}
	for i := 0; i < 500; i += 2 {
		model[keyOf(i)] = entryAt(keyOf(i), 1)
	}
	base := writeModel(t, m, ns, model)

	// Put-if-absent: existing entries win; resolve sees the current entry.
	var changes []Change
	for i := 0; i < 500; i += 3 {
		e := entryAt(keyOf(i), 2)
		changes = append(changes, Change{Path: e.Path, Entry: &e})
		if _, ok := model[e.Path]; !ok {
			model[e.Path] = e
		}
	}
	seen := 0
	got, err := m.Apply(ctx, ns, base, SliceChanges(changes), func(cur *store.Entry, ch *Change) (*store.Entry, error) {
		seen++
		if want, ok := model[ch.Path]; cur != nil && (!ok || !cur.Equal(&want)) {
			return nil, errors.New("resolve saw a wrong current entry")
		}
		if cur != nil {
			return cur, nil
		}
		return ch.Entry, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(changes) {
		t.Fatalf("resolve called %d times for %d changes", seen, len(changes))
	}
	requireEntries(t, readAllEntries(t, m, ns, got), modelEntries(model))

	t.Run("resolve error stops", func(t *testing.T) {
		boom := errors.New("boom")
		before := m.Stats()
		_, err := m.Apply(ctx, ns, base, SliceChanges(changes), func(*store.Entry, *Change) (*store.Entry, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		if d := statsDelta(before, m.Stats()); d.MetaRangesWritten != 0 {
			t.Fatalf("failed apply wrote a metarange: %+v", d)
		}
	})
	t.Run("changes out of order", func(t *testing.T) {
		a, b := entryAt("b", 1), entryAt("a", 1)
		_, err := m.Apply(ctx, ns, base, SliceChanges([]Change{{Path: "b", Entry: &a}, {Path: "a", Entry: &b}}), nil)
		if !errors.Is(err, ErrOutOfOrder) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("entry path mismatch", func(t *testing.T) {
		a := entryAt("a", 1)
		_, err := m.Apply(ctx, ns, base, SliceChanges([]Change{{Path: "b", Entry: &a}}), nil)
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unknown base", func(t *testing.T) {
		_, err := m.Apply(ctx, ns, MetaRangeID(string(base[:63])+"x"), SliceChanges(nil), nil)
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
		_, err = m.Apply(ctx, ns, MetaRangeID(string(base[:63])+"f"), SliceChanges(nil), nil)
		if base[63] != 'f' && !errors.Is(err, ErrMetaRangeNotFound) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no changes", func(t *testing.T) {
		before := m.Stats()
		got, err := m.Apply(ctx, ns, base, SliceChanges(nil), nil)
		if err != nil || got != base {
			t.Fatalf("got %s, %v; want the base %s", got, err, base)
		}
		if d := statsDelta(before, m.Stats()); d.RangesOpened != 0 || d.RangesWritten != 0 || d.MetaRangesWritten != 0 {
			t.Fatalf("empty apply did work: %+v", d)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := m.Apply(cctx, ns, base, SliceChanges(changes), nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	})
}
