package workers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/kv/redis"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
	"github.com/lakeq/lakeq/workers"
)

// One redis-server for the package, started on first use; every test gets
// its own key prefix on it.
var (
	redisOnce sync.Once
	redisSrv  *redistest.Server
	redisErr  error
	redisDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if redisSrv != nil {
		if err := redisSrv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	if redisDir != "" {
		_ = os.RemoveAll(redisDir)
	}
	os.Exit(code)
}

// redisServer returns the package's redis-server, skipping t when there is
// no binary (failing it under CI=true).
func redisServer(t *testing.T) *redistest.Server {
	t.Helper()
	redisOnce.Do(func() {
		if _, err := redistest.Binary(); err != nil {
			redisErr = err
			return
		}
		redisDir, redisErr = os.MkdirTemp("", "lakeq-workers-redis-")
		if redisErr != nil {
			return
		}
		redisSrv, redisErr = redistest.Launch(redistest.Options{Dir: redisDir})
	})
	if redisErr != nil {
		if errors.Is(redisErr, redistest.ErrNoBinary) && os.Getenv("CI") != "true" {
			t.Skip(redisErr)
		}
		t.Fatal(redisErr)
	}
	return redisSrv
}

// testWriter sends log lines to t.Log until the test's cleanup and drops
// later ones (connection callbacks run asynchronously).
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

// testLogger returns a logger writing to t's log. Registered first, its
// cleanup runs after every other one.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// clock is a settable clock for the job store.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// env is one test's world: an embedded NATS server, a KV and a job store
// over it.
type env struct {
	t     *testing.T
	log   *slog.Logger
	nats  *natsserver.Server
	kv    kv.Store
	jobs  *jobs.Store
	clock *clock
	// b is the test's own broker connection (submitting, reading events).
	b *broker.Broker
}

// backends are the KV implementations the runner's tests run against.
var backends = []struct {
	name string
	open func(t *testing.T) kv.Store
}{
	{"embedded", func(t *testing.T) kv.Store {
		t.Helper()
		s, err := bolt.Open(filepath.Join(t.TempDir(), "kv.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"redis", func(t *testing.T) kv.Store {
		t.Helper()
		srv := redisServer(t)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		s, err := redis.New(ctx, redis.Config{URL: srv.URL(), KeyPrefix: srv.NewKeyPrefix()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

// forEachBackend runs fn as a subtest per KV backend, each with a fresh
// NATS server.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			fn(t, newEnv(t, b.open(t)))
		})
	}
}

// newEnv starts a NATS server and builds the job store over s.
func newEnv(t *testing.T, s kv.Store) *env {
	t.Helper()
	log := testLogger(t)
	srv, err := natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 20*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop nats: %v", err)
		}
	})
	clk := &clock{}
	e := &env{t: t, log: log, nats: srv, kv: s, jobs: jobs.NewStore(s, clk.Now), clock: clk}
	e.b = e.connect()
	return e
}

// brokerConfig is a broker configuration with short durations: a message
// whose worker died comes back after about a second.
func (e *env) brokerConfig() broker.Config {
	return broker.Config{
		URL:              e.nats.ClientURL(),
		AckWait:          time.Second,
		MaxDeliver:       3,
		Backoff:          []time.Duration{100 * time.Millisecond},
		ReconnectWait:    20 * time.Millisecond,
		ReconnectMaxWait: 200 * time.Millisecond,
		Logger:           e.log,
	}
}

// connect opens a broker connection, closed at cleanup.
func (e *env) connect() *broker.Broker {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 20*time.Second)
	defer cancel()
	b, err := broker.Connect(ctx, e.brokerConfig())
	if err != nil {
		e.t.Fatalf("connect to nats: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.t.Context()), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	return b
}

// runnerConfig is a runner configuration with short intervals.
func runnerConfig(id string) workers.Config {
	return workers.Config{
		WorkerID:            id,
		Concurrency:         4,
		ProgressInterval:    50 * time.Millisecond,
		CancelCheckInterval: 20 * time.Millisecond,
		FetchMaxWait:        200 * time.Millisecond,
		ExpireAfter:         -1,
	}
}

// runner is a started Runner with its own broker connection.
type runner struct {
	*workers.Runner
	b *broker.Broker
}

// startRunner starts a runner with its own broker connection and the given
// handlers, stopped at cleanup.
func (e *env) startRunner(cfg workers.Config, handlers ...workers.Handler) *runner {
	e.t.Helper()
	b := e.connect()
	r, err := workers.New(cfg, workers.Deps{Broker: b, Jobs: e.jobs, Logger: e.log})
	if err != nil {
		e.t.Fatalf("workers.New: %v", err)
	}
	for _, h := range handlers {
		if err := r.Register(h); err != nil {
			e.t.Fatalf("Register: %v", err)
		}
	}
	if err := r.Start(e.t.Context()); err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.t.Context()), 10*time.Second)
		defer cancel()
		if err := r.Stop(ctx); err != nil {
			e.t.Logf("stop runner: %v", err)
		}
	})
	return &runner{Runner: r, b: b}
}

// submit stores a job of kind with request and publishes its message, as
// the API does.
func (e *env) submit(kind jobs.Kind, request any) *jobs.Job {
	e.t.Helper()
	raw, err := json.Marshal(request)
	if err != nil {
		e.t.Fatal(err)
	}
	j, err := e.jobs.Create(e.t.Context(), &jobs.Job{ID: jobs.NewID(time.Now()), Kind: kind, Repo: "repo-a", Request: raw})
	if err != nil {
		e.t.Fatalf("create job: %v", err)
	}
	e.publish(j)
	return j
}

// publish publishes job j's message.
func (e *env) publish(j *jobs.Job) {
	e.t.Helper()
	if _, err := e.b.PublishJob(e.t.Context(), string(j.Kind), j.ID, jobs.EncodeMessage(j.ID)); err != nil {
		e.t.Fatalf("publish job: %v", err)
	}
}

// get returns job id.
func (e *env) get(id store.JobID) *jobs.Job {
	e.t.Helper()
	j, err := e.jobs.Get(e.t.Context(), id)
	if err != nil {
		e.t.Fatalf("get job: %v", err)
	}
	return j
}

// waitFor polls cond until it holds, failing the test after timeout.
func (e *env) waitFor(timeout time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDone waits until job id is in a terminal state and returns it.
func (e *env) waitDone(id store.JobID, timeout time.Duration) *jobs.Job {
	e.t.Helper()
	var j *jobs.Job
	e.waitFor(timeout, "job "+string(id)+" to finish", func() bool {
		j = e.get(id)
		return j.State.Terminal()
	})
	return j
}

// events reads the events of job id from the first one until a final one
// (or, with final false, until none arrives for quiet).
func (e *env) events(id store.JobID, untilFinal bool, quiet time.Duration) []jobs.Event {
	e.t.Helper()
	filter, err := broker.EventFilter("", "", id)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := e.b.SubscribeEvents(e.t.Context(), filter, broker.FromFirst())
	if err != nil {
		e.t.Fatal(err)
	}
	defer s.Stop()
	var out []jobs.Event
	for {
		ctx, cancel := context.WithTimeout(e.t.Context(), quiet)
		ev, err := s.Next(ctx)
		cancel()
		if err != nil {
			if untilFinal {
				e.t.Fatalf("events of job %s: %v (got %d: %v)", id, err, len(out), eventTypes(out))
			}
			return out
		}
		var je jobs.Event
		if err := json.Unmarshal(ev.Data, &je); err != nil {
			e.t.Fatalf("event %s is not JSON: %v", ev.Data, err)
		}
		out = append(out, je)
		if untilFinal && je.Type.Final() {
			return out
		}
	}
}

func eventTypes(evs []jobs.Event) []jobs.EventType {
	out := make([]jobs.EventType, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// countEvents counts the events of type typ.
func countEvents(evs []jobs.Event, typ jobs.EventType) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// streamMsgs returns how many messages stream holds.
func (e *env) streamMsgs(stream string) uint64 {
	e.t.Helper()
	st, err := e.b.JetStream().Stream(e.t.Context(), stream)
	if err != nil {
		e.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(e.t.Context())
	if err != nil {
		e.t.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State.Msgs
}

// jobHandler is a test handler that does not fan out.
type jobHandler struct {
	kind jobs.Kind
	run  func(ctx context.Context, rt *workers.Run) error
}

func (h *jobHandler) Kind() jobs.Kind                                { return h.kind }
func (h *jobHandler) Run(ctx context.Context, rt *workers.Run) error { return h.run(ctx, rt) }

// fanHandler is a test handler whose jobs fan out.
type fanHandler struct {
	jobHandler
	runTask  func(ctx context.Context, rt *workers.Run, task workers.Task) error
	finalize func(ctx context.Context, rt *workers.Run) error
}

func (h *fanHandler) RunTask(ctx context.Context, rt *workers.Run, task workers.Task) error {
	return h.runTask(ctx, rt, task)
}

func (h *fanHandler) Finalize(ctx context.Context, rt *workers.Run) error { return h.finalize(ctx, rt) }

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// natsMsg returns a message for subject with data and an empty header.
func natsMsg(t *testing.T, subject string, data []byte) *nats.Msg {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	return m
}
