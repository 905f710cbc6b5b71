// Package miniotest runs a real MinIO server for tests: `srv :=
// miniotest.Start(t)` starts one on free 127.0.0.1 ports with its data in a
// temporary directory and stops it when the test ends.
//
// The binary is $LAKEQ_MINIO_BIN, else `minio` on PATH, else
// $HOME/.cache/lakeq/bin/minio. Without one, Start skips the test, or fails
// it when CI=true.
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/block/s3"
)

// ErrNoBinary reports that no MinIO binary was found.
var ErrNoBinary = errors.New("minio binary not found (set LAKEQ_MINIO_BIN, put minio on PATH, or install it into ~/.cache/lakeq/bin: task deps)")

const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// Server is a running MinIO server.
type Server struct {
	// Endpoint is the S3 API address, host:port.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey string
	SecretKey string
	// Dir holds the server's data.
	Dir string

	cmd      *exec.Cmd
	log      *syncBuffer
	exited   chan struct{}
	exitErr  error
	stopOnce sync.Once
	stopErr  error
}

// Binary returns the path of the MinIO binary, or an error wrapping
// ErrNoBinary.
func Binary() (string, error) {
	if p := os.Getenv("LAKEQ_MINIO_BIN"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("LAKEQ_MINIO_BIN=%s is not an executable file: %w", p, ErrNoBinary)
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "lakeq", "bin", "minio")
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", ErrNoBinary
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Start starts a MinIO server for tb, with its data in tb.TempDir(), and
// stops it in tb.Cleanup. Without a binary it skips tb, or fails it when
// the environment variable CI is "true".
func Start(tb testing.TB) *Server {
	tb.Helper()
	if _, err := Binary(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("miniotest: %v", err)
		}
		tb.Skipf("miniotest: %v", err)
	}
	srv, err := Launch(tb.TempDir())
	if err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			tb.Errorf("miniotest: stop: %v", err)
		}
	})
	return srv
}

// Launch starts a MinIO server with its data in dir and waits until it is
// ready. The caller stops it with Stop.
func Launch(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	// A free port can be taken by someone else before MinIO binds it: retry.
	for attempt := 0; attempt < 3; attempt++ {
		srv, err := launch(bin, dir)
		if err == nil {
			return srv, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(bin, dir string) (*Server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 12)
	rand.Read(secret)
	srv := &Server{
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", ports[0]),
		AccessKey: "lakeqtest",
		SecretKey: hex.EncodeToString(secret),
		Dir:       dir,
		log:       &syncBuffer{},
		exited:    make(chan struct{}),
	}
	cmd := exec.Command(bin, "server", dir,
		"--address", srv.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+srv.AccessKey,
		"MINIO_ROOT_PASSWORD="+srv.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	cmd.Stdout, cmd.Stderr = srv.log, srv.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	srv.cmd = cmd
	go func() {
		srv.exitErr = cmd.Wait()
		close(srv.exited)
	}()
	if err := srv.waitReady(); err != nil {
		srv.Stop()
		return nil, err
	}
	return srv, nil
}

// waitReady polls the liveness endpoint until it answers 200.
func (s *Server) waitReady() error {
	url := "http://" + s.Endpoint + "/minio/health/live"
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("minio exited before it was ready (%v); output:\n%s", s.exitErr, s.log.String())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("minio not ready after %s; output:\n%s", readyTimeout, s.log.String())
}

// Stop terminates the server (SIGTERM, then SIGKILL after 10s) and waits
// for it to exit. Calling Stop again returns the first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = err
		}
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = fmt.Errorf("minio did not stop within %s of SIGTERM; killed", stopTimeout)
		}
	})
	return s.stopErr
}

// Config returns an s3.Config for the server, path-style over plain http.
func (s *Server) Config() s3.Config {
	return s3.Config{
		Endpoint:        s.Endpoint,
		AccessKeyID:     s.AccessKey,
		SecretAccessKey: s.SecretKey,
		PathStyle:       true,
	}
}

// NewStore returns an s3.Store for the server; edits, if any, adjust the
// configuration first.
func (s *Server) NewStore(tb testing.TB, edits ...func(*s3.Config)) *s3.Store {
	tb.Helper()
	cfg := s.Config()
	for _, edit := range edits {
		edit(&cfg)
	}
	st, err := s3.New(cfg)
	if err != nil {
		tb.Fatalf("miniotest: s3.New: %v", err)
	}
	return st
}

// MakeBucket creates bucket on the server or fails tb.
func (s *Server) MakeBucket(tb testing.TB, bucket string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.NewStore(tb).MakeBucket(ctx, bucket); err != nil {
		tb.Fatalf("miniotest: make bucket %q: %v", bucket, err)
	}
}

// Log returns what the server has printed so far.
func (s *Server) Log() string { return s.log.String() }

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// syncBuffer is a bytes.Buffer safe for the process's writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil // keep the start; enough to diagnose
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
