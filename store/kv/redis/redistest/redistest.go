// Package redistest starts real redis-server processes for lakeq's tests.
//
// A server binds 127.0.0.1 on a free port, keeps its files in a temporary
// directory and is stopped by the test's cleanup; only the process the
// helper started is ever signalled. Tests sharing one server isolate
// themselves with their own key prefix (NewKeyPrefix).
//
// The binary is $LAKEQ_REDIS_BIN, else redis-server on PATH, else
// /usr/bin/redis-server. When none exists, Start skips the test, except
// under CI=true, where it fails it.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// ErrNoBinary reports that no redis-server binary was found.
var ErrNoBinary = errors.New("redis-server binary not found")

// errPortInUse reports that the server could not bind its port.
var errPortInUse = errors.New("port already in use")

const (
	// startTimeout bounds the wait for a new server to answer PING.
	startTimeout = 15 * time.Second
	// stopTimeout bounds the wait after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
	// launchAttempts bounds the retries when a port turns out to be taken.
	launchAttempts = 5
)

// Options configure a test server. The zero value is a plain, non-persistent
// standalone server.
type Options struct {
	// AppendOnly turns on AOF persistence (appendfsync everysec), so that
	// data survives Restart. Default false: nothing is persisted.
	AppendOnly bool
	// Dir holds the server's data files and its log, redis.log. Default: a
	// new t.TempDir() (StartWith); Launch requires it.
	Dir string
	// Cluster starts the server in Redis Cluster mode as a one-node cluster
	// that owns all 16384 slots, so that commands touching keys of
	// different slots fail as they would on a real cluster. Default false.
	Cluster bool
	// Args are extra redis-server arguments, appended last. Default none.
	Args []string
}

// Server is a running redis-server process. Its methods are safe for
// concurrent use.
type Server struct {
	// Addr is the server's host:port; it stays the same across Restart.
	Addr string
	// Dir holds the server's files; it stays the same across Restart.
	Dir string

	bin  string
	opts Options
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited and been waited for
}

// Binary returns the redis-server binary to run: $LAKEQ_REDIS_BIN, else
// redis-server on PATH, else /usr/bin/redis-server. It returns an error
// wrapping ErrNoBinary when there is none.
func Binary() (string, error) {
	if bin := os.Getenv("LAKEQ_REDIS_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%w: LAKEQ_REDIS_BIN=%s: %w", ErrNoBinary, bin, err)
		}
		return bin, nil
	}
	if bin, err := exec.LookPath("redis-server"); err == nil {
		return bin, nil
	}
	const fallback = "/usr/bin/redis-server"
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", fmt.Errorf("%w: set LAKEQ_REDIS_BIN or install redis-server", ErrNoBinary)
}

// Start starts a plain server for tb and stops it in tb's cleanup. See
// StartWith.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Options{})
}

// StartWith starts a server configured by opts for tb, waits until it
// answers PING, and stops it in tb's cleanup. Without a binary it skips tb,
// or fails it when CI=true or when $LAKEQ_REDIS_BIN names a missing file.
func StartWith(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if _, err := Binary(); err != nil {
		if errors.Is(err, ErrNoBinary) && os.Getenv("LAKEQ_REDIS_BIN") == "" && os.Getenv("CI") != "true" {
			tb.Skip(err)
		}
		tb.Fatal(err)
	}
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	s, err := Launch(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("redistest: %v", err)
		}
	})
	return s
}

// Launch starts a server configured by opts, whose Dir must be set, and
// waits until it answers PING. The caller stops it with Stop; it is meant
// for TestMain, where there is no testing.TB.
func Launch(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("redistest: Options.Dir is required")
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: opts.Dir, bin: bin, opts: opts}
	var last error
	for range launchAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		last = s.launch(port)
		if last == nil {
			s.port = port
			s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return s, nil
		}
		if !errors.Is(last, errPortInUse) {
			break
		}
	}
	return nil, last
}

// URL returns the server's redis:// URL, database 0.
func (s *Server) URL() string {
	return "redis://" + s.Addr + "/0"
}

// PID returns the process id of the running server, or 0 when stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// NewKeyPrefix returns a fresh random key prefix ("lakeqtest:<hex>:") that
// isolates one test's keys from every other test sharing the server.
func (s *Server) NewKeyPrefix() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "lakeqtest:" + hex.EncodeToString(b) + ":"
}

// NewClient returns a client of the server, with ContextTimeoutEnabled,
// closed in tb's cleanup. For a Cluster server it is a cluster client.
func (s *Server) NewClient(tb testing.TB) goredis.UniversalClient {
	tb.Helper()
	c := goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:                 []string{s.Addr},
		IsClusterMode:         s.opts.Cluster,
		ContextTimeoutEnabled: true,
	})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop stops the server gracefully: SIGTERM (Redis then flushes its AOF),
// and SIGKILL if it has not exited within 10s. Stopping a stopped server is
// a no-op.
func (s *Server) Stop() error {
	return s.signal(syscall.SIGTERM)
}

// Kill stops the server abruptly with SIGKILL, as a crash would: writes not
// yet flushed to the AOF are lost. Killing a stopped server is a no-op.
func (s *Server) Kill() error {
	return s.signal(syscall.SIGKILL)
}

// Restart stops the server (if it runs) and starts it again on the same
// port and directory, then waits until it answers PING. With AppendOnly the
// data written before a Stop is back.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.Stop(); err != nil {
		tb.Fatal(err)
	}
	var err error
	deadline := time.Now().Add(startTimeout)
	for {
		err = s.launch(s.port)
		if !errors.Is(err, errPortInUse) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// signal sends sig to the running server and waits for it to exit,
// escalating to SIGKILL after stopTimeout.
func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pid := cmd.Process.Pid
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("redistest: signal pid %d: %w", pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("redistest: kill pid %d: %w", pid, err)
	}
	<-done
	return fmt.Errorf("redistest: pid %d ignored %v for %s and was killed", pid, sig, stopTimeout)
}

// launch starts the process on port and waits until it serves.
func (s *Server) launch(port int) error {
	args := []string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--daemonize", "no", "--dir", s.Dir, "--logfile", "",
	}
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.Cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	}
	args = append(args, s.opts.Args...)

	logPath := filepath.Join(s.Dir, "redis.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	logStart, _ := logFile.Seek(0, 2)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("redistest: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := s.waitReady(addr, done); err != nil {
		_ = s.Kill()
		out := readFrom(logPath, logStart)
		if strings.Contains(out, "Address already in use") {
			return fmt.Errorf("redistest: %s: %w", addr, errPortInUse)
		}
		return fmt.Errorf("redistest: redis-server on %s: %w\n%s", addr, err, out)
	}
	return nil
}

// waitReady polls addr until the server answers PING (and, in Cluster
// mode, owns every slot and reports cluster_state:ok), or the process exits.
func (s *Server) waitReady(addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c := goredis.NewClient(&goredis.Options{
		Addr: addr, DialTimeout: time.Second, MaxRetries: -1, PoolSize: 1,
		ContextTimeoutEnabled: true,
	})
	defer c.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	slotsAdded := false
	for {
		err := c.Ping(ctx).Err()
		if err == nil && s.opts.Cluster {
			err = clusterReady(ctx, c, &slotsAdded)
		}
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("process exited before serving")
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", startTimeout, err)
		case <-tick.C:
		}
	}
}

// clusterReady assigns all slots to the node once (unless its cluster
// config already has them) and reports nil when the cluster state is ok.
func clusterReady(ctx context.Context, c *goredis.Client, slotsAdded *bool) error {
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	if !*slotsAdded && !strings.Contains(info, "cluster_slots_assigned:16384") {
		if err := c.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
			return err
		}
	}
	*slotsAdded = true
	if !strings.Contains(info, "cluster_state:ok") {
		return errors.New("cluster state not ok yet")
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readFrom returns the content of path from offset on, for error reports.
func readFrom(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || offset > int64(len(b)) {
		return ""
	}
	return string(b[offset:])
}
