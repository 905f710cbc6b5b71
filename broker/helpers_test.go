package broker

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/store"
)

// testWriter sends log lines to t.Log until the test's cleanup, and drops
// the ones that come later (connection callbacks run asynchronously).
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

// startServer starts an embedded NATS server on a random port with its data
// in a temporary directory, stopped at cleanup.
func startServer(t *testing.T) *natsserver.Server {
	t.Helper()
	return startServerAt(t, natsserver.RandomPort, t.TempDir())
}

func startServerAt(t *testing.T, port int, dir string) *natsserver.Server {
	t.Helper()
	s, err := natsserver.New(natsserver.Config{Port: port, StoreDir: dir})
	if err != nil {
		t.Fatalf("natsserver.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("start nats server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 20*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop nats server: %v", err)
		}
	})
	return s
}

// testConfig is a Config with short durations for tests.
func testConfig(t *testing.T, url string) Config {
	t.Helper()
	return Config{
		URL:              url,
		AckWait:          time.Second,
		MaxDeliver:       3,
		Backoff:          []time.Duration{100 * time.Millisecond},
		ReconnectWait:    20 * time.Millisecond,
		ReconnectMaxWait: 200 * time.Millisecond,
		Logger:           testLogger(t),
	}
}

// connect connects a Broker, closed at cleanup.
func connect(t *testing.T, cfg Config) *Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Logf("close broker: %v", err)
		}
	})
	return b
}

// startConsumer builds and starts a Consumer, stopped at cleanup (a no-op
// if the test stopped it).
func startConsumer(t *testing.T, b *Broker, cfg ConsumerConfig) *Consumer {
	t.Helper()
	if cfg.FetchMaxWait == 0 {
		cfg.FetchMaxWait = 500 * time.Millisecond
	}
	c, err := b.NewConsumer(cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start consumer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop consumer: %v", err)
		}
	})
	return c
}

func newJobID() store.JobID { return store.JobID(ulid.Make().String()) }

// publishJobs publishes n jobs of kind with fresh ids, returning the ids in
// order.
func publishJobs(t *testing.T, b *Broker, kind string, n int) []store.JobID {
	t.Helper()
	ids := make([]store.JobID, n)
	for i := range ids {
		ids[i] = newJobID()
		if _, err := b.PublishJob(t.Context(), kind, ids[i], []byte(ids[i])); err != nil {
			t.Fatalf("PublishJob: %v", err)
		}
	}
	return ids
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamMsgs returns how many messages stream holds.
func streamMsgs(t *testing.T, b *Broker, stream string) uint64 {
	t.Helper()
	st, err := b.JetStream().Stream(t.Context(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State.Msgs
}

// record collects what handlers saw, safe for concurrent use.
type record struct {
	mu        sync.Mutex
	delivered map[string][]uint64 // msg id → NumDelivered of each delivery
	times     map[string][]time.Time
}

func newRecord() *record {
	return &record{delivered: map[string][]uint64{}, times: map[string][]time.Time{}}
}

func (r *record) saw(m *Msg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered[m.ID()] = append(r.delivered[m.ID()], m.NumDelivered())
	r.times[m.ID()] = append(r.times[m.ID()], time.Now())
}

func (r *record) deliveries(id string) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.delivered[id]...)
}

func (r *record) deliveryTimes(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times[id]...)
}

func (r *record) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, d := range r.delivered {
		n += len(d)
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }
