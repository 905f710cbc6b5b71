package graph_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/tree"
)

func TestRepositoryLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		repo := e.repo(t, "repo-one")
		r, err := e.g.GetRepository(e.ctx, repo)
		if err != nil || r.DefaultBranch != "main" || r.StorageNamespace != "local://repo-one" {
			t.Fatalf("get: %+v %v", r, err)
		}
		if _, err := e.g.CreateRepository(e.ctx, repo, "local://other", "main"); !errors.Is(err, store.ErrRepoExists) {
			t.Fatalf("duplicate create: %v", err)
		}
		e.repo(t, "repo-two")
		list, more, err := e.g.ListRepositories(e.ctx, "", 1)
		if err != nil || !more || len(list) != 1 || list[0].ID != "repo-one" {
			t.Fatalf("list page 1: %v %v %v", list, more, err)
		}
		list, more, err = e.g.ListRepositories(e.ctx, "repo-one", 10)
		if err != nil || more || len(list) != 1 || list[0].ID != "repo-two" {
			t.Fatalf("list page 2: %v %v %v", list, more, err)
		}
		log, _, err := e.g.Log(e.ctx, repo, "main", graph.LogOptions{})
		if err != nil || len(log) != 1 || log[0].Message != "Repository created" {
			t.Fatalf("initial log: %v %v", log, err)
		}
		if err := e.g.DeleteRepository(e.ctx, repo); err != nil {
			t.Fatal(err)
		}
		if _, err := e.g.GetRepository(e.ctx, repo); !errors.Is(err, store.ErrRepoNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if _, err := e.g.GetBranch(e.ctx, repo, "main"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("branch after delete: %v", err)
		}
	})
}

func TestBadInputWritesNothing(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	repo := e.repo(t, "good")
	long := strings.Repeat("a", store.MaxPathLength+1)
	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"repo id upper case", func() error { _, err := e.g.CreateRepository(e.ctx, "Bad", "local://x", "main"); return err }, store.ErrInvalidRepoID},
		{"repo id too short", func() error { _, err := e.g.CreateRepository(e.ctx, "ab", "local://x", "main"); return err }, store.ErrInvalidRepoID},
		{"repo id slash", func() error { _, err := e.g.CreateRepository(e.ctx, "a/bc", "local://x", "main"); return err }, store.ErrInvalidRepoID},
		{"default branch invalid", func() error { _, err := e.g.CreateRepository(e.ctx, "okrepo", "local://x", "-main"); return err }, store.ErrInvalidBranchID},
		{"namespace scheme", func() error { _, err := e.g.CreateRepository(e.ctx, "okrepo", "ftp://x/y", "main"); return err }, store.ErrInvalidNamespace},
		{"namespace empty", func() error { _, err := e.g.CreateRepository(e.ctx, "okrepo", "", "main"); return err }, store.ErrInvalidNamespace},
		{"namespace garbage", func() error { _, err := e.g.CreateRepository(e.ctx, "okrepo", "s3:/nobucket", "main"); return err }, store.ErrInvalidNamespace},
		{"branch with space", func() error { _, err := e.g.CreateBranch(e.ctx, repo, "has space", "main"); return err }, store.ErrInvalidBranchID},
		{"branch with slash", func() error { _, err := e.g.CreateBranch(e.ctx, repo, "a/b", "main"); return err }, store.ErrInvalidBranchID},
		{"empty path", func() error {
			_, err := e.g.WriteObject(e.ctx, repo, "main", "", strings.NewReader("x"), 1, graph.WriteOptions{})
			return err
		}, store.ErrInvalidPath},
		{"path too long", func() error {
			_, err := e.g.WriteObject(e.ctx, repo, "main", long, strings.NewReader("x"), 1, graph.WriteOptions{})
			return err
		}, store.ErrInvalidPath},
		{"path invalid utf8", func() error {
			_, err := e.g.WriteObject(e.ctx, repo, "main", "bad\xff\xfe", strings.NewReader("x"), 1, graph.WriteOptions{})
			return err
		}, store.ErrInvalidPath},
		{"stage invalid utf8", func() error {
			return e.g.StageObject(e.ctx, repo, "main", store.Entry{Path: "x\xc3", Address: "data/x"})
		}, store.ErrInvalidPath},
		{"delete empty path", func() error { return e.g.DeleteObject(e.ctx, repo, "main", "") }, store.ErrInvalidPath},
		{"bad ref", func() error { _, err := e.g.GetCommit(e.ctx, repo, "main~x"); return err }, store.ErrInvalidRef},
		{"tag invalid", func() error { _, err := e.g.CreateTag(e.ctx, repo, ".v1", "main"); return err }, store.ErrInvalidTagID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := dumpKV(t, e)
			err := tc.do()
			if !errors.Is(err, tc.want) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if after := dumpKV(t, e); !slices.Equal(before, after) {
				t.Fatalf("bad input wrote to the KV:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// dumpKV lists every key of the partitions the graph uses for repository
// "good" and the repository list.
func dumpKV(t *testing.T, e *env) []string {
	t.Helper()
	var out []string
	parts := []string{"repos", "repo/good"}
	b, err := e.kv.Get(e.ctx, "repo/good", "branches/main")
	if err == nil {
		var rec struct {
			StagingToken string `json:"staging_token"`
		}
		_ = jsonUnmarshal(b, &rec)
		parts = append(parts, "staging/good/"+rec.StagingToken)
	}
	for _, p := range parts {
		it := kv.Scan(e.ctx, e.kv, p, "", "", 0)
		for it.Next() {
			out = append(out, p+":"+it.Entry().Key+"="+string(it.Entry().Value))
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
	}
	return out
}

func TestStagingCommitAndRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		repo := e.repo(t, "stage")
		e.put(t, repo, "main", "a/one.txt", "one")
		e.put(t, repo, "main", "a/two.txt", "two")
		e.put(t, repo, "main", "b.txt", "bee")
		if got := e.read(t, repo, "main", "a/one.txt"); got != "one" {
			t.Fatalf("staged read = %q", got)
		}
		if _, err := e.g.StatObject(e.ctx, repo, "main@", "a/one.txt"); !errors.Is(err, store.ErrObjectNotFound) {
			t.Fatalf("committed-only read of staged object: %v", err)
		}
		d, _, err := e.g.DiffUncommitted(e.ctx, repo, "main", graph.ListOptions{})
		if err != nil || len(d) != 3 || d[0].Type != graph.DiffAdded {
			t.Fatalf("uncommitted diff: %+v %v", d, err)
		}
		c1 := e.commit(t, repo, "main", "first")
		if _, err := e.g.Commit(e.ctx, repo, "main", graph.CommitParams{Message: "nothing"}); !errors.Is(err, store.ErrNoChanges) {
			t.Fatalf("empty commit: %v", err)
		}
		if got := e.read(t, repo, string(c1.ID), "b.txt"); got != "bee" {
			t.Fatalf("read by commit = %q", got)
		}
		// Overwrite, delete, and see both through staging and the next commit.
		e.put(t, repo, "main", "b.txt", "bee2")
		if err := e.g.DeleteObject(e.ctx, repo, "main", "a/two.txt"); err != nil {
			t.Fatal(err)
		}
		if err := e.g.DeleteObject(e.ctx, repo, "main", "missing"); !errors.Is(err, store.ErrObjectNotFound) {
			t.Fatalf("delete missing: %v", err)
		}
		if got := e.paths(t, repo, "main", graph.ListOptions{}); !slices.Equal(got, []string{"a/one.txt", "b.txt"}) {
			t.Fatalf("staged listing = %v", got)
		}
		d, _, err = e.g.DiffUncommitted(e.ctx, repo, "main", graph.ListOptions{})
		if err != nil || len(d) != 2 || d[0].Type != graph.DiffRemoved || d[1].Type != graph.DiffChanged {
			t.Fatalf("uncommitted diff: %+v %v", d, err)
		}
		c2 := e.commit(t, repo, "main", "second")
		if c2.Parents[0] != c1.ID || c2.Generation != c1.Generation+1 {
			t.Fatalf("parents %v gen %d", c2.Parents, c2.Generation)
		}
		if got := e.read(t, repo, "main", "b.txt"); got != "bee2" {
			t.Fatalf("after commit = %q", got)
		}
		if got := e.read(t, repo, "main~1", "b.txt"); got != "bee" {
			t.Fatalf("main~1 = %q", got)
		}
		diff, _, err := e.g.Diff(e.ctx, repo, store.Ref(c1.ID), "main", graph.ListOptions{})
		if err != nil || len(diff) != 2 || diff[0].Path != "a/two.txt" || diff[0].Type != graph.DiffRemoved || diff[1].Type != graph.DiffChanged {
			t.Fatalf("diff: %+v %v", diff, err)
		}
		// Reset drops staged changes.
		e.put(t, repo, "main", "tmp", "x")
		if err := e.g.ResetBranch(e.ctx, repo, "main"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.g.StatObject(e.ctx, repo, "main", "tmp"); !errors.Is(err, store.ErrObjectNotFound) {
			t.Fatalf("after reset: %v", err)
		}
		e.put(t, repo, "main", "p/1", "x")
		e.put(t, repo, "main", "p/2", "x")
		e.put(t, repo, "main", "q", "x")
		if err := e.g.ResetPath(e.ctx, repo, "main", "p/", true); err != nil {
			t.Fatal(err)
		}
		if got := e.paths(t, repo, "main", graph.ListOptions{}); !slices.Equal(got, []string{"a/one.txt", "b.txt", "q"}) {
			t.Fatalf("after prefix reset = %v", got)
		}
	})
}

func TestListDelimiterAndPaging(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	repo := e.repo(t, "listing")
	for _, p := range []string{"a/1", "a/2", "a/b/3", "ab", "c/d/e", "z"} {
		e.put(t, repo, "main", p, p)
	}
	e.commit(t, repo, "main", "c")
	e.put(t, repo, "main", "a/0", "staged")
	if err := e.g.DeleteObject(e.ctx, repo, "main", "z"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ref  string
		opts graph.ListOptions
		want []string
	}{
		{"all staged", "main", graph.ListOptions{}, []string{"a/0", "a/1", "a/2", "a/b/3", "ab", "c/d/e"}},
		{"committed", "main@", graph.ListOptions{}, []string{"a/1", "a/2", "a/b/3", "ab", "c/d/e", "z"}},
		{"delimiter", "main", graph.ListOptions{Delimiter: "/"}, []string{"a/", "ab", "c/"}},
		{"prefix delimiter", "main", graph.ListOptions{Prefix: "a/", Delimiter: "/"}, []string{"a/0", "a/1", "a/2", "a/b/"}},
		{"paged by one", "main", graph.ListOptions{Delimiter: "/", Amount: 1}, []string{"a/", "ab", "c/"}},
		{"paged prefix", "main", graph.ListOptions{Prefix: "a/", Amount: 2}, []string{"a/0", "a/1", "a/2", "a/b/3"}},
		{"after", "main", graph.ListOptions{After: "a/2"}, []string{"a/b/3", "ab", "c/d/e"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.paths(t, repo, tc.ref, tc.opts); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRefsTagsAndLog(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	repo := e.repo(t, "refs")
	var commits []*graph.Commit
	for i := range 5 {
		e.put(t, repo, "main", fmt.Sprintf("f%d", i), "x")
		commits = append(commits, e.commit(t, repo, "main", fmt.Sprintf("c%d", i)))
	}
	if _, err := e.g.CreateBranch(e.ctx, repo, "feature", "main~2"); err != nil {
		t.Fatal(err)
	}
	e.put(t, repo, "feature", "feat", "x")
	feat := e.commit(t, repo, "feature", "feat")
	merge, err := e.g.Merge(e.ctx, repo, "feature", "main", graph.MergeParams{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.g.CreateTag(e.ctx, repo, "v1.0", store.Ref(commits[1].ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.g.CreateTag(e.ctx, repo, "v1.0", "main"); !errors.Is(err, store.ErrTagExists) {
		t.Fatalf("dup tag: %v", err)
	}
	cases := []struct {
		ref  string
		want store.CommitID
	}{
		{"main", merge.ID},
		{"main@", merge.ID},
		{"main^1", commits[4].ID},
		{"main^2", feat.ID},
		{"main~1", commits[4].ID},
		{"main~3", commits[2].ID},
		{"main^2~1", commits[2].ID},
		{"v1.0", commits[1].ID},
		{"v1.0~1", commits[0].ID},
		{string(commits[3].ID), commits[3].ID},
		{string(commits[3].ID[:12]), commits[3].ID},
		{"feature", feat.ID},
	}
	for _, tc := range cases {
		t.Run(tc.ref, func(t *testing.T) {
			r, err := e.g.ResolveRef(e.ctx, repo, store.Ref(tc.ref))
			if err != nil || r.CommitID != tc.want {
				t.Fatalf("resolve %s = %+v, %v; want %s", tc.ref, r, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"nope", "main~99", "main^3", "v2"} {
		if _, err := e.g.ResolveRef(e.ctx, repo, store.Ref(bad)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("resolve %s: %v, want not found", bad, err)
		}
	}
	// First-parent log: merge, c4..c0, initial.
	fp := logAll(t, e, repo, "main", graph.LogOptions{FirstParent: true, Amount: 2})
	if len(fp) != 7 || fp[0] != merge.ID || fp[1] != commits[4].ID || fp[5] != commits[0].ID {
		t.Fatalf("first-parent log: %v", fp)
	}
	full := logAll(t, e, repo, "main", graph.LogOptions{Amount: 3})
	if len(full) != 8 || !slices.Contains(full, feat.ID) || full[0] != merge.ID {
		t.Fatalf("full log: %v", full)
	}
	seen := map[store.CommitID]bool{}
	for _, id := range full {
		if seen[id] {
			t.Fatalf("commit %s twice in log", id)
		}
		seen[id] = true
	}
	tags, _, err := e.g.ListTags(e.ctx, repo, "", 0)
	if err != nil || len(tags) != 1 || tags[0].ID != "v1.0" {
		t.Fatalf("tags: %v %v", tags, err)
	}
	if err := e.g.DeleteTag(e.ctx, repo, "v1.0"); err != nil {
		t.Fatal(err)
	}
	if err := e.g.DeleteBranch(e.ctx, repo, "main"); !errors.Is(err, store.ErrDeleteDefault) {
		t.Fatalf("delete default: %v", err)
	}
	if err := e.g.HardResetBranch(e.ctx, repo, "feature", store.Ref(commits[0].ID)); err != nil {
		t.Fatal(err)
	}
	if b, _ := e.g.GetBranch(e.ctx, repo, "feature"); b.CommitID != commits[0].ID {
		t.Fatalf("hard reset: %v", b)
	}
	if err := e.g.DeleteBranch(e.ctx, repo, "feature"); err != nil {
		t.Fatal(err)
	}
	branches, _, err := e.g.ListBranches(e.ctx, repo, "", 0)
	if err != nil || len(branches) != 1 || branches[0].ID != "main" {
		t.Fatalf("branches: %v %v", branches, err)
	}
}

func logAll(t *testing.T, e *env, repo store.RepoID, ref string, opts graph.LogOptions) []store.CommitID {
	t.Helper()
	var out []store.CommitID
	for {
		page, more, err := e.g.Log(e.ctx, repo, store.Ref(ref), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			out = append(out, c.ID)
		}
		if !more {
			return out
		}
		opts.After = page[len(page)-1].ID
	}
}

func TestMergeStrategiesAndRevert(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		repo := e.repo(t, "merging")
		e.put(t, repo, "main", "shared", "base")
		e.put(t, repo, "main", "keep", "base")
		e.commit(t, repo, "main", "base")
		for _, b := range []string{"dev", "dev2", "dev3"} {
			if _, err := e.g.CreateBranch(e.ctx, repo, store.BranchID(b), "main"); err != nil {
				t.Fatal(err)
			}
		}
		e.put(t, repo, "dev", "shared", "dev")
		e.put(t, repo, "dev", "new-on-dev", "dev")
		e.commit(t, repo, "dev", "dev change")
		e.put(t, repo, "main", "shared", "main")
		e.commit(t, repo, "main", "main change")

		_, err := e.g.Merge(e.ctx, repo, "dev", "main", graph.MergeParams{})
		if !errors.Is(err, store.ErrMergeConflict) {
			t.Fatalf("conflicting merge: %v", err)
		}
		// Dirty destination.
		e.put(t, repo, "dev2", "dirty", "x")
		if _, err := e.g.Merge(e.ctx, repo, "main", "dev2", graph.MergeParams{}); !errors.Is(err, store.ErrDirtyBranch) {
			t.Fatalf("merge into dirty: %v", err)
		}
		if err := e.g.ResetBranch(e.ctx, repo, "dev2"); err != nil {
			t.Fatal(err)
		}
		m, err := e.g.Merge(e.ctx, repo, "dev", "main", graph.MergeParams{Strategy: tree.MergeStrategySourceWins})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.read(t, repo, "main", "shared"); got != "dev" {
			t.Fatalf("source-wins shared = %q", got)
		}
		if got := e.read(t, repo, "main", "new-on-dev"); got != "dev" {
			t.Fatalf("merged new file = %q", got)
		}
		if len(m.Parents) != 2 || m.Parents[1] == "" {
			t.Fatalf("merge parents %v", m.Parents)
		}
		if _, err := e.g.Merge(e.ctx, repo, "dev", "main", graph.MergeParams{}); !errors.Is(err, store.ErrNoChanges) {
			t.Fatalf("re-merge: %v", err)
		}
		// dest-wins.
		e.put(t, repo, "dev3", "shared", "dev3")
		e.commit(t, repo, "dev3", "dev3 change")
		if _, err := e.g.Merge(e.ctx, repo, "dev3", "main", graph.MergeParams{Strategy: tree.MergeStrategyDestWins}); err != nil {
			t.Fatal(err)
		}
		if got := e.read(t, repo, "main", "shared"); got != "dev" {
			t.Fatalf("dest-wins shared = %q", got)
		}
		// Revert the merge against its first parent: dev's changes go away.
		if _, err := e.g.Revert(e.ctx, repo, "main", store.Ref(m.ID), 0, graph.CommitParams{}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("revert merge without parent number: %v", err)
		}
		if _, err := e.g.Revert(e.ctx, repo, "main", store.Ref(m.ID), 1, graph.CommitParams{Committer: "t"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.g.StatObject(e.ctx, repo, "main", "new-on-dev"); !errors.Is(err, store.ErrObjectNotFound) {
			t.Fatalf("after revert: %v", err)
		}
		if got := e.read(t, repo, "main", "shared"); got != "main" {
			t.Fatalf("after revert shared = %q", got)
		}
	})
}

// TestConcurrentCommits has 32 goroutines stage an object and commit to one
// branch at once: every commit lands in the log exactly once and no staged
// object is lost.
func TestConcurrentCommits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		repo := e.repo(t, "race")
		const n = 32
		ids := make([]store.CommitID, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				path := fmt.Sprintf("obj-%02d", i)
				if _, err := e.g.WriteObject(e.ctx, repo, "main", path, strings.NewReader(path), int64(len(path)), graph.WriteOptions{}); err != nil {
					errs[i] = err
					return
				}
				c, err := e.g.Commit(e.ctx, repo, "main", graph.CommitParams{Message: path, AllowEmpty: true})
				if err != nil {
					errs[i] = err
					return
				}
				ids[i] = c.ID
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("goroutine %d: %v", i, err)
			}
		}
		log := logAll(t, e, repo, "main", graph.LogOptions{FirstParent: true})
		if len(log) != n+1 {
			t.Fatalf("log has %d commits, want %d", len(log), n+1)
		}
		count := map[store.CommitID]int{}
		for _, id := range log {
			count[id]++
		}
		for i, id := range ids {
			if count[id] != 1 {
				t.Fatalf("commit of goroutine %d appears %d times in the log", i, count[id])
			}
		}
		got := e.paths(t, repo, "main@", graph.ListOptions{})
		if len(got) != n {
			t.Fatalf("head has %d objects, want %d: %v", len(got), n, got)
		}
		for _, p := range got {
			if e.read(t, repo, "main@", p) != p {
				t.Fatalf("object %s has wrong content", p)
			}
		}
	})
}

func TestMergeBase(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	repo := e.repo(t, "bases")
	e.put(t, repo, "main", "a", "1")
	fork := e.commit(t, repo, "main", "fork point")
	if _, err := e.g.CreateBranch(e.ctx, repo, "dev", "main"); err != nil {
		t.Fatal(err)
	}
	e.put(t, repo, "main", "b", "2")
	e.commit(t, repo, "main", "main moves on")
	e.put(t, repo, "dev", "c", "3")
	e.commit(t, repo, "dev", "dev moves on")
	base, err := e.g.MergeBase(e.ctx, repo, "main", "dev")
	if err != nil || base.ID != fork.ID {
		t.Fatalf("merge base = %v, %v; want %s", base, err, fork.ID)
	}
	// Three-dot diff: what dev changed since the fork, not main's own change.
	d, _, err := e.g.Diff(e.ctx, repo, store.Ref(base.ID), "dev", graph.ListOptions{})
	if err != nil || len(d) != 1 || d[0].Path != "c" {
		t.Fatalf("three-dot diff = %+v, %v", d, err)
	}
	if _, err := e.g.MergeBase(e.ctx, repo, "main", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing ref: %v", err)
	}
}
