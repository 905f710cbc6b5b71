package redistest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lakeq/lakeq/store/kv/redis/redistest"
)

// alive reports whether a process with pid exists.
func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestStartStop(t *testing.T) {
	srv := redistest.Start(t)
	pid := srv.PID()
	if pid <= 0 || !alive(pid) {
		t.Fatalf("server pid %d not running", pid)
	}
	if !strings.HasPrefix(srv.Addr, "127.0.0.1:") || srv.URL() != "redis://"+srv.Addr+"/0" {
		t.Fatalf("Addr %q, URL %q", srv.Addr, srv.URL())
	}
	if err := srv.NewClient(t).Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if srv.PID() != 0 || alive(pid) {
		t.Fatalf("pid %d still running after Stop", pid)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestKeyPrefixesDiffer(t *testing.T) {
	srv := redistest.Start(t)
	a, b := srv.NewKeyPrefix(), srv.NewKeyPrefix()
	if a == b || strings.ContainsAny(a, "{}") {
		t.Fatalf("prefixes %q and %q", a, b)
	}
}

func TestRestartKeepsPortDirAndData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := redistest.StartWith(t, redistest.Options{AppendOnly: true, Dir: dir})
	client := srv.NewClient(t)
	if err := client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	addr, pid := srv.Addr, srv.PID()
	srv.Restart(t)
	if srv.Addr != addr || srv.Dir != dir || srv.PID() == pid || alive(pid) {
		t.Fatalf("after restart: addr %s (was %s), dir %s, pid %d (was %d)", srv.Addr, addr, srv.Dir, srv.PID(), pid)
	}
	if v, err := client.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after restart Get = %q, %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "redis.log")); err != nil {
		t.Fatalf("log: %v", err)
	}

	// A killed server comes back on the same port too.
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(ctx).Err(); err == nil {
		t.Fatal("Ping succeeded with the server killed")
	}
	srv.Restart(t)
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
}

func TestClusterRestart(t *testing.T) {
	ctx := context.Background()
	srv := redistest.StartWith(t, redistest.Options{Cluster: true, AppendOnly: true})
	client := srv.NewClient(t)
	if err := client.Set(ctx, "{tag}k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	if v, err := client.Get(ctx, "{tag}k").Result(); err != nil || v != "v" {
		t.Fatalf("after restart Get = %q, %v", v, err)
	}
}

func TestBinaryFromEnv(t *testing.T) {
	t.Setenv("LAKEQ_REDIS_BIN", filepath.Join(t.TempDir(), "no-such-redis-server"))
	if _, err := redistest.Binary(); !errors.Is(err, redistest.ErrNoBinary) {
		t.Fatalf("Binary with a missing LAKEQ_REDIS_BIN: %v, want ErrNoBinary", err)
	}
	if _, err := redistest.Launch(redistest.Options{Dir: t.TempDir()}); !errors.Is(err, redistest.ErrNoBinary) {
		t.Fatalf("Launch with a missing LAKEQ_REDIS_BIN: %v, want ErrNoBinary", err)
	}
}

func TestLaunchRequiresDir(t *testing.T) {
	if srv, err := redistest.Launch(redistest.Options{}); err == nil {
		_ = srv.Stop()
		t.Fatal("Launch without Dir succeeded")
	}
}
