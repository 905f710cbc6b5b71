package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/redis"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers"
	"github.com/lakeq/lakeq/workers/importer"
)

// The test binary doubles as a worker process for the tests that kill
// workers: with childEnv set, TestMain runs a worker instead of the tests.
const (
	childEnv         = "LAKEQ_IMPORTER_TEST_CHILD"
	childNATS        = "LAKEQ_IMPORTER_TEST_NATS"
	childRedis       = "LAKEQ_IMPORTER_TEST_REDIS"
	childRedisPrefix = "LAKEQ_IMPORTER_TEST_REDIS_PREFIX"
	childS3          = "LAKEQ_IMPORTER_TEST_S3"
	childS3Key       = "LAKEQ_IMPORTER_TEST_S3_KEY"
	childS3Secret    = "LAKEQ_IMPORTER_TEST_S3_SECRET"
	childWorkerID    = "LAKEQ_IMPORTER_TEST_WORKER_ID"
	childListDelay   = "LAKEQ_IMPORTER_TEST_LIST_DELAY"
	childPageSize    = "LAKEQ_IMPORTER_TEST_PAGE_SIZE"
	childDir         = "LAKEQ_IMPORTER_TEST_DIR"
)

// One redis-server and one MinIO for the package, started on first use;
// each test has its own key prefix and buckets.
var (
	serversMu sync.Mutex
	redisSrv  *redistest.Server
	minioSrv  *miniotest.Server
	tempDirs  []string
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	code := m.Run()
	if redisSrv != nil {
		_ = redisSrv.Stop()
	}
	if minioSrv != nil {
		_ = minioSrv.Stop()
	}
	for _, d := range tempDirs {
		_ = os.RemoveAll(d)
	}
	os.Exit(code)
}

// servers returns the package's Redis and MinIO, skipping t when a binary
// is missing (failing it under CI=true).
func servers(t *testing.T) (*redistest.Server, *miniotest.Server) {
	t.Helper()
	serversMu.Lock()
	defer serversMu.Unlock()
	skip := func(err error) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if _, err := redistest.Binary(); err != nil {
		skip(err)
	}
	if _, err := miniotest.Binary(); err != nil {
		skip(err)
	}
	if redisSrv == nil {
		dir, err := os.MkdirTemp("", "lakeq-importer-redis-")
		if err != nil {
			t.Fatal(err)
		}
		tempDirs = append(tempDirs, dir)
		if redisSrv, err = redistest.Launch(redistest.Options{Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	if minioSrv == nil {
		dir, err := os.MkdirTemp("", "lakeq-importer-minio-")
		if err != nil {
			t.Fatal(err)
		}
		tempDirs = append(tempDirs, dir)
		if minioSrv, err = miniotest.Launch(dir); err != nil {
			t.Fatal(err)
		}
	}
	return redisSrv, minioSrv
}

// env is one test's world: a fresh NATS server, a key prefix on the shared
// Redis, buckets on the shared MinIO, and the stores over them.
type env struct {
	t       *testing.T
	log     *slog.Logger
	nats    *natsserver.Server
	redis   *redistest.Server
	prefix  string
	minio   *miniotest.Server
	s3      *s3.Store
	kv      kv.Store
	jobs    *jobs.Store
	graph   *graph.Graph
	blocks  *block.Resolver
	b       *broker.Broker
	repo    store.RepoID
	nsBkt   string
	srcBkt  string
	counter int
}

// newEnv builds a test's world and a repository "repo" (namespace
// s3://<ns bucket>/repo/) with an empty source bucket.
func newEnv(t *testing.T) *env {
	t.Helper()
	rs, ms := servers(t)
	e := &env{t: t, log: testLogger(t), redis: rs, minio: ms, prefix: rs.NewKeyPrefix(), repo: "repo"}
	var err error
	e.nats, err = natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := e.nats.Start(ctx); err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = e.nats.Stop(ctx)
	})
	e.kv = e.openKV()
	e.jobs = jobs.NewStore(e.kv, nil)
	e.s3 = ms.NewStore(t)
	e.blocks, err = block.NewResolver(block.ResolverConfig{S3: e.s3})
	if err != nil {
		t.Fatal(err)
	}
	trees, err := tree.NewManager(tree.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e.graph = graph.New(e.kv, trees, e.blocks, graph.Config{Logger: e.log})
	e.b = e.connect()
	id := strings.ToLower(strings.Trim(strings.ReplaceAll(e.prefix, ":", "-"), "-"))
	e.nsBkt, e.srcBkt = "ns-"+id, "src-"+id
	ms.MakeBucket(t, e.nsBkt)
	ms.MakeBucket(t, e.srcBkt)
	if _, err := e.graph.CreateRepository(ctx, e.repo, "s3://"+e.nsBkt+"/repo/", "main"); err != nil {
		t.Fatalf("create repository: %v", err)
	}
	return e
}

// openKV opens a connection to the test's key prefix on Redis.
func (e *env) openKV() kv.Store {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	s, err := redis.New(ctx, redis.Config{URL: e.redis.URL(), KeyPrefix: e.prefix})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = s.Close() })
	return s
}

// brokerConfig has short durations: a message whose worker died comes back
// within a few seconds.
func brokerConfig(url string, log *slog.Logger) broker.Config {
	return broker.Config{
		URL:              url,
		AckWait:          2 * time.Second,
		MaxDeliver:       10,
		Backoff:          []time.Duration{200 * time.Millisecond},
		ReconnectWait:    20 * time.Millisecond,
		ReconnectMaxWait: 200 * time.Millisecond,
		Logger:           log,
	}
}

func (e *env) connect() *broker.Broker {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 20*time.Second)
	defer cancel()
	b, err := broker.Connect(ctx, brokerConfig(e.nats.ClientURL(), e.log))
	if err != nil {
		e.t.Fatalf("connect to nats: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	return b
}

// runnerConfig has short intervals.
func runnerConfig(id string) workers.Config {
	return workers.Config{
		WorkerID:            id,
		Concurrency:         2,
		TaskConcurrency:     4,
		ProgressInterval:    100 * time.Millisecond,
		CancelCheckInterval: 50 * time.Millisecond,
		FetchMaxWait:        200 * time.Millisecond,
		ExpireAfter:         -1,
	}
}

// startRunner starts an in-process worker serving imports with cfg, its
// sources seen through wrap (nil: as they are). It stops at cleanup.
func (e *env) startRunner(cfg importer.Config, wrap func(block.Store) block.Store) {
	e.t.Helper()
	b := e.connect()
	r, err := workers.New(runnerConfig("in-process"), workers.Deps{Broker: b, Jobs: e.jobs, Graph: e.graph, Logger: e.log})
	if err != nil {
		e.t.Fatal(err)
	}
	var sources importer.Resolver = e.blocks
	if wrap != nil {
		sources = wrapResolver{r: e.blocks, wrap: wrap}
	}
	cfg.TempDir = e.t.TempDir()
	h, err := importer.New(cfg, importer.Deps{Graph: e.graph, KV: e.kv, Sources: sources})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := r.Register(h); err != nil {
		e.t.Fatal(err)
	}
	if err := r.Start(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
}

// wrapResolver resolves through r and wraps the store it finds.
type wrapResolver struct {
	r    *block.Resolver
	wrap func(block.Store) block.Store
}

func (w wrapResolver) Resolve(u block.URI) (block.Target, error) {
	t, err := w.r.Resolve(u)
	if err == nil {
		t.Store = w.wrap(t.Store)
	}
	return t, err
}

// slowLister delays every listing page, as a distant endpoint does.
type slowLister struct {
	block.Store
	delay time.Duration
}

func (s slowLister) List(ctx context.Context, bucket string, opts block.ListOptions) (block.ListPage, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return block.ListPage{}, ctx.Err()
	}
	return s.Store.List(ctx, bucket, opts)
}

// put writes small objects into the source bucket, their content being
// their key.
func (e *env) put(keys ...string) {
	e.t.Helper()
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := e.s3.Put(e.t.Context(), e.srcBkt, k, bytes.NewReader([]byte(k)), int64(len(k)), block.PutOptions{})
			if err != nil {
				mu.Lock()
				firstErr = errors.Join(firstErr, fmt.Errorf("put %q: %w", k, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		e.t.Fatal(firstErr)
	}
}

// submit stores an import job and publishes it, as the API does.
func (e *env) submit(req jobs.ImportRequest) store.JobID {
	e.t.Helper()
	if req.Branch == "" {
		req.Branch = "main"
	}
	if req.Commit.Message == "" {
		req.Commit.Message = "import"
	}
	if err := req.Validate(); err != nil {
		e.t.Fatalf("request: %v", err)
	}
	raw, err := json.Marshal(&req)
	if err != nil {
		e.t.Fatal(err)
	}
	j, err := e.jobs.Create(e.t.Context(), &jobs.Job{ID: jobs.NewID(time.Now()), Kind: jobs.KindImport, Repo: e.repo, Request: raw})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.b.PublishJob(e.t.Context(), string(jobs.KindImport), j.ID, jobs.EncodeMessage(j.ID)); err != nil {
		e.t.Fatal(err)
	}
	return j.ID
}

// prefixReq imports one prefix of the source bucket to dest.
func (e *env) prefixReq(prefix, dest string) jobs.ImportRequest {
	return jobs.ImportRequest{Paths: []jobs.ImportPath{{Type: jobs.ImportCommonPrefix, Path: "s3://" + e.srcBkt + "/" + prefix, Destination: dest}}}
}

// waitFor polls cond until it holds, failing the test after timeout.
func (e *env) waitFor(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// job returns job id.
func (e *env) job(id store.JobID) *jobs.Job {
	e.t.Helper()
	j, err := e.jobs.Get(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// waitDone waits until job id has ended and returns it.
func (e *env) waitDone(id store.JobID, timeout time.Duration) *jobs.Job {
	e.t.Helper()
	var j *jobs.Job
	e.waitFor(timeout, "job "+string(id)+" to end", func() bool {
		j = e.job(id)
		return j.State.Terminal()
	})
	return j
}

// waitCompleted waits for job id to complete and returns its result.
func (e *env) waitCompleted(id store.JobID, timeout time.Duration) jobs.ImportResult {
	e.t.Helper()
	j := e.waitDone(id, timeout)
	if j.State != jobs.StateCompleted {
		e.t.Fatalf("job %s is %s: %s", id, j.State, j.Error)
	}
	var res jobs.ImportResult
	if err := json.Unmarshal(j.Result, &res); err != nil {
		e.t.Fatal(err)
	}
	return res
}

// entries returns every committed entry of ref under prefix, by path.
func (e *env) entries(ref store.Ref, prefix string) map[string]store.Entry {
	e.t.Helper()
	out := map[string]store.Entry{}
	after := ""
	for {
		items, more, err := e.graph.ListObjects(e.t.Context(), e.repo, ref, graph.ListOptions{Prefix: prefix, After: after, Amount: 1000})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, it := range items {
			out[it.Path] = *it.Entry
			after = it.Path
		}
		if !more {
			return out
		}
	}
}

// log returns the branch's first-parent history, newest first.
func (e *env) history(branch store.BranchID) []*graph.Commit {
	e.t.Helper()
	cs, _, err := e.graph.Log(e.t.Context(), e.repo, store.Ref(branch), graph.LogOptions{FirstParent: true, Amount: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// commitsOf counts the commits of job id in the branch's history.
func (e *env) commitsOf(branch store.BranchID, id store.JobID) int {
	n := 0
	for _, c := range e.history(branch) {
		if c.Metadata[jobs.MetadataJobID] == string(id) {
			n++
		}
	}
	return n
}

// workingState counts the keys the import job id keeps in the KV while it
// runs (its plan and shard results).
func (e *env) workingState(id store.JobID) int {
	e.t.Helper()
	page, err := e.kv.Scan(e.t.Context(), jobs.WorkPartition(id), kv.ScanOptions{Prefix: "import/"})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(page)
}

// testLogger writes to t's log until the test ends.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// child is a worker process running this test binary.
type child struct {
	id   string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// startChild starts a worker process with id, whose listings wait delay
// per page of pageSize keys. It is killed at cleanup if still running.
func (e *env) startChild(id string, delay time.Duration, pageSize int) *child {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childEnv+"=1",
		childNATS+"="+e.nats.ClientURL(),
		childRedis+"="+e.redis.URL(),
		childRedisPrefix+"="+e.prefix,
		childS3+"="+e.minio.Endpoint,
		childS3Key+"="+e.minio.AccessKey,
		childS3Secret+"="+e.minio.SecretKey,
		childWorkerID+"="+id,
		childListDelay+"="+delay.String(),
		childPageSize+"="+strconv.Itoa(pageSize),
		childDir+"="+e.t.TempDir(),
	)
	c := &child{id: id, cmd: cmd, done: make(chan struct{}), log: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: c.log}, &lockedWriter{w: c.log}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-c.done
			}
		}
		if e.t.Failed() {
			e.t.Logf("worker %s output:\n%s", id, c.log.String())
		}
	})
	return c
}

// kill ends the worker process with SIGKILL and waits for it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// runChild is a worker process: it serves imports until SIGTERM.
func runChild() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fail := func(err error) int {
		log.Error("worker", "error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	delay, _ := time.ParseDuration(os.Getenv(childListDelay))
	pageSize, _ := strconv.Atoi(os.Getenv(childPageSize))
	kvs, err := redis.New(ctx, redis.Config{URL: os.Getenv(childRedis), KeyPrefix: os.Getenv(childRedisPrefix)})
	if err != nil {
		return fail(err)
	}
	defer kvs.Close()
	st, err := s3.New(s3.Config{Endpoint: os.Getenv(childS3), AccessKeyID: os.Getenv(childS3Key), SecretAccessKey: os.Getenv(childS3Secret), PathStyle: true})
	if err != nil {
		return fail(err)
	}
	blocks, err := block.NewResolver(block.ResolverConfig{S3: st})
	if err != nil {
		return fail(err)
	}
	trees, err := tree.NewManager(tree.Config{})
	if err != nil {
		return fail(err)
	}
	g := graph.New(kvs, trees, blocks, graph.Config{Logger: log})
	b, err := broker.Connect(ctx, brokerConfig(os.Getenv(childNATS), log))
	if err != nil {
		return fail(err)
	}
	defer b.Close(context.Background())
	id := os.Getenv(childWorkerID)
	r, err := workers.New(runnerConfig(id), workers.Deps{Broker: b, Jobs: jobs.NewStore(kvs, nil), Graph: g, Logger: log.With("worker", id)})
	if err != nil {
		return fail(err)
	}
	// The test removes the directory: a killed worker cannot.
	h, err := importer.New(importer.Config{PageSize: pageSize, TempDir: os.Getenv(childDir)},
		importer.Deps{Graph: g, KV: kvs, Sources: wrapResolver{r: blocks, wrap: func(s block.Store) block.Store { return slowLister{Store: s, delay: delay} }}})
	if err != nil {
		return fail(err)
	}
	if err := r.Register(h); err != nil {
		return fail(err)
	}
	if err := r.Start(ctx); err != nil {
		return fail(err)
	}
	log.Info("worker ready", "id", id)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.Stop(sctx); err != nil {
		return fail(err)
	}
	return 0
}

// keysOf returns the sorted keys of m.
func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var _ = filepath.Join
