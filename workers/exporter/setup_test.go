package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/kv/redis"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers"
)

// One MinIO and one redis-server for the package, started on first use;
// tests isolate themselves by bucket and key prefix.
var (
	minioOnce sync.Once
	minioSrv  *miniotest.Server
	minioErr  error
	redisOnce sync.Once
	redisSrv  *redistest.Server
	redisErr  error
	tempDirs  []string
	bucketSeq atomic.Int64
)

func TestMain(m *testing.M) {
	if os.Getenv(workerProcessEnv) != "" {
		os.Exit(runWorkerProcess())
	}
	code := m.Run()
	if minioSrv != nil {
		_ = minioSrv.Stop()
	}
	if redisSrv != nil {
		_ = redisSrv.Stop()
	}
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// skipOrFail skips t when a server binary is missing, or fails it under
// CI=true.
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "true" && (errors.Is(err, miniotest.ErrNoBinary) || errors.Is(err, redistest.ErrNoBinary)) {
		t.Skip(err)
	}
	t.Fatal(err)
}

func minioServer(t testing.TB) *miniotest.Server {
	t.Helper()
	minioOnce.Do(func() {
		var dir string
		if dir, minioErr = os.MkdirTemp("", "lakeq-export-minio-"); minioErr != nil {
			return
		}
		tempDirs = append(tempDirs, dir)
		minioSrv, minioErr = miniotest.Launch(dir)
	})
	if minioErr != nil {
		skipOrFail(t, minioErr)
	}
	return minioSrv
}

func redisServer(t testing.TB) *redistest.Server {
	t.Helper()
	redisOnce.Do(func() {
		var dir string
		if dir, redisErr = os.MkdirTemp("", "lakeq-export-redis-"); redisErr != nil {
			return
		}
		tempDirs = append(tempDirs, dir)
		redisSrv, redisErr = redistest.Launch(redistest.Options{Dir: dir})
	})
	if redisErr != nil {
		skipOrFail(t, redisErr)
	}
	return redisSrv
}

// testBrokerConfig is quick to redeliver: a dead worker's messages come
// back after about a second.
func testBrokerConfig(url string) broker.Config {
	return broker.Config{
		URL:        url,
		AckWait:    time.Second,
		Backoff:    []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond},
		MaxDeliver: 20,
	}
}

func testWorkersConfig(id string) workers.Config {
	return workers.Config{
		WorkerID:            id,
		Concurrency:         4,
		ProgressInterval:    100 * time.Millisecond,
		CancelCheckInterval: 100 * time.Millisecond,
		FetchMaxWait:        broker.MinFetchMaxWait,
		ExpireAfter:         -1,
	}
}

// env is lakeq's storage over real servers: MinIO, a KV (embedded or
// Redis), an embedded NATS server, and a runner or more with the export
// handler.
type env struct {
	ctx      context.Context
	minio    *miniotest.Server
	s3       *s3.Store
	local    *local.Store
	root     string // an allowed local root
	kv       kv.Store
	redisURL string
	prefix   string // Redis key prefix
	resolver *block.Resolver
	graph    *graph.Graph
	jobs     *jobs.Store
	nats     *natsserver.Server
	broker   *broker.Broker
	log      *slog.Logger
}

type envOptions struct {
	// redis selects the Redis KV (needed by worker processes); default
	// the embedded one.
	redis bool
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	e := &env{ctx: context.Background(), minio: minioServer(t)}
	e.s3 = e.minio.NewStore(t)
	var err error
	if e.local, err = local.New(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	e.root = t.TempDir()
	if opts.redis {
		srv := redisServer(t)
		e.redisURL, e.prefix = srv.URL(), srv.NewKeyPrefix()
		e.kv, err = redis.New(e.ctx, redis.Config{URL: e.redisURL, KeyPrefix: e.prefix})
	} else {
		e.kv, err = bolt.Open(filepath.Join(t.TempDir(), "kv.db"), bolt.Options{NoSync: true})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.kv.Close() })
	e.resolver, e.graph = newGraph(t, e.kv, e.s3, e.local, e.root)
	e.jobs = jobs.NewStore(e.kv, nil)
	e.log = slog.New(slog.NewTextHandler(&testLog{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.nats, err = natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nats.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.nats.Stop(context.Background()) })
	cfg := testBrokerConfig(e.nats.ClientURL())
	cfg.Logger = e.log
	if e.broker, err = broker.Connect(e.ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.broker.Close(context.Background()) })
	return e
}

// newGraph returns the resolver and graph over the given stores, with
// small ranges so that a few hundred objects make several spans.
func newGraph(t testing.TB, kvs kv.Store, s3s, ls block.Store, root string) (*block.Resolver, *graph.Graph) {
	t.Helper()
	res, err := block.NewResolver(block.ResolverConfig{
		S3: s3s, Local: ls, AllowedRoots: []string{root},
		OpenLocal: func(dir string) (block.Store, error) { return local.New(dir) },
	})
	if err != nil {
		t.Fatal(err)
	}
	trees, err := tree.NewManager(tree.Config{TargetEntries: 32})
	if err != nil {
		t.Fatal(err)
	}
	return res, graph.New(kvs, trees, res, graph.Config{})
}

type testLog struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// worker is a runner with an export handler.
type worker struct {
	h *Handler
	r *workers.Runner
}

// startWorker starts a runner serving exports with a handler configured
// by cfg (edit, when set, adjusts the handler before it starts).
func (e *env) startWorker(t *testing.T, name string, cfg Config, edit func(h *Handler)) *worker {
	t.Helper()
	h, err := New(cfg, Deps{Graph: e.graph, KV: e.kv})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(h)
	}
	r, err := workers.New(testWorkersConfig(name), workers.Deps{Broker: e.broker, Jobs: e.jobs, Graph: e.graph, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(h); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
	return &worker{h: h, r: r}
}

// bucket makes a fresh bucket and returns its name.
func (e *env) bucket(t testing.TB, what string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", what, bucketSeq.Add(1))
	e.minio.MakeBucket(t, name)
	return name
}

// repo creates a repository whose namespace is in a bucket of its own.
func (e *env) repo(t testing.TB, id string) store.RepoID {
	t.Helper()
	b := e.bucket(t, "ns")
	if _, err := e.graph.CreateRepository(e.ctx, store.RepoID(id), "s3://"+b+"/"+id+"/", "main"); err != nil {
		t.Fatal(err)
	}
	return store.RepoID(id)
}

// commit writes objects (path → content; "" deletes the path) to the
// repository's namespace in parallel and commits them to main in one
// commit.
func (e *env) commit(t testing.TB, repo store.RepoID, objects map[string]string) *graph.Commit {
	t.Helper()
	return e.commitOn(t, repo, "main", objects)
}

// commitOn is commit to branch.
func (e *env) commitOn(t testing.TB, repo store.RepoID, branch store.BranchID, objects map[string]string) *graph.Commit {
	t.Helper()
	ns, err := e.graph.Namespace(e.ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range objects {
			if !yield(p) {
				return
			}
		}
	})
	changes := make([]tree.Change, len(paths))
	g, ctx := errgroup.WithContext(e.ctx)
	g.SetLimit(16)
	for i, p := range paths {
		content := objects[p]
		if content == "" {
			changes[i] = tree.Change{Path: p}
			continue
		}
		g.Go(func() error {
			addr := graph.NewPhysicalAddress(time.Now())
			info, err := ns.Store.Put(ctx, ns.Bucket, ns.Prefix+addr, strings.NewReader(content), int64(len(content)), block.PutOptions{ContentType: "text/plain"})
			if err != nil {
				return err
			}
			changes[i] = tree.Change{Path: p, Entry: &store.Entry{Path: p, Address: addr, Size: info.Size, ETag: info.ETag,
				MTime: info.LastModified, ContentType: "text/plain"}}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return e.commitChangesOn(t, repo, branch, changes)
}

// commitChanges commits changes (in path order) to main.
func (e *env) commitChanges(t testing.TB, repo store.RepoID, changes []tree.Change) *graph.Commit {
	t.Helper()
	return e.commitChangesOn(t, repo, "main", changes)
}

func (e *env) commitChangesOn(t testing.TB, repo store.RepoID, branch store.BranchID, changes []tree.Change) *graph.Commit {
	t.Helper()
	c, err := e.graph.CommitTree(e.ctx, repo, branch, graph.CommitParams{Message: "test", Committer: "tester"}, false,
		func(ctx context.Context, ns tree.Namespace, head *graph.Commit) (tree.MetaRangeID, error) {
			return e.graph.Trees().Apply(ctx, ns, head.MetaRangeID, tree.SliceChanges(changes), nil)
		})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// submit stores and queues an export of repo, as the API does.
func (e *env) submit(t testing.TB, repo store.RepoID, req jobs.ExportRequest) store.JobID {
	t.Helper()
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	j, err := e.jobs.Create(e.ctx, &jobs.Job{ID: jobs.NewID(time.Now()), Kind: jobs.KindExport, Repo: repo, Request: raw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.broker.PublishJob(e.ctx, string(j.Kind), j.ID, jobs.EncodeMessage(j.ID)); err != nil {
		t.Fatal(err)
	}
	return j.ID
}

// wait waits until job id ends and returns it.
func (e *env) wait(t testing.TB, id store.JobID, timeout time.Duration) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j, err := e.jobs.Get(e.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State.Terminal() {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s: %+v", id, j.State, timeout, j.Progress)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// result decodes a completed export's result.
func result(t testing.TB, j *jobs.Job) jobs.ExportResult {
	t.Helper()
	if j.State != jobs.StateCompleted {
		t.Fatalf("job %s is %s: %s", j.ID, j.State, j.Error)
	}
	var res jobs.ExportResult
	if err := json.Unmarshal(j.Result, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// contents returns every object under prefix of bucket in st: key below
// the prefix → content.
func contents(t testing.TB, st block.Store, bucket, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	it := block.ListAll(context.Background(), st, bucket, block.ListOptions{Prefix: prefix})
	for it.Next() {
		key := it.Item().Key
		rc, _, err := st.Get(context.Background(), bucket, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, err = io.Copy(&b, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(key, prefix)] = b.String()
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// statusFiles removes the status files from objects and returns their
// names.
func statusFiles(objects map[string]string) []string {
	var names []string
	for k := range objects {
		if strings.HasPrefix(k, jobs.ExportStatusPrefix) {
			names = append(names, k)
			delete(objects, k)
		}
	}
	slices.Sort(names)
	return names
}

// equalObjects fails t unless got and want hold the same objects.
func equalObjects(t testing.TB, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("destination %q = %q (present %v), want %q", k, g, ok, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Fatalf("destination has %q, which it should not", k)
		}
	}
}
