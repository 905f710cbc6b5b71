package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
)

// startWorker starts `lakeq worker` with env (in its own process group)
// and waits until it is running; the test's cleanup kills it if the test
// has not stopped it.
func startWorker(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(serverBinary(t), append([]string{"worker"}, args...)...)
	s.cmd.Dir, s.cmd.Env = t.TempDir(), env
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
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
			t.Logf("worker stdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
		}
	})
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(s.stdout.String(), "lakeq worker") {
		select {
		case <-s.exited:
			t.Fatalf("worker exited before it was ready: %v\nstderr:\n%s", s.waitErr, s.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not ready within a minute\nstderr:\n%s", s.stderr)
		}
	}
	return s
}

// TestWorkerRole runs the production roles as processes — one `lakeq api`
// and two `lakeq worker`, configured through LAKEQ_ variables — against a
// real Redis, MinIO and NATS: imports from S3 run on the workers, a worker
// stopped with SIGTERM exits cleanly, and the other one keeps serving.
func TestWorkerRole(t *testing.T) {
	rds := redistest.Start(t)
	minio := miniotest.Start(t)
	minio.MakeBucket(t, "lakeq")
	minio.MakeBucket(t, "src")
	objects := minio.NewStore(t)
	for i := range 120 {
		key := fmt.Sprintf("data/p%02d/obj-%03d.csv", i%6, i)
		body := fmt.Sprintf("row %d\n", i)
		if _, err := objects.Put(context.Background(), "src", key, strings.NewReader(body), int64(len(body)), block.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	nats := startNATS(t)

	shared := []string{
		"LAKEQ_REDIS_URL=" + rds.URL(),
		"LAKEQ_REDIS_KEY_PREFIX=" + rds.NewKeyPrefix(),
		"LAKEQ_S3_ENDPOINT=" + minio.Endpoint,
		"LAKEQ_S3_ACCESS_KEY_ID=" + minio.AccessKey,
		"LAKEQ_S3_SECRET_ACCESS_KEY=" + minio.SecretKey,
		"LAKEQ_S3_PATH_STYLE=true",
		"LAKEQ_NATS_URL=" + nats.ClientURL(),
		"LAKEQ_ACCESS_KEY_ID=" + walkKeyID,
		"LAKEQ_SECRET_ACCESS_KEY=" + walkSecret,
	}
	api := startServer(t, t.TempDir(), testEnv(t, append(shared, "LAKEQ_LISTEN=127.0.0.1:0")...), serverBinary(t), "api")
	a := startWorker(t, testEnv(t, append(shared, "LAKEQ_WORKER_ID=worker-a", "LAKEQ_KINDS=import,export", "LAKEQ_CONCURRENCY=2")...))
	b := startWorker(t, testEnv(t, append(shared, "LAKEQ_WORKER_ID=worker-b")...), "--task-concurrency", "2")
	if out := a.stdout.String(); !strings.Contains(out, "Kinds:       export, import") {
		t.Fatalf("worker banner:\n%s", out)
	}
	if log := a.stderr.String(); strings.Contains(log, probeWarning) {
		t.Fatalf("worker warned of a running S3 endpoint:\n%s", log)
	}
	env := testEnv(t, "LAKEQ_ENDPOINT="+api.endpoint, "LAKEQ_ACCESS_KEY_ID="+walkKeyID, "LAKEQ_SECRET_ACCESS_KEY="+walkSecret)

	runLakeq(t, env, "repo", "create", "lakeq://on-workers", "s3://lakeq/on-workers/")
	importAndWatch := func(from, to string) (id string, workers map[string]bool) {
		t.Helper()
		out := runLakeq(t, env, "import", "--from", from, "--to", to)
		for _, f := range strings.Fields(out) {
			if len(f) == 26 && strings.ToLower(f) == f {
				id = f
			}
		}
		if id == "" {
			t.Fatalf("no job id in:\n%s", out)
		}
		workers = map[string]bool{}
		var last struct {
			Type   string          `json:"type"`
			Result json.RawMessage `json:"result"`
		}
		for _, line := range strings.Split(strings.TrimSpace(runLakeq(t, env, "jobs", "watch", id, "-o", "json")), "\n") {
			var ev struct {
				Type   string          `json:"type"`
				Worker string          `json:"worker"`
				Result json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("event %q: %v", line, err)
			}
			if ev.Worker != "" {
				workers[ev.Worker] = true
			}
			last.Type, last.Result = ev.Type, ev.Result
		}
		if last.Type != "completed" || !bytes.Contains(last.Result, []byte(`"ingested_objects":120`)) {
			t.Fatalf("import %s ended with %s %s", id, last.Type, last.Result)
		}
		return id, workers
	}
	_, seen := importAndWatch("s3://src/data/", "lakeq://on-workers/main/first/")
	for w := range seen {
		if w != "worker-a" && w != "worker-b" {
			t.Fatalf("event from an unknown worker %q", w)
		}
	}
	if len(seen) == 0 {
		t.Fatal("no event named its worker")
	}

	// SIGTERM: worker a stops fetching, drains and exits cleanly; b goes on.
	a.stop(t, syscall.SIGTERM)
	if !strings.Contains(a.stderr.String(), "workers stopped") {
		t.Fatalf("worker a did not stop its runner:\n%s", a.stderr)
	}
	id, seen := importAndWatch("s3://src/data/", "lakeq://on-workers/main/second/")
	if seen["worker-a"] || !seen["worker-b"] {
		t.Fatalf("second import ran on %v, want worker-b only", seen)
	}
	if show := runLakeq(t, env, "jobs", "show", id); !strings.Contains(show, "worker-b") || !strings.Contains(show, "COMPLETED") {
		t.Fatalf("jobs show:\n%s", show)
	}
	b.stop(t, syscall.SIGINT)
	api.stop(t, syscall.SIGTERM)
}

// probeWarning is what a server logs when its S3 endpoint does not answer
// at start-up.
const probeWarning = "S3 endpoint does not answer yet"

// TestSampleHeap: allocations are sampled for the heap profile only when
// a debug server serves it.
func TestSampleHeap(t *testing.T) {
	rate := runtime.MemProfileRate
	t.Cleanup(func() { runtime.MemProfileRate = rate })
	if sampleHeap(true); runtime.MemProfileRate != rate || rate == 0 {
		t.Fatalf("served: MemProfileRate %d, want the default %d", runtime.MemProfileRate, rate)
	}
	if sampleHeap(false); runtime.MemProfileRate != 0 {
		t.Fatalf("not served: MemProfileRate %d, want 0", runtime.MemProfileRate)
	}
}

// TestWorkerProbesS3: a worker whose S3 endpoint does not answer says so at
// start-up, and starts all the same: the endpoint may come up later.
func TestWorkerProbesS3(t *testing.T) {
	rds := redistest.Start(t)
	nats := startNATS(t)
	w := startWorker(t, testEnv(t,
		"LAKEQ_REDIS_URL="+rds.URL(),
		"LAKEQ_REDIS_KEY_PREFIX="+rds.NewKeyPrefix(),
		"LAKEQ_S3_ENDPOINT=127.0.0.1:1",
		"LAKEQ_NATS_URL="+nats.ClientURL(),
	))
	if log := w.stderr.String(); !strings.Contains(log, probeWarning) || !strings.Contains(log, "127.0.0.1:1") {
		t.Fatalf("worker log, want %q naming the endpoint:\n%s", probeWarning, log)
	}
}

// TestWorkerRoleBadConfig checks that `lakeq worker` refuses bad settings
// before connecting to anything.
func TestWorkerRoleBadConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"BadKind", []string{"--kinds", "Import!"}, "kind"},
		{"NoHandler", []string{"--kinds", "gc"}, "no registered handler"},
		{"BadConcurrency", []string{"--concurrency", "-1"}, "concurrency"},
		{"NoS3", nil, "s3-endpoint"},
		{"BadMemoryLimit", []string{"--memory-limit", "lots"}, "--memory-limit"},
		{"BadTreeCache", []string{"--tree-cache", "0"}, "--tree-cache"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"worker"}, tc.args...)
			if tc.name != "NoS3" {
				// Nothing listens there: the check must come before any
				// connection.
				args = append(args, "--s3-endpoint", "127.0.0.1:1", "--redis-url", "redis://127.0.0.1:1/0", "--nats-url", "nats://127.0.0.1:1")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, serverBinary(t), args...)
			cmd.Env = testEnv(t)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("lakeq %s: %v\n%s\nwant an error mentioning %q", strings.Join(args, " "), err, out, tc.want)
			}
		})
	}
}
