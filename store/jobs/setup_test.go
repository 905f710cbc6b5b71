package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/kv/redis"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
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
		redisDir, redisErr = os.MkdirTemp("", "lakeq-jobs-redis-")
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

// clock is an injected clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// backends are the KV implementations every test runs against.
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

// forEachBackend runs fn as a subtest per KV backend, with a job store over
// a fresh KV and the clock it uses.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *jobs.Store, clk *clock)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			clk := newClock()
			fn(t, jobs.NewStore(b.open(t), clk.Now), clk)
		})
	}
}

// newJob returns an unsaved job of kind in repo with a fresh id.
func newJob(kind jobs.Kind, repo string) *jobs.Job {
	return &jobs.Job{
		ID:      jobs.NewID(time.Now()),
		Kind:    kind,
		Repo:    store.RepoID(repo),
		Request: []byte(`{"source":"s3://bucket/prefix/"}`),
	}
}

// mustCreate stores a new job and returns it.
func mustCreate(t *testing.T, s *jobs.Store, kind jobs.Kind, repo string) *jobs.Job {
	t.Helper()
	j, err := s.Create(t.Context(), newJob(kind, repo))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return j
}

// setState moves job id to state.
func setState(t *testing.T, s *jobs.Store, id store.JobID, state jobs.State) *jobs.Job {
	t.Helper()
	j, err := s.Update(t.Context(), id, func(j *jobs.Job) error {
		j.State = state
		return nil
	})
	if err != nil {
		t.Fatalf("Update to %s: %v", state, err)
	}
	return j
}
