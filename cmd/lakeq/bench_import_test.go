package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/block/s3/miniotest"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
)

// TestLatencyProxy checks that the benchmark's proxy delays every response
// by its latency.
func TestLatencyProxy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	addr, stop, err := startLatencyProxy(strings.TrimPrefix(srv.URL, "http://"), 150*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	c := &http.Client{Transport: &http.Transport{}}
	for i := range 3 {
		start := time.Now()
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("request %d through the proxy took %s, want at least 150ms", i, d)
		}
	}
}

func TestProcStats(t *testing.T) {
	cpu, err := procCPU(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("procCPU: %v, %v", cpu, err)
	}
	rss, err := procPeakRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("procPeakRSS: %d, %v", rss, err)
	}
	// A peak reset goes down to the RSS now, below a peak 64 MiB higher
	// a moment before.
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	high, err := procPeakRSS(os.Getpid())
	if err != nil || high < rss+60<<20 {
		t.Fatalf("peak RSS %d after touching 64 MiB, from %d: %v", high, rss, err)
	}
	ballast = nil
	runtime.GC()
	debug.FreeOSMemory()
	if err := resetPeakRSS(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if low, err := procPeakRSS(os.Getpid()); err != nil || low > high-32<<20 {
		t.Fatalf("peak RSS %d after a reset, from %d: %v", low, high, err)
	}
}

func TestBenchKey(t *testing.T) {
	tests := []struct {
		i, n, prefixes int
		want           string
	}{
		{0, 1000, 10, "x/p0000/obj-00000000"},
		{99, 1000, 10, "x/p0000/obj-00000099"},
		{100, 1000, 10, "x/p0001/obj-00000100"},
		{999, 1000, 10, "x/p0009/obj-00000999"},
	}
	for _, tc := range tests {
		if got := benchKey("x/", tc.i, tc.n, tc.prefixes); got != tc.want {
			t.Errorf("benchKey(%d, %d, %d) = %q, want %q", tc.i, tc.n, tc.prefixes, got, tc.want)
		}
	}
}

// TestBenchImport runs `lakeq bench import` with tiny settings: its own
// MinIO, redis-server and worker processes, both scenarios and the large
// import.
func TestBenchImport(t *testing.T) {
	minioBin, err := miniotest.Binary()
	if err != nil {
		skipOrFail(t, err)
	}
	redisBin, err := redistest.Binary()
	if err != nil {
		skipOrFail(t, err)
	}
	env := testEnv(t, "LAKEQ_MINIO_BIN="+minioBin, "LAKEQ_REDIS_BIN="+redisBin)
	out := runLakeq(t, env, "bench", "import", "-o", "json",
		"--objects", "300", "--prefixes", "6", "--large", "600", "--rounds", "2", "--latency", "20ms", "--task-concurrency", "4", "--again", "1")
	var rep benchImportReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if len(rep.Runs) != 3 {
		t.Fatalf("%d runs, want direct, proxy and large: %s", len(rep.Runs), out)
	}
	for _, r := range rep.Runs {
		if r.ListSeconds <= 0 || r.ImportSeconds <= 0 || r.Ratio <= 0 || r.Shards < 2 || r.WorkerCPU <= 0 || r.WorkerPeakRSS < 1<<20 || r.WorkerAgainRSS < 1<<20 || len(r.Jobs) != r.Rounds {
			t.Errorf("run %+v", r)
		}
	}
	if rep.Runs[2].Objects != 600 || rep.Runs[2].Rounds != 1 {
		t.Errorf("large run %+v", rep.Runs[2])
	}
}

// skipOrFail skips t for a missing server binary, or fails it under
// CI=true.
func skipOrFail(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(err)
	}
	t.Skip(err)
}
