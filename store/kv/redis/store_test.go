package redis_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/kvtest"
	"github.com/lakeq/lakeq/store/kv/redis"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
)

// newStore connects a store with a fresh key prefix to srv.
func newStore(tb testing.TB, srv *redistest.Server, cluster bool) *redis.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := redis.New(ctx, redis.Config{URL: srv.URL(), Cluster: cluster, KeyPrefix: srv.NewKeyPrefix()})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	kvtest.Run(t, func(t *testing.T) kv.Store { return newStore(t, srv, false) })
}

// TestRedisClusterConformance runs the suite against a one-node Redis
// Cluster, which rejects any command or script whose keys span slots: it
// proves that every operation stays inside its partition's hash tag.
func TestRedisClusterConformance(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Options{Cluster: true})
	kvtest.Run(t, func(t *testing.T) kv.Store { return newStore(t, srv, true) })
}

func TestRedisKeyLayout(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartWith(t, redistest.Options{Cluster: true})
	client := srv.NewClient(t)
	prefix := srv.NewKeyPrefix()
	s, err := redis.NewFromClient(client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const partition = "repo}{x"
	if err := s.Set(ctx, partition, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, partition, "n", 1); err != nil {
		t.Fatal(err)
	}
	keys, err := client.Keys(ctx, prefix+"*").Result() // test inspection only
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	base := prefix + "{repo%7D%7Bx}:"
	want := []string{base + "c", base + "k", base + "v"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	slot, err := client.ClusterKeySlot(ctx, want[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	tagSlot, err := client.ClusterKeySlot(ctx, "repo%7D%7Bx").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range want {
		if got, err := client.ClusterKeySlot(ctx, k).Result(); err != nil || got != slot || got != tagSlot {
			t.Fatalf("key %q in slot %d (%v), want %d", k, got, err, tagSlot)
		}
	}
	if err := s.DropPartition(ctx, partition); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Exists(ctx, want...).Result(); err != nil || n != 0 {
		t.Fatalf("after DropPartition %d keys remain (%v)", n, err)
	}
}

func TestRedisPrefixesIsolated(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	a, b := newStore(t, srv, false), newStore(t, srv, false)
	defer a.Close()
	defer b.Close()
	if err := a.Set(ctx, "p", "k", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "p", "k"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("other prefix sees key: %v", err)
	}
	if err := b.DropPartition(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if v, err := a.Get(ctx, "p", "k"); err != nil || string(v) != "a" {
		t.Fatalf("after other prefix's drop: %q, %v", v, err)
	}
}

func TestRedisNewFromClientLeavesClientOpen(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	client := srv.NewClient(t)
	s, err := redis.NewFromClient(client, srv.NewKeyPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "p", "k", nil); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Set after Close: %v, want kv.ErrClosed", err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("client closed by Store.Close: %v", err)
	}
	if _, err := redis.NewFromClient(client, "bad{"); !errors.Is(err, redis.ErrInvalidConfig) {
		t.Fatalf("NewFromClient with brace prefix: %v", err)
	}
}

// TestRedisSurvivesRestart restarts an append-only server under a store:
// the data written before is back, and the store reconnects by itself.
func TestRedisSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartWith(t, redistest.Options{AppendOnly: true})
	s := newStore(t, srv, false)
	defer s.Close()
	if err := s.Set(ctx, "p", "k", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "p", "n", 9); err != nil {
		t.Fatal(err)
	}
	pid := srv.PID()
	srv.Restart(t)
	if srv.PID() == pid || srv.PID() == 0 {
		t.Fatalf("pid %d after restart, was %d", srv.PID(), pid)
	}
	if err := s.SetIf(ctx, "p", "k", []byte("after"), []byte("before")); err != nil {
		t.Fatalf("SetIf after restart: %v", err)
	}
	if n, err := s.Incr(ctx, "p", "n", 1); err != nil || n != 10 {
		t.Fatalf("counter after restart = %d, %v; want 10", n, err)
	}
}

func TestRedisServerDown(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := newStore(t, srv, false)
	defer s.Close()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.Get(cctx, "p", "k"); err == nil || errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get with server down: %v, want a connection error", err)
	}
	nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := redis.New(nctx, redis.Config{URL: srv.URL()}); err == nil {
		t.Fatal("New with server down succeeded")
	}
}

func TestRedisConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  redis.Config
		ok   bool
	}{
		{"Zero", redis.Config{}, true},
		{"URL", redis.Config{URL: "redis://user:pw@localhost:6380/3"}, true},
		{"TLS", redis.Config{URL: "rediss://localhost:6380/0"}, true},
		{"ClusterList", redis.Config{URL: "redis://a:7000, redis://b:7001"}, true},
		{"ClusterFlag", redis.Config{URL: "redis://a:7000", Cluster: true}, true},
		{"Timeouts", redis.Config{DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second}, true},
		{"BadScheme", redis.Config{URL: "http://localhost:6379"}, false},
		{"BadURL", redis.Config{URL: "redis://%zz"}, false},
		{"EmptyListEntry", redis.Config{URL: "redis://a:7000,,redis://b:7001"}, false},
		{"ClusterDB", redis.Config{URL: "redis://a:7000/1,redis://b:7001/1"}, false},
		{"BracePrefix", redis.Config{KeyPrefix: "app{"}, false},
		{"ClosingBracePrefix", redis.Config{KeyPrefix: "app}"}, false},
		{"NegativeTimeout", redis.Config{ReadTimeout: -time.Second}, false},
		{"NegativePool", redis.Config{PoolSize: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.ok && !errors.Is(err, redis.ErrInvalidConfig) {
				t.Fatalf("Validate: %v, want error wrapping ErrInvalidConfig", err)
			}
		})
	}
}

func TestRedisConfigErrorHidesPassword(t *testing.T) {
	err := redis.Config{URL: "redis://user:secret@localhost:6379/0?bogus=1"}.Validate()
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Validate: %v", err)
	}
}

func BenchmarkRedis(b *testing.B) {
	srv := redistest.Start(b)
	kvtest.Bench(b, func(b *testing.B) kv.Store { return newStore(b, srv, false) })
}

// TestRedisLeaseServerClock: a lease's expiry is the Redis server's time
// plus the lease, and leases hold and run out by that clock, whatever the
// clocks of the processes sharing it.
func TestRedisLeaseServerClock(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := newStore(t, srv, false)
	client := srv.NewClient(t)
	expiryOf := func(v []byte) time.Time {
		t.Helper()
		_, n, ok := strings.Cut(string(v), " ")
		ns, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil {
			t.Fatalf("lease %q: want \"<token> <unix nanoseconds>\"", v)
		}
		return time.Unix(0, ns)
	}

	v, err := s.Lease(ctx, "locks", "l", "first", 300*time.Millisecond)
	if err != nil || v == nil {
		t.Fatalf("Lease of a free key: %q, %v", v, err)
	}
	server, err := client.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if d := expiryOf(v).Sub(server); d <= 0 || d > 300*time.Millisecond {
		t.Fatalf("lease %q expires %v after the server's time, want within the 300ms lease", v, d)
	}
	if got, err := s.Lease(ctx, "locks", "l", "second", time.Minute); err != nil || got != nil {
		t.Fatalf("Lease of a held key: %q, %v; want nil", got, err)
	}
	if stored, err := s.Get(ctx, "locks", "l"); err != nil || string(stored) != string(v) {
		t.Fatalf("the key holds %q (%v), want the first lease %q", stored, err, v)
	}

	// A lease written by a process whose clock is an hour behind the
	// server's has run out, though that process would think it live for
	// an hour yet; one written an hour ahead holds.
	behind := "slow " + strconv.FormatInt(server.Add(-time.Hour+time.Minute).UnixNano(), 10)
	if err := s.Set(ctx, "locks", "l", []byte(behind)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Lease(ctx, "locks", "l", "third", time.Minute); err != nil || !strings.HasPrefix(string(got), "third ") {
		t.Fatalf("Lease over a lease run out by the server's clock: %q, %v", got, err)
	}
	ahead := "fast " + strconv.FormatInt(server.Add(time.Hour).UnixNano(), 10)
	if err := s.Set(ctx, "locks", "l", []byte(ahead)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Lease(ctx, "locks", "l", "fourth", time.Minute); err != nil || got != nil {
		t.Fatalf("Lease over a live lease: %q, %v; want nil", got, err)
	}
	// A value that is not a lease holds nothing.
	if err := s.Set(ctx, "locks", "l", []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Lease(ctx, "locks", "l", "fifth", time.Minute); err != nil || got == nil {
		t.Fatalf("Lease over a value that is not a lease: %q, %v", got, err)
	}
}
