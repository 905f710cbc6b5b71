package tree

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store"
)

// modelMerge merges the models as Merge should, and returns the paths that
// conflict.
func modelMerge(base, source, dest map[string]store.Entry, strategy MergeStrategy) (map[string]store.Entry, []string) {
	out := maps.Clone(dest)
	var conflicts []string
	for _, d := range modelDiff(base, source) {
		cur, has := dest[d.Path]
		var curp *store.Entry
		if has {
			curp = &cur
		}
		take := func(e *store.Entry) {
			if e == nil {
				delete(out, d.Path)
			} else {
				out[d.Path] = *e
			}
		}
		switch {
		case curp.Equal(d.Left):
			take(d.Right)
		case curp.Equal(d.Right):
		case strategy == MergeStrategySourceWins:
			take(d.Right)
		case strategy == MergeStrategyDestWins:
		default:
			conflicts = append(conflicts, d.Path)
		}
	}
	return out, conflicts
}

func TestModelMerge(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 16, MaxEntries: 40})
	ns := newNS(t, "")
	rng := rand.New(rand.NewPCG(3, 4))
	const keys = 1200
	cases := 12
	if testing.Short() {
		cases = 8
	}
	var conflicted, merged int
	for c := range cases {
		base := map[string]store.Entry{}
		randomChanges(rng, base, keys, 500, 1)
		source, dest := maps.Clone(base), maps.Clone(base)
		sourceKeys, destKeys := keys, keys
		if c%2 == 0 {
			// Disjoint halves of the key space: never a conflict.
			sourceKeys, destKeys = keys/2, keys
		}
		randomChanges(rng, source, sourceKeys, 1+rng.IntN(60), 2)
		var dchanges []Change
		for _, ch := range randomChanges(rng, dest, destKeys, 1+rng.IntN(60), 3) {
			if c%2 == 0 && ch.Path < keyOf(keys/2) {
				continue
			}
			dchanges = append(dchanges, ch)
		}
		dest = maps.Clone(base)
		for _, ch := range dchanges {
			if ch.Entry == nil {
				delete(dest, ch.Path)
			} else {
				dest[ch.Path] = *ch.Entry
			}
		}
		if c%3 == 0 {
			// Some changes made identically on both sides.
			for k, e := range source {
				if rng.IntN(200) == 0 {
					dest[k] = e
				}
			}
		}
		bid, sid, did := writeModel(t, m, ns, base), writeModel(t, m, ns, source), writeModel(t, m, ns, dest)
		for _, strategy := range []MergeStrategy{MergeStrategyNone, MergeStrategySourceWins, MergeStrategyDestWins} {
			want, conflicts := modelMerge(base, source, dest, strategy)
			before := m.Stats()
			got, err := m.Merge(ctx, ns, bid, sid, did, strategy)
			if len(conflicts) > 0 {
				if !errors.Is(err, store.ErrMergeConflict) {
					t.Fatalf("case %d %v: %d conflicts, got %v", c, strategy, len(conflicts), err)
				}
				if !strings.Contains(err.Error(), conflicts[0]) {
					t.Fatalf("case %d: error %q does not name the first conflict %q", c, err, conflicts[0])
				}
				if d := statsDelta(before, m.Stats()); d.MetaRangesWritten != 0 {
					t.Fatalf("case %d: a conflicting merge wrote a metarange", c)
				}
				conflicted++
				continue
			}
			if err != nil {
				t.Fatalf("case %d %v: %v", c, strategy, err)
			}
			requireEntries(t, readAllEntries(t, m, ns, got), modelEntries(want))
			if fresh := writeModel(t, m, ns, want); fresh != got {
				t.Fatalf("case %d %v: merged tree %s differs from a fresh write %s", c, strategy, got, fresh)
			}
			merged++
		}
	}
	if conflicted == 0 || merged < cases {
		t.Fatalf("%d conflicting and %d clean merges: the cases do not cover both", conflicted, merged)
	}
}

func TestMergeStrategies(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 4})
	ns := newNS(t, "")
	e := func(p string, v int) store.Entry { return entryAt(p, v) }
	base := map[string]store.Entry{"a": e("a", 0), "b": e("b", 0), "c": e("c", 0), "d": e("d", 0)}
	// source: changes a, deletes b, adds x, changes d.
	source := map[string]store.Entry{"a": e("a", 1), "c": e("c", 0), "d": e("d", 1), "x": e("x", 1)}
	// dest: changes a differently, changes b (source deleted it), keeps c,
	// makes the same change to d, adds y.
	dest := map[string]store.Entry{"a": e("a", 2), "b": e("b", 2), "c": e("c", 0), "d": e("d", 1), "y": e("y", 2)}
	bid, sid, did := writeModel(t, m, ns, base), writeModel(t, m, ns, source), writeModel(t, m, ns, dest)

	for _, tc := range []struct {
		strategy MergeStrategy
		want     map[string]store.Entry
	}{
		{MergeStrategySourceWins, map[string]store.Entry{"a": e("a", 1), "c": e("c", 0), "d": e("d", 1), "x": e("x", 1), "y": e("y", 2)}},
		{MergeStrategyDestWins, map[string]store.Entry{"a": e("a", 2), "b": e("b", 2), "c": e("c", 0), "d": e("d", 1), "x": e("x", 1), "y": e("y", 2)}},
	} {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			got, err := m.Merge(ctx, ns, bid, sid, did, tc.strategy)
			if err != nil {
				t.Fatal(err)
			}
			requireEntries(t, readAllEntries(t, m, ns, got), modelEntries(tc.want))
		})
	}
	t.Run("none", func(t *testing.T) {
		_, err := m.Merge(ctx, ns, bid, sid, did, MergeStrategyNone)
		if !errors.Is(err, store.ErrMergeConflict) || !errors.Is(err, store.ErrConflict) {
			t.Fatalf("got %v, want ErrMergeConflict", err)
		}
		for _, p := range []string{`"a"`, `"b"`} {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not name %s", err, p)
			}
		}
	})
	t.Run("fast paths", func(t *testing.T) {
		for _, tc := range []struct {
			name               string
			base, source, dest MetaRangeID
			want               MetaRangeID
		}{
			{"source is base", bid, bid, did, did},
			{"dest is base", bid, sid, bid, sid},
			{"source is dest", bid, did, did, did},
		} {
			before := m.Stats()
			got, err := m.Merge(ctx, ns, tc.base, tc.source, tc.dest, MergeStrategyNone)
			if err != nil || got != tc.want {
				t.Fatalf("%s: got %s %v, want %s", tc.name, got, err, tc.want)
			}
			if d := statsDelta(before, m.Stats()); d.RangesOpened != 0 {
				t.Fatalf("%s opened %d ranges", tc.name, d.RangesOpened)
			}
		}
	})
	t.Run("bad strategy", func(t *testing.T) {
		if _, err := m.Merge(ctx, ns, bid, sid, did, MergeStrategy(9)); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestMergeNamesFirstConflicts(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 4})
	ns := newNS(t, "")
	base, source, dest := map[string]store.Entry{}, map[string]store.Entry{}, map[string]store.Entry{}
	for i := range 100 {
		k := keyOf(i)
		base[k], source[k], dest[k] = entryAt(k, 0), entryAt(k, 1), entryAt(k, 2)
	}
	bid, sid, did := writeModel(t, m, ns, base), writeModel(t, m, ns, source), writeModel(t, m, ns, dest)
	before := m.Stats()
	_, err := m.Merge(ctx, ns, bid, sid, did, MergeStrategyNone)
	if !errors.Is(err, store.ErrMergeConflict) {
		t.Fatalf("got %v", err)
	}
	keys := slices.Sorted(maps.Keys(base))
	if !strings.Contains(err.Error(), keys[0]) || !strings.Contains(err.Error(), keys[maxConflicts-1]) || strings.Contains(err.Error(), keys[maxConflicts]) {
		t.Fatalf("error %q should name exactly the first %d conflicts", err, maxConflicts)
	}
	// It stopped after the first conflicts instead of walking everything,
	// and wrote nothing after the first conflict.
	d := statsDelta(before, m.Stats())
	if d.MetaRangesWritten != 0 || d.RangesWritten != 0 {
		t.Fatalf("conflicting merge wrote %+v", d)
	}
	if d.RangesOpened > 20 {
		t.Fatalf("conflicting merge opened %d ranges", d.RangesOpened)
	}
}
