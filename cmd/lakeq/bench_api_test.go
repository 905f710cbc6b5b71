package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBenchAPI runs `lakeq bench api` with tiny settings, once starting its
// own `lakeq up` and once against a running one, and checks that every
// scenario ran without an error and that the benchmark cleaned up after
// itself.
func TestBenchAPI(t *testing.T) {
	const keyID, secret = "AKIABENCHAPITEST0001", "bench-api-test-secret-0123456789"
	small := []string{"bench", "api", "-o", "json",
		"--objects", "50", "--dirs", "5", "--staged", "5", "--seed-parallelism", "4",
		"--concurrency", "2", "--duration", "1s", "--warmup", "200ms"}
	tests := []struct {
		name     string
		external bool
	}{
		{"starts lakeq up", false},
		{"running server", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv(t)
			var srv *server
			if tt.external {
				creds := []string{"LAKEQ_ACCESS_KEY_ID=" + keyID, "LAKEQ_SECRET_ACCESS_KEY=" + secret}
				srv = startServer(t, t.TempDir(), testEnv(t, append(freePortEnv, creds...)...), upCommand(t, t.TempDir())...)
				env = testEnv(t, append(creds, "LAKEQ_ENDPOINT="+srv.endpoint)...)
			}
			rep := runBenchAPICmd(t, env, small...)

			want := []string{"healthcheck", "stat-object", "list-objects", "list-root"}
			var got []string
			for _, s := range rep.Scenarios {
				got = append(got, s.Name)
				if s.Requests <= 0 || s.InWindow <= 0 || s.InWindow > s.Requests || s.RPS <= 0 {
					t.Errorf("%s: %d requests, %d within the duration, %.1f req/s", s.Name, s.Requests, s.InWindow, s.RPS)
				}
				if s.Errors != 0 || s.WarmupErrors != 0 || len(s.ErrorSamples) != 0 {
					t.Errorf("%s: %d errors, %d in the warm-up: %q", s.Name, s.Errors, s.WarmupErrors, s.ErrorSamples)
				}
				if !(0 < s.P50MS && s.P50MS <= s.P90MS && s.P90MS <= s.P99MS && s.P99MS <= s.MaxMS) {
					t.Errorf("%s: percentiles p50 %v p90 %v p99 %v max %v out of order", s.Name, s.P50MS, s.P90MS, s.P99MS, s.MaxMS)
				}
				if s.P50Ratio <= 0 || s.RPSRatio <= 0 {
					t.Errorf("%s: ratios %v, %v", s.Name, s.P50Ratio, s.RPSRatio)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("scenarios %q, want %q", got, want)
			}
			if floor := rep.Scenarios[0]; floor.P50Ratio != 1 || floor.RPSRatio != 1 {
				t.Errorf("the floor's ratios to itself are %v and %v", floor.P50Ratio, floor.RPSRatio)
			}
			if rep.Objects != 50 || rep.Staged != 5 || rep.Concurrency != 2 || rep.Repository == "" {
				t.Errorf("report %+v does not describe the run asked for", rep)
			}

			if tt.external {
				// The benchmark repository is gone; the server still runs.
				req, err := http.NewRequest(http.MethodGet, srv.endpoint+"/api/v1/repositories/"+rep.Repository, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.SetBasicAuth(keyID, secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Errorf("repository %s after the benchmark: status %d, want 404", rep.Repository, resp.StatusCode)
				}
				srv.stop(t, syscall.SIGTERM)
				return
			}
			// The lakeq up process the benchmark started is gone.
			if rep.ServerPID <= 0 {
				t.Fatalf("report names no server pid: %+v", rep)
			}
			if err := syscall.Kill(rep.ServerPID, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("lakeq up (pid %d) after the benchmark: kill 0 = %v, want ESRCH", rep.ServerPID, err)
			}
		})
	}
}

// runBenchAPICmd runs the lakeq binary the servers are built as (so that
// the `lakeq up` it starts is that binary too) and decodes its JSON report.
func runBenchAPICmd(t *testing.T, env []string, args ...string) apiBenchReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, serverBinary(t), args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("lakeq %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	var rep apiBenchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	return rep
}

// TestAPIBenchPhase checks the load loop's counting against an HTTP server
// that fails every request to /fail: errors are counted and described,
// every request's latency is kept up to the sample limit, and a uniform
// sample of the limit's size past it.
func TestAPIBenchPhase(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Authorization") != "Basic test" {
			http.Error(w, "no credentials", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	hc := newAPIBenchHTTPClient(2)
	t.Cleanup(hc.CloseIdleConnections)

	tests := []struct {
		name       string
		sc         apiBenchScenario
		maxSamples int
		wantErrors bool
		wantSample bool
	}{
		{"all succeed", apiBenchScenario{name: "ok", urls: []string{srv.URL + "/ok"}, auth: true}, 1 << 20, false, false},
		{"no credentials", apiBenchScenario{name: "noauth", urls: []string{srv.URL + "/ok"}}, 1 << 20, true, false},
		{"some fail", apiBenchScenario{name: "mixed", urls: []string{srv.URL + "/ok", srv.URL + "/fail"}, auth: true}, 1 << 20, true, false},
		{"sampled", apiBenchScenario{name: "sampled", urls: []string{srv.URL + "/ok"}, auth: true}, 8, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := runAPIBenchPhase(context.Background(), hc, "Basic test", tt.sc, 2, 300*time.Millisecond, tt.maxSamples)
			if err != nil {
				t.Fatal(err)
			}
			if p.requests < 20 || p.inWindow > p.requests || p.requests-p.inWindow > 2 {
				t.Fatalf("%d requests in 300ms, %d of them ended in time: want at most one a client late", p.requests, p.inWindow)
			}
			if got := p.errors > 0; got != tt.wantErrors {
				t.Errorf("%d errors of %d requests, want errors: %v", p.errors, p.requests, tt.wantErrors)
			}
			if tt.wantErrors != (len(p.errorSamples) > 0) {
				t.Errorf("error samples %q", p.errorSamples)
			}
			if tt.name == "some fail" && (p.errors == p.requests || !strings.HasPrefix(p.errorSamples[0], "503 unavailable")) {
				t.Errorf("%d of %d requests failed, samples %q: want some, as 503 unavailable", p.errors, p.requests, p.errorSamples)
			}
			if p.sampled != tt.wantSample {
				t.Errorf("sampled = %v, want %v", p.sampled, tt.wantSample)
			}
			wantKept := p.requests
			if tt.wantSample {
				wantKept = int64(tt.maxSamples)
			}
			if int64(len(p.latencies)) != wantKept {
				t.Errorf("%d latencies kept of %d requests, want %d", len(p.latencies), p.requests, wantKept)
			}
			if !slices.IsSorted(p.latencies) || time.Duration(p.latencies[len(p.latencies)-1]) > p.max {
				t.Errorf("latencies not sorted or above the max %v", p.max)
			}
		})
	}

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		sc := apiBenchScenario{name: "ok", urls: []string{srv.URL + "/ok"}}
		if _, err := runAPIBenchPhase(ctx, hc, "", sc, 2, time.Minute, 100); !errors.Is(err, context.Canceled) {
			t.Fatalf("phase under a canceled context: %v", err)
		}
	})
}

func TestPercentile(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1)
	}
	tests := []struct {
		name   string
		sorted []int64
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", []int64{7}, 0.99, 7},
		{"p50 of 100", hundred, 0.50, 50},
		{"p90 of 100", hundred, 0.90, 90},
		{"p99 of 100", hundred, 0.99, 99},
		{"max of 100", hundred, 1, 100},
		{"p50 of 4", []int64{1, 2, 3, 4}, 0.50, 2},
		{"p99 of 4", []int64{1, 2, 3, 4}, 0.99, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.q); got != tt.want {
				t.Fatalf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}
