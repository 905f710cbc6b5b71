package graph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/tree"
)

// seed commits n generated entries to the branch in one commit, written
// straight into ranges as an import does.
func seed(tb testing.TB, e *env, repo store.RepoID, branch store.BranchID, n int) *graph.Commit {
	tb.Helper()
	c, err := e.g.CommitTree(e.ctx, repo, branch, graph.CommitParams{Message: fmt.Sprintf("seed %d", n)}, false,
		func(ctx context.Context, ns tree.Namespace, head *graph.Commit) (tree.MetaRangeID, error) {
			w := e.trees.NewWriter(ctx, ns)
			mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i := range n {
				p := seedPath(i)
				if err := w.Add(&store.Entry{Path: p, Address: "data/seed/" + p, Size: int64(i), ETag: fmt.Sprintf("%032x", i), MTime: mtime}); err != nil {
					return "", err
				}
			}
			return w.Close()
		})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func seedPath(i int) string { return fmt.Sprintf("tables/part=%04d/file-%08d.parquet", i/1000, i) }

// changeOne stages a new version of an existing entry.
func changeOne(tb testing.TB, e *env, repo store.RepoID, branch store.BranchID, i, version int) {
	tb.Helper()
	p := seedPath(i)
	err := e.g.StageObject(e.ctx, repo, branch, store.Entry{Path: p, Address: fmt.Sprintf("data/v%d/%s", version, p),
		Size: int64(version), ETag: fmt.Sprintf("%032x", version)})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestLargeBranchOneChange: on a branch of 1,000,000 entries, committing one
// changed object writes exactly one range and one metarange, and the diff
// of the two commits opens at most two ranges.
func TestLargeBranchOneChange(t *testing.T) {
	const n = 1_000_000
	e := newEnv(t, backends[0].open(t))
	repo := e.repo(t, "large")
	base := seed(t, e, repo, "main", n)

	before := e.trees.Stats()
	changeOne(t, e, repo, "main", n/2, 1)
	next := e.commit(t, repo, "main", "one change")
	after := e.trees.Stats()
	if w := after.RangesWritten - before.RangesWritten; w != 1 {
		t.Fatalf("commit of one change wrote %d ranges, want 1", w)
	}
	if w := after.MetaRangesWritten - before.MetaRangesWritten; w != 1 {
		t.Fatalf("commit of one change wrote %d metaranges, want 1", w)
	}

	before = e.trees.Stats()
	diff, more, err := e.g.Diff(e.ctx, repo, store.Ref(base.ID), store.Ref(next.ID), graph.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opened := e.trees.Stats().RangesOpened - before.RangesOpened
	if len(diff) != 1 || more || diff[0].Path != seedPath(n/2) || diff[0].Type != graph.DiffChanged {
		t.Fatalf("diff = %+v (more %v)", diff, more)
	}
	if opened > 2 {
		t.Fatalf("diff opened %d ranges, want at most 2", opened)
	}
	t.Logf("1M-entry branch: commit wrote 1 range + 1 metarange; diff opened %d ranges", opened)
}

// BenchmarkOneChange measures commit, diff and merge of one changed object
// on branches of 1,000 and 1,000,000 entries (embedded KV, local storage).
// Compare the two sizes: cost follows the size of the change, not the
// branch.
func BenchmarkOneChange(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		e := newEnv(b, backends[0].open(b))
		repo := e.repo(b, "bench")
		seed(b, e, repo, "main", n)
		version := 0
		b.Run(fmt.Sprintf("op=commit/entries=%d", n), func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				version++
				changeOne(b, e, repo, "main", (i*7919)%n, version)
				b.StartTimer()
				if _, err := e.g.Commit(e.ctx, repo, "main", graph.CommitParams{Message: "c"}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("op=diff/entries=%d", n), func(b *testing.B) {
			version++
			changeOne(b, e, repo, "main", n/3, version)
			e.commit(b, repo, "main", "for diff")
			for range b.N {
				d, _, err := e.g.Diff(e.ctx, repo, "main~1", "main", graph.ListOptions{})
				if err != nil || len(d) != 1 {
					b.Fatalf("diff %v %v", d, err)
				}
			}
		})
		b.Run(fmt.Sprintf("op=merge/entries=%d", n), func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				version++
				br := store.BranchID(fmt.Sprintf("m%d", version))
				if _, err := e.g.CreateBranch(e.ctx, repo, br, "main"); err != nil {
					b.Fatal(err)
				}
				version++
				changeOne(b, e, repo, br, (i*104729)%n, version)
				e.commit(b, repo, string(br), "on branch")
				b.StartTimer()
				if _, err := e.g.Merge(e.ctx, repo, store.Ref(br), "main", graph.MergeParams{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
