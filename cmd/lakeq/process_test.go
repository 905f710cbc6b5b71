package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lakeq/lakeq/broker/natsserver"
)

// binDir holds the lakeq binaries the tests build once: `lakeq` for the
// CLI, and `lakeq-race` (built with the race detector when the tests run
// under it) for the servers they start. The CLI is built without it because
// a race-enabled binary takes about a second to start, and the walk-throughs
// start it dozens of times.
var (
	binDir string
	builds sync.Map // binary name → *build
)

type build struct {
	once sync.Once
	err  error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lakeq-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds this package into binDir/name once, with extra go
// build flags, and returns the binary's path.
func buildBinary(t *testing.T, name string, flags ...string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(name, &build{})
	b := v.(*build)
	path := filepath.Join(binDir, name)
	b.once.Do(func() {
		args := append([]string{"build", "-o", path}, flags...)
		cmd := exec.Command("go", append(args, ".")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return path
}

// lakeqBinary builds the CLI and returns the directory holding `lakeq`.
func lakeqBinary(t *testing.T) string {
	t.Helper()
	return filepath.Dir(buildBinary(t, "lakeq"))
}

// serverBinary returns the binary to start servers with: built with the
// race detector when the tests run under it, so that a race in a server
// process fails the test too.
func serverBinary(t *testing.T) string {
	t.Helper()
	if raceEnabled {
		return buildBinary(t, "lakeq-race", "-race")
	}
	return buildBinary(t, "lakeq")
}

// testEnv is the environment of the processes a test starts: the test's
// own without any LAKEQ_ variable, with HOME in a fresh directory (no
// ~/.lakeq.yaml), the lakeq binary first on PATH, and extra appended.
func testEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix) || name == "HOME" || name == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"HOME="+t.TempDir(),
		"PATH="+lakeqBinary(t)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GORACE=halt_on_error=1",
	)
	return append(env, extra...)
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a lakeq server process a test started.
type server struct {
	cmd      *exec.Cmd
	stdout   *syncBuffer
	stderr   *syncBuffer
	exited   chan struct{}
	waitErr  error
	endpoint string // http://host:port, once ready
}

var bannerAPI = regexp.MustCompile(`API:\s+(http://\S+)/api/v1`)

// startServer starts argv (in its own process group) in dir with env,
// waits until it prints its API address and answers the health check, and
// registers a cleanup that kills the group if the test has not stopped it.
func startServer(t *testing.T, dir string, env []string, argv ...string) *server {
	t.Helper()
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Dir, s.cmd.Env = dir, env
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", argv, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
		if t.Failed() {
			t.Logf("%q stdout:\n%s\nstderr:\n%s", argv, s.stdout, s.stderr)
		}
	})

	deadline := time.Now().Add(3 * time.Minute) // `go run` may compile first
	for {
		if m := bannerAPI.FindStringSubmatch(s.stdout.String()); m != nil {
			s.endpoint = m[1]
			break
		}
		select {
		case <-s.exited:
			t.Fatalf("%q exited before it was ready: %v\nstdout:\n%s\nstderr:\n%s", argv, s.waitErr, s.stdout, s.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q printed no API address in time\nstdout:\n%s\nstderr:\n%s", argv, s.stdout, s.stderr)
		}
	}
	for {
		resp, err := http.Get(s.endpoint + "/api/v1/healthcheck")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: health check: %v", s.endpoint, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig to the server's process group and waits for the
// process to exit, for a minute at most; it returns how it exited.
func (s *server) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := syscall.Kill(-s.cmd.Process.Pid, sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		t.Fatalf("no exit within a minute of %v\nstderr:\n%s", sig, s.stderr)
	}
	if !strings.Contains(s.stderr.String(), "msg=stopped") {
		t.Fatalf("lakeq did not log a clean stop after %v\nstderr:\n%s", sig, s.stderr)
	}
	if strings.Contains(s.stderr.String(), "DATA RACE") {
		t.Fatalf("data race reported:\n%s", s.stderr)
	}
	return s.waitErr
}

// stop sends sig to the server's process group and waits for it to exit;
// it fails the test unless the exit is clean (status 0, stop logged)
// within a minute.
func (s *server) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := s.signal(t, sig); err != nil {
		t.Fatalf("exit after %v: %v\nstderr:\n%s", sig, err, s.stderr)
	}
}

// upCommand is `lakeq up` on a free port with its data in dataDir.
func upCommand(t *testing.T, dataDir string) []string {
	return []string{serverBinary(t), "up", "--data-dir", dataDir}
}

// freePortEnv makes a server pick free ports for the API and NATS.
var freePortEnv = []string{"LAKEQ_LISTEN=127.0.0.1:0", "LAKEQ_NATS_PORT=-1"}

// runLakeq runs the lakeq CLI with args and env, and returns its stdout;
// it fails the test when the command fails.
func runLakeq(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := runLakeqErr(t, env, args...)
	if err != nil {
		t.Fatalf("lakeq %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func runLakeqErr(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(lakeqBinary(t), "lakeq"), args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.Join(err, errors.New(stderr.String()))
	}
	return stdout.String(), nil
}

// startNATS starts an embedded NATS server with JetStream on a random
// port, stopped when the test ends.
func startNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	s, err := natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}
