package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv/redis"
	"github.com/lakeq/lakeq/workers"
)

// The test binary runs as an export worker process when workerProcessEnv
// is set; the other variables configure it.
const (
	workerProcessEnv = "LAKEQ_EXPORT_TEST_WORKER"
	envNATS          = "LAKEQ_EXPORT_TEST_NATS"
	envRedis         = "LAKEQ_EXPORT_TEST_REDIS"
	envRedisPrefix   = "LAKEQ_EXPORT_TEST_REDIS_PREFIX"
	envS3Endpoint    = "LAKEQ_EXPORT_TEST_S3"
	envS3Key         = "LAKEQ_EXPORT_TEST_S3_KEY"
	envS3Secret      = "LAKEQ_EXPORT_TEST_S3_SECRET"
	envCopyDelay     = "LAKEQ_EXPORT_TEST_COPY_DELAY"
	envDir           = "LAKEQ_EXPORT_TEST_DIR"
)

// runWorkerProcess serves exports until SIGTERM (or until it is killed).
func runWorkerProcess() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fail := func(err error) int {
		log.Error("worker process", "error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	kvs, err := redis.New(ctx, redis.Config{URL: os.Getenv(envRedis), KeyPrefix: os.Getenv(envRedisPrefix)})
	if err != nil {
		return fail(err)
	}
	defer kvs.Close()
	s3s, err := s3.New(s3.Config{Endpoint: os.Getenv(envS3Endpoint), AccessKeyID: os.Getenv(envS3Key),
		SecretAccessKey: os.Getenv(envS3Secret), PathStyle: true})
	if err != nil {
		return fail(err)
	}
	// The test removes dir: a killed process cannot.
	dir := os.Getenv(envDir)
	ls, err := local.New(dir)
	if err != nil {
		return fail(err)
	}
	_, g := newGraph(&processTB{log: log}, kvs, s3s, ls, dir)
	h, err := New(Config{}, Deps{Graph: g, KV: kvs})
	if err != nil {
		return fail(err)
	}
	if d, err := time.ParseDuration(os.Getenv(envCopyDelay)); err == nil && d > 0 {
		h.afterCopy = func(string) { time.Sleep(d) }
	}
	cfg := testBrokerConfig(os.Getenv(envNATS))
	cfg.Logger = log
	brk, err := broker.Connect(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	defer brk.Close(context.Background())
	r, err := workers.New(testWorkersConfig(fmt.Sprintf("proc-%d", os.Getpid())), workers.Deps{
		Broker: brk, Jobs: jobs.NewStore(kvs, nil), Graph: g, Logger: log})
	if err != nil {
		return fail(err)
	}
	if err := r.Register(h); err != nil {
		return fail(err)
	}
	if err := r.Start(ctx); err != nil {
		return fail(err)
	}
	fmt.Println("ready")
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Stop(sctx); err != nil {
		return fail(err)
	}
	return 0
}

// processTB lets newGraph run outside a test: it has no test to fail, so
// it panics.
type processTB struct {
	testing.TB
	log *slog.Logger
}

func (p *processTB) Helper() {}
func (p *processTB) Fatal(args ...any) {
	panic(fmt.Sprint(args...))
}

// process is a worker process started by a test.
type process struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProcess starts an export worker process over e's servers and
// waits until it serves; it is killed at the end of the test.
func (e *env) startProcess(t *testing.T, copyDelay time.Duration) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		workerProcessEnv+"=1",
		envNATS+"="+e.nats.ClientURL(),
		envRedis+"="+e.redisURL,
		envRedisPrefix+"="+e.prefix,
		envS3Endpoint+"="+e.minio.Endpoint,
		envS3Key+"="+e.minio.AccessKey,
		envS3Secret+"="+e.minio.SecretKey,
		envCopyDelay+"="+copyDelay.String(),
		envDir+"="+t.TempDir(),
	)
	p := &process{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("worker process %d output:\n%s", cmd.Process.Pid, p.out.String())
		}
	})
	deadline := time.After(30 * time.Second)
	for !strings.Contains(p.out.String(), "ready") {
		select {
		case <-p.done:
			t.Fatalf("worker process exited before serving:\n%s", p.out.String())
		case <-deadline:
			t.Fatalf("worker process not ready after 30s:\n%s", p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return p
}

// kill ends the process at once (SIGKILL) and waits for it.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *process) pid() string { return strconv.Itoa(p.cmd.Process.Pid) }
