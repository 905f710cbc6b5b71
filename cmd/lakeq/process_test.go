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
)

// binDir holds the lakeq binary the tests build once.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

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

// lakeqBinary builds cmd/lakeq (with the race detector when the tests run
// under it) and returns the directory holding the `lakeq` binary.
func lakeqBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		args := []string{"build", "-o", filepath.Join(binDir, "lakeq")}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, ".")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
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

// stop sends sig to the server's process group and waits for it to exit;
// it fails the test unless the exit is clean (status 0) within a minute.
func (s *server) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(-s.cmd.Process.Pid, sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		t.Fatalf("no exit within a minute of %v\nstderr:\n%s", sig, s.stderr)
	}
	if s.waitErr != nil {
		t.Fatalf("exit after %v: %v\nstderr:\n%s", sig, s.waitErr, s.stderr)
	}
	if strings.Contains(s.stderr.String(), "DATA RACE") {
		t.Fatalf("data race reported:\n%s", s.stderr)
	}
}

// upCommand is `lakeq up` on a free port with its data in dataDir.
func upCommand(t *testing.T, dataDir string) []string {
	return []string{filepath.Join(lakeqBinary(t), "lakeq"), "up", "--data-dir", dataDir}
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
