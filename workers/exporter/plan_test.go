package exporter

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/tree"
)

// localGraph returns a graph over an embedded KV and a local blockstore,
// with small ranges so that a few thousand objects make many of them.
func localGraph(t *testing.T) (*graph.Graph, *bolt.Store) {
	t.Helper()
	kvs, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kvs.Close() })
	ls, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trees, err := tree.NewManager(tree.Config{TargetEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	res, err := block.NewResolver(block.ResolverConfig{Local: ls})
	if err != nil {
		t.Fatal(err)
	}
	return graph.New(kvs, trees, res, graph.Config{}), kvs
}

// commitEntries commits the changes put (path → content tag; the data
// need not exist) and del to main in one commit, writing ranges directly.
func commitEntries(t *testing.T, g *graph.Graph, repo store.RepoID, put map[string]string, del []string) *graph.Commit {
	t.Helper()
	ctx := context.Background()
	var changes []tree.Change
	for p, tag := range put {
		changes = append(changes, tree.Change{Path: p, Entry: &store.Entry{Path: p, Address: "data/" + tag, Size: int64(len(tag)), ETag: tag}})
	}
	for _, p := range del {
		changes = append(changes, tree.Change{Path: p})
	}
	slices.SortFunc(changes, func(a, b tree.Change) int { return strings.Compare(a.Path, b.Path) })
	c, err := g.CommitTree(ctx, repo, "main", graph.CommitParams{Message: "change", Committer: "t"}, false,
		func(ctx context.Context, ns tree.Namespace, head *graph.Commit) (tree.MetaRangeID, error) {
			return g.Trees().Apply(ctx, ns, head.MetaRangeID, tree.SliceChanges(changes), nil)
		})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSpans(t *testing.T) {
	ctx := context.Background()
	g, kvs := localGraph(t)
	if _, err := g.CreateRepository(ctx, "spans", "local://spans", "main"); err != nil {
		t.Fatal(err)
	}
	first := map[string]string{}
	for i := range 2000 {
		first[fmt.Sprintf("dir%02d/obj-%05d", i%17, i)] = fmt.Sprintf("v1-%d", i)
	}
	a := commitEntries(t, g, "spans", first, nil)
	second := map[string]string{}
	var del []string
	for i := 0; i < 2000; i += 97 {
		second[fmt.Sprintf("dir%02d/obj-%05d", i%17, i)] = fmt.Sprintf("v2-%d", i) // changed
		del = append(del, fmt.Sprintf("dir%02d/obj-%05d", (i+5)%17, i+5))          // removed
		second[fmt.Sprintf("new/%05d", i)] = "new"                                 // added
	}
	b := commitEntries(t, g, "spans", second, del)
	ns, err := g.Namespace(ctx, "spans")
	if err != nil {
		t.Fatal(err)
	}

	// The expected differences, from the graph's own diff.
	var want []string
	opts := graph.ListOptions{Amount: 1000}
	for {
		items, more, err := g.Diff(ctx, "spans", store.Ref(a.ID), store.Ref(b.ID), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			want = append(want, string(it.Type)+" "+it.Path)
		}
		if !more {
			break
		}
		opts.After = items[len(items)-1].Path
	}

	for _, maxTasks := range []int{10000, 7, 1} {
		t.Run(fmt.Sprintf("max%d", maxTasks), func(t *testing.T) {
			h, err := New(Config{MaxTasks: maxTasks}, Deps{Graph: g, KV: kvs})
			if err != nil {
				t.Fatal(err)
			}
			// Diff mode: every difference in exactly one span, nothing else.
			x := &export{ns: ns, commit: b, prev: a}
			spans, total, err := h.spans(ctx, x)
			if err != nil {
				t.Fatal(err)
			}
			if total != 0 || len(spans) == 0 || len(spans) > maxTasks {
				t.Fatalf("diff spans: %d spans, total %d", len(spans), total)
			}
			var got []string
			for i, s := range spans {
				if s.Lo > s.Hi || i > 0 && spans[i-1].Hi >= s.Lo {
					t.Fatalf("span %d %+v overlaps or is out of order", i, s)
				}
				if err := h.walk(ctx, x, s, func(c change) error {
					typ := "removed"
					if c.Entry != nil {
						typ = "added"
						if _, ok := first[c.Path]; ok {
							typ = "changed"
						}
					}
					got = append(got, typ+" "+c.Path)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("diff by spans:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if maxTasks == 10000 {
				ranges, err := g.Trees().GetMetaRange(ctx, ns, b.MetaRangeID)
				if err != nil {
					t.Fatal(err)
				}
				if len(spans) >= len(ranges)/2 {
					t.Fatalf("a diff of %d changes made %d spans over %d ranges: unchanged ranges were not skipped", len(want), len(spans), len(ranges))
				}
			}

			// Full mode: every entry of the commit exactly once.
			full := &export{ns: ns, commit: b}
			spans, total, err = h.spans(ctx, full)
			if err != nil {
				t.Fatal(err)
			}
			var n int64
			last := ""
			for _, s := range spans {
				if err := h.walk(ctx, full, s, func(c change) error {
					if c.Entry == nil || c.Path <= last {
						t.Fatalf("full walk: %+v after %q", c, last)
					}
					last = c.Path
					n++
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			if wantN := int64(2000 - len(del) + len(second) - len(del)); n != total || n != wantN {
				t.Fatalf("full walk: %d entries, total %d, want %d", n, total, wantN)
			}
		})
	}
}
