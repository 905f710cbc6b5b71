package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/kv/redis"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
	"github.com/lakeq/lakeq/store/tree"
)

// backend names one metadata KV implementation the graph tests run on.
type backend struct {
	name string
	open func(t testing.TB) kv.Store
}

var backends = []backend{
	{"embedded", func(t testing.TB) kv.Store {
		t.Helper()
		s, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"redis", func(t testing.TB) kv.Store {
		t.Helper()
		srv := redistest.Start(t)
		s, err := redis.New(context.Background(), redis.Config{URL: srv.URL(), KeyPrefix: srv.NewKeyPrefix()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

// forEachBackend runs fn once per KV implementation, as a subtest named
// after it.
func forEachBackend(t *testing.T, fn func(t *testing.T, env *env)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, newEnv(t, b.open(t))) })
	}
}

// env is a graph over a real KV and a local blockstore.
type env struct {
	g     *graph.Graph
	kv    kv.Store
	trees *tree.Manager
	ctx   context.Context
}

func newEnv(t testing.TB, kvs kv.Store) *env {
	t.Helper()
	return newEnvWith(t, kvs, tree.Config{})
}

func newEnvWith(t testing.TB, kvs kv.Store, tc tree.Config) *env {
	t.Helper()
	ls, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trees, err := tree.NewManager(tc)
	if err != nil {
		t.Fatal(err)
	}
	res, err := block.NewResolver(block.ResolverConfig{Local: ls})
	if err != nil {
		t.Fatal(err)
	}
	return &env{g: graph.New(kvs, trees, res, graph.Config{}), kv: kvs, trees: trees, ctx: context.Background()}
}

func (e *env) repo(t testing.TB, id string) store.RepoID {
	t.Helper()
	if _, err := e.g.CreateRepository(e.ctx, store.RepoID(id), "local://"+id, "main"); err != nil {
		t.Fatal(err)
	}
	return store.RepoID(id)
}

func (e *env) put(t testing.TB, repo store.RepoID, branch, path, content string) {
	t.Helper()
	if _, err := e.g.WriteObject(e.ctx, repo, store.BranchID(branch), path, strings.NewReader(content), int64(len(content)), graph.WriteOptions{}); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func (e *env) commit(t testing.TB, repo store.RepoID, branch, msg string) *graph.Commit {
	t.Helper()
	c, err := e.g.Commit(e.ctx, repo, store.BranchID(branch), graph.CommitParams{Message: msg, Committer: "tester"})
	if err != nil {
		t.Fatalf("commit %s: %v", msg, err)
	}
	return c
}

func (e *env) read(t testing.TB, repo store.RepoID, ref, path string) string {
	t.Helper()
	rc, _, err := e.g.ReadObject(e.ctx, repo, store.Ref(ref), path, nil)
	if err != nil {
		t.Fatalf("read %s@%s: %v", path, ref, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := io.Copy(&b, rc); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func (e *env) paths(t testing.TB, repo store.RepoID, ref string, opts graph.ListOptions) []string {
	t.Helper()
	var out []string
	for {
		items, more, err := e.g.ListObjects(e.ctx, repo, store.Ref(ref), opts)
		if err != nil {
			t.Fatalf("list %s: %v", ref, err)
		}
		for _, it := range items {
			out = append(out, it.Path)
		}
		if !more {
			return out
		}
		opts.After = items[len(items)-1].Path
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
