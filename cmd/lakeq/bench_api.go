package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

func init() { benchCommands = append(benchCommands, newBenchAPICmd) }

// apiBenchFlags are the flags of `lakeq bench api`.
type apiBenchFlags struct {
	objects         int
	dirs            int
	staged          int
	size            int
	seedParallelism int
	concurrency     int
	duration        time.Duration
	warmup          time.Duration
	namespace       string
	dir             string
	keep            bool
	serverLogLevel  string
	maxSamples      int
}

// newBenchAPICmd builds `lakeq bench api`.
func newBenchAPICmd(g *globals) *cobra.Command {
	f := &apiBenchFlags{}
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Measure the REST API's latency and throughput against its HTTP floor",
		Long: `Start a "lakeq up" process (or, with --endpoint and credentials, use a running
server), write --objects small objects through the API into a new repository
spread over --dirs directories and commit them; then, --concurrency clients
at a time over keep-alive connections, run each scenario for --duration
after a --warmup whose requests are not recorded:

  healthcheck   GET /api/v1/healthcheck: no authentication, no storage
                work, the HTTP floor of the stack (the bare operation);
  stat-object   GET …/refs/main/objects/stat?path=<random object>;
  list-objects  GET …/refs/main/objects/ls?prefix=<random directory>/&amount=100;
  list-root     GET …/refs/main/objects/ls?delimiter=/&amount=100.

It prints each scenario's requests, req/s, latency percentiles (exact, over
every request up to --max-samples) and errors, and the ratio of its p50 and
req/s to the health check's. Any answer other than 2xx is an error, and the
command fails when there is one.

The load generator runs on the same machine as the server and shares its
CPUs: compare ratios of one run rather than figures of different machines.`,
		Example: `  lakeq bench api
  lakeq bench api --concurrency 4 --duration 5s -o json
  lakeq bench api --endpoint http://127.0.0.1:8000 --objects 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchAPI(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.objects, "objects", 10000, "committed objects to write before measuring")
	fl.IntVar(&f.dirs, "dirs", 100, "directories the objects are spread over")
	fl.IntVar(&f.staged, "staged", 0, "more objects left uncommitted on main, so that reads merge staging with the commit")
	fl.IntVar(&f.size, "size", 64, "bytes per object")
	fl.IntVar(&f.seedParallelism, "seed-parallelism", 16, "uploads at a time while writing the objects")
	fl.IntVar(&f.concurrency, "concurrency", 16, "clients sending requests at a time, each on its own keep-alive connection")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "measured time per scenario")
	fl.DurationVar(&f.warmup, "warmup", time.Second, "unrecorded time before each scenario")
	fl.StringVar(&f.namespace, "storage-namespace", "local://"+defaultLocal+"/", "storage namespace the benchmark repository is created under (its name is appended)")
	fl.StringVar(&f.dir, "dir", "", "directory for the lakeq up process's data and log (default a new temporary directory, removed at the end)")
	fl.BoolVar(&f.keep, "keep", false, "keep the data directory, or with --endpoint the benchmark repository")
	fl.StringVar(&f.serverLogLevel, "server-log-level", "info", "--log-level of the lakeq up process (info logs every request, as lakeq up does by default)")
	fl.IntVar(&f.maxSamples, "max-samples", 4<<20, "latencies kept per scenario for the percentiles; past it each client keeps a uniform sample")
	return cmd
}

// apiBenchReport is what `lakeq bench api` measured.
type apiBenchReport struct {
	Server          string              `json:"server"`
	ServerPID       int                 `json:"server_pid,omitempty"`
	Endpoint        string              `json:"endpoint"`
	Repository      string              `json:"repository"`
	Objects         int                 `json:"objects"`
	Dirs            int                 `json:"dirs"`
	Staged          int                 `json:"staged"`
	ObjectSize      int                 `json:"object_size"`
	Concurrency     int                 `json:"concurrency"`
	DurationSeconds float64             `json:"duration_seconds"`
	WarmupSeconds   float64             `json:"warmup_seconds"`
	CPUs            int                 `json:"cpus"`
	SeedSeconds     float64             `json:"seed_seconds"`
	CommitSeconds   float64             `json:"commit_seconds"`
	Scenarios       []apiScenarioReport `json:"scenarios"`
}

// apiScenarioReport is one scenario's figures; latencies in milliseconds,
// ratios against the first scenario (the health check). Requests counts
// every request of the timed phase, those still under way at its end
// included (their latencies are in the percentiles); RPS is the requests
// that ended within the phase's duration (InWindow) per second of it;
// Seconds is the time until the last request ended.
type apiScenarioReport struct {
	Name           string   `json:"name"`
	Request        string   `json:"request"`
	Requests       int64    `json:"requests"`
	InWindow       int64    `json:"requests_in_window"`
	Errors         int64    `json:"errors"`
	WarmupErrors   int64    `json:"warmup_errors"`
	ErrorSamples   []string `json:"error_samples,omitempty"`
	Seconds        float64  `json:"seconds"`
	RPS            float64  `json:"rps"`
	MeanMS         float64  `json:"mean_ms"`
	P50MS          float64  `json:"p50_ms"`
	P90MS          float64  `json:"p90_ms"`
	P99MS          float64  `json:"p99_ms"`
	MaxMS          float64  `json:"max_ms"`
	Sampled        bool     `json:"sampled"`
	P50Ratio       float64  `json:"p50_ratio"`
	RPSRatio       float64  `json:"rps_ratio"`
	WarmupRequests int64    `json:"warmup_requests"`
}

func runBenchAPI(cmd *cobra.Command, g *globals, f *apiBenchFlags) error {
	if f.objects < 1 || f.dirs < 1 || f.staged < 0 || f.size < 0 || f.seedParallelism < 1 || f.concurrency < 1 || f.duration <= 0 || f.warmup < 0 || f.maxSamples < f.concurrency {
		return errors.New("--objects, --dirs, --seed-parallelism, --concurrency and --duration must be positive, --staged, --size and --warmup not negative, --max-samples at least --concurrency")
	}
	ctx := cmd.Context()
	errw := cmd.ErrOrStderr()
	say := func(format string, args ...any) {
		if g.output == outputTable {
			fmt.Fprintf(errw, format+"\n", args...)
		}
	}

	rep := apiBenchReport{
		Objects: f.objects, Dirs: f.dirs, Staged: f.staged, ObjectSize: f.size, Concurrency: f.concurrency,
		DurationSeconds: f.duration.Seconds(), WarmupSeconds: f.warmup.Seconds(), CPUs: runtime.NumCPU(),
	}
	endpoint, keyID, secret := g.endpoint, g.accessKeyID, g.secretAccessKey
	if endpoint != "" {
		if err := g.applyConfigFile(cmd); err != nil {
			return err
		}
		keyID, secret = g.accessKeyID, g.secretAccessKey
		if keyID == "" || secret == "" {
			return errors.New("--endpoint needs --access-key-id and --secret-access-key (or their variables)")
		}
		rep.Server = "external"
	} else {
		dir := f.dir
		if dir == "" {
			d, err := os.MkdirTemp("", "lakeq-bench-api-")
			if err != nil {
				return err
			}
			dir = d
		}
		if !f.keep {
			defer os.RemoveAll(dir)
		}
		keyID, secret = "lakeqbench"+randomHex(4), randomHex(20)
		srv, err := startAPIBenchServer(ctx, dir, keyID, secret, f.serverLogLevel)
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.stop(); err != nil {
				fmt.Fprintf(errw, "stopping lakeq up (pid %d): %v\n", srv.cmd.Process.Pid, err)
			}
		}()
		endpoint = srv.endpoint
		rep.ServerPID = srv.cmd.Process.Pid
		rep.Server = fmt.Sprintf("lakeq up (pid %d)", rep.ServerPID)
		say("lakeq up (pid %d) at %s, data and log in %s", srv.cmd.Process.Pid, endpoint, dir)
	}
	rep.Endpoint = strings.TrimRight(endpoint, "/")

	seedHTTP := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: f.seedParallelism,
		IdleConnTimeout:     90 * time.Second,
	}}
	defer seedHTTP.CloseIdleConnections()
	c, err := client.New(client.Config{
		Endpoint: endpoint, AccessKeyID: keyID, SecretAccessKey: secret,
		HTTPClient: seedHTTP, UserAgent: "lakeq-bench/" + version,
	})
	if err != nil {
		return err
	}
	if err := c.Health(ctx); err != nil {
		return err
	}
	rep.Repository = "bench-api-" + randomHex(4)
	ns := strings.TrimRight(f.namespace, "/") + "/" + rep.Repository + "/"
	if _, err := c.CreateRepository(ctx, client.RepositoryCreation{Name: rep.Repository, StorageNamespace: ns}); err != nil {
		return err
	}
	if rep.Server == "external" && !f.keep {
		defer func() {
			if err := c.DeleteRepository(context.WithoutCancel(ctx), rep.Repository); err != nil {
				fmt.Fprintf(errw, "deleting repository %s: %v\n", rep.Repository, err)
			}
		}()
	}

	say("writing %d objects of %d bytes in %d directories to %s, %d at a time…", f.objects, f.size, f.dirs, rep.Repository, f.seedParallelism)
	committed := apiBenchPaths("object", f.objects, f.dirs)
	start := time.Now()
	if err := seedAPIBench(ctx, c, rep.Repository, committed, f.size, f.seedParallelism); err != nil {
		return err
	}
	rep.SeedSeconds = time.Since(start).Seconds()
	start = time.Now()
	if _, err := c.Commit(ctx, rep.Repository, "main", client.CommitCreation{Message: "bench api objects"}); err != nil {
		return err
	}
	rep.CommitSeconds = time.Since(start).Seconds()
	say("written in %.1fs (%.0f uploads/s), committed in %.2fs", rep.SeedSeconds, float64(f.objects)/rep.SeedSeconds, rep.CommitSeconds)
	paths := committed
	if f.staged > 0 {
		staged := apiBenchPaths("staged", f.staged, f.dirs)
		if err := seedAPIBench(ctx, c, rep.Repository, staged, f.size, f.seedParallelism); err != nil {
			return err
		}
		paths = append(paths, staged...)
		say("left %d more objects uncommitted", f.staged)
	}

	scenarios := apiBenchScenarios(rep.Endpoint, rep.Repository, paths, f.dirs)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(keyID+":"+secret))
	hc := newAPIBenchHTTPClient(f.concurrency)
	defer hc.CloseIdleConnections()
	var failed int64
	for _, sc := range scenarios {
		say("%s: %d clients, %s warm-up, %s…", sc.name, f.concurrency, f.warmup, f.duration)
		warm, err := runAPIBenchPhase(ctx, hc, auth, sc, f.concurrency, f.warmup, f.concurrency)
		if err != nil {
			return err
		}
		res, err := runAPIBenchPhase(ctx, hc, auth, sc, f.concurrency, f.duration, f.maxSamples)
		if err != nil {
			return err
		}
		r := res.report(sc)
		r.WarmupRequests, r.WarmupErrors = warm.requests, warm.errors
		r.ErrorSamples = append(warm.errorSamples, res.errorSamples...)
		rep.Scenarios = append(rep.Scenarios, r)
		failed += r.Errors + r.WarmupErrors
	}
	floor := rep.Scenarios[0]
	for i := range rep.Scenarios {
		s := &rep.Scenarios[i]
		if floor.P50MS > 0 {
			s.P50Ratio = s.P50MS / floor.P50MS
		}
		if floor.RPS > 0 {
			s.RPSRatio = s.RPS / floor.RPS
		}
	}
	if err := newPrinter(cmd.OutOrStdout(), g.output).object(rep, func(w io.Writer) { printAPIBench(w, &rep) }); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d requests failed", failed)
	}
	return nil
}

// printAPIBench writes the report as a table.
func printAPIBench(w io.Writer, rep *apiBenchReport) {
	fmt.Fprintf(w, "server:\t%s at %s, %d CPUs\n", rep.Server, rep.Endpoint, rep.CPUs)
	fmt.Fprintf(w, "data:\t%d committed objects of %d bytes in %d directories, %d staged\n", rep.Objects, rep.ObjectSize, rep.Dirs, rep.Staged)
	fmt.Fprintf(w, "load:\t%d clients, %gs per scenario after %gs warm-up\n\n", rep.Concurrency, rep.DurationSeconds, rep.WarmupSeconds)
	fmt.Fprintln(w, "scenario\trequests\treq/s\tp50\tp90\tp99\tmax\terrors\tp50 ÷ floor\treq/s ÷ floor")
	ms := func(v float64) string { return fmt.Sprintf("%.3fms", v) }
	for _, s := range rep.Scenarios {
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t%.2f\t%.2f\n",
			s.Name, s.Requests, s.RPS, ms(s.P50MS), ms(s.P90MS), ms(s.P99MS), ms(s.MaxMS), s.Errors+s.WarmupErrors, s.P50Ratio, s.RPSRatio)
	}
	fmt.Fprintln(w)
	for _, s := range rep.Scenarios {
		fmt.Fprintf(w, "%s:\t%s\n", s.Name, s.Request)
		for _, e := range s.ErrorSamples {
			fmt.Fprintf(w, "\terror: %s\n", e)
		}
	}
}

// apiBenchPaths returns n object paths named kind, spread round-robin over
// dirs directories: dir-0000/kind-000000.bin, dir-0001/kind-000001.bin, ….
func apiBenchPaths(kind string, n, dirs int) []string {
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("%s/%s-%06d.bin", apiBenchDir(i%dirs), kind, i)
	}
	return paths
}

// apiBenchDir is the name of directory i.
func apiBenchDir(i int) string { return fmt.Sprintf("dir-%04d", i) }

// seedAPIBench uploads an object of size bytes to each path on main,
// parallelism at a time.
func seedAPIBench(ctx context.Context, c *client.Client, repo string, paths []string, size, parallelism int) error {
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(parallelism)
	for _, p := range paths {
		eg.Go(func() error {
			body := make([]byte, size)
			copy(body, p)
			_, err := c.Upload(ectx, repo, "main", p, strings.NewReader(string(body)), int64(size), client.UploadOptions{})
			return err
		})
	}
	return eg.Wait()
}

// apiBenchScenarios returns the scenarios in the order they run; the first
// is the floor the others are compared with.
func apiBenchScenarios(endpoint, repo string, paths []string, dirs int) []apiBenchScenario {
	objects := endpoint + "/api/v1/repositories/" + url.PathEscape(repo) + "/refs/main/objects"
	stats := make([]string, len(paths))
	for i, p := range paths {
		stats[i] = objects + "/stat?" + url.Values{"path": {p}}.Encode()
	}
	lists := make([]string, dirs)
	for i := range lists {
		lists[i] = objects + "/ls?" + url.Values{"prefix": {apiBenchDir(i) + "/"}, "amount": {"100"}}.Encode()
	}
	root := objects + "/ls?" + url.Values{"delimiter": {"/"}, "amount": {"100"}}.Encode()
	health := endpoint + "/api/v1/healthcheck"
	return []apiBenchScenario{
		{name: "healthcheck", request: "GET " + health, urls: []string{health}},
		{name: "stat-object", request: "GET " + objects + "/stat?path=<one of the objects>", urls: stats, auth: true},
		{name: "list-objects", request: "GET " + objects + "/ls?prefix=<one of the directories>/&amount=100", urls: lists, auth: true},
		{name: "list-root", request: "GET " + root, urls: []string{root}, auth: true},
	}
}

// randomHex returns n random bytes in hexadecimal.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// apiBenchServer is the `lakeq up` process the benchmark started.
type apiBenchServer struct {
	cmd      *exec.Cmd
	endpoint string
	logPath  string
	log      *os.File
	done     chan struct{}
	waitErr  error
}

// startAPIBenchServer starts this executable as `lakeq up` on a free port
// of 127.0.0.1 with its data in dir/data, its output in dir/lakeq-up.log
// and the given admin credentials, and waits until it answers the health
// check.
func startAPIBenchServer(ctx context.Context, dir, keyID, secret, logLevel string) (*apiBenchServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()

	s := &apiBenchServer{endpoint: "http://" + addr, logPath: filepath.Join(dir, "lakeq-up.log"), done: make(chan struct{})}
	if s.log, err = os.Create(s.logPath); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(exe, "up", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--nats-port", "-1", "--log-level", logLevel)
	// The process reads no LAKEQ_ variable of ours but the credentials.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	s.cmd.Env = append(s.cmd.Env, envName("access-key-id")+"="+keyID, envName("secret-access-key")+"="+secret)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// Its own process group: a Ctrl-C reaches the benchmark only, which
	// then stops the server itself.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.log.Close()
		return nil, fmt.Errorf("start lakeq up: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()

	health := s.endpoint + "/api/v1/healthcheck"
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
		if err != nil {
			return nil, errors.Join(err, s.stop())
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("lakeq up exited before it was ready (%v):\n%s", s.waitErr, s.logTail())
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), s.stop())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("lakeq up not ready after a minute:\n%s", s.logTail()), s.stop())
		}
	}
}

// stop sends SIGTERM to the server's process and waits for it to exit
// (SIGKILL after a minute); an unclean exit is an error.
func (s *apiBenchServer) stop() error {
	defer s.log.Close()
	select {
	case <-s.done:
		return fmt.Errorf("lakeq up had exited already (%v):\n%s", s.waitErr, s.logTail())
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("lakeq up did not stop within a minute of SIGTERM:\n%s", s.logTail())
	}
	if s.waitErr != nil {
		return fmt.Errorf("lakeq up: %w:\n%s", s.waitErr, s.logTail())
	}
	return nil
}

// logTail returns the end of the server's output.
func (s *apiBenchServer) logTail() string {
	const tail = 4 << 10
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > tail {
		b = b[len(b)-tail:]
	}
	return string(b)
}
