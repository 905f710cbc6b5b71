package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/api"
	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/auth"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv/redis"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers"
)

func init() { benchCommands = append(benchCommands, newBenchImportCmd) }

// benchImportFlags are the flags of `lakeq bench import`.
type benchImportFlags struct {
	objects         int
	prefixes        int
	large           int
	latency         time.Duration
	taskConcurrency int
	seedParallelism int
	rounds          int
	s3              s3.Config
	redisURL        string
	dir             string
	keep            bool
	cpuProfile      string
	debugAddr       string
	memoryLimit     string
	again           int
}

// newBenchImportCmd builds `lakeq bench import`.
func newBenchImportCmd(g *globals) *cobra.Command {
	f := &benchImportFlags{}
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import objects from MinIO and compare with a bare listing, directly and through a latency proxy",
		Long: `Start MinIO and redis-server as child processes (or use --s3-endpoint and
--redis-url), an embedded NATS server and an in-process API, seed --objects
objects spread over --prefixes sub-prefixes, and measure, in one run:

  list    a bare sequential ListObjectsV2 of the prefix (pages of 1,000),
          the physical limit of reading the listing;
  import  a lakeq import of the prefix end to end, from the API's answer
          to the submission until the commit, run by one "lakeq worker"
          process started for the run;

once directly against MinIO and once through a proxy (toxiproxy, in
process) that delays every response by --latency, as a remote S3 endpoint
does, in --rounds rounds that alternate which goes first. It reports the
import/list ratio of the totals of each, the worker's CPU time per
imported object (from the worker process's rusage) and its peak resident
memory (VmHWM). With --large, it also imports that many objects directly,
to show that the worker's memory does not grow with the import's size.

The peak of a worker process's first import includes the process's own
start: the pages of its program it reads in, and its heap growing to its
working size, which a short import ends before it reaches. --again N has
the worker then import the same prefix N more times, each into another
repository with the worker's peak reset (Linux's clear_refs) at the
submission, and reports the highest of those imports' own peaks beside
the first: the memory an import takes in a worker that is already
running, as workers are.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchImport(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.objects, "objects", 100000, "objects to import")
	fl.IntVar(&f.prefixes, "prefixes", 100, "sub-prefixes the objects are spread over")
	fl.IntVar(&f.large, "large", 1000000, "objects of the large import that measures memory at scale (0: skip it)")
	fl.DurationVar(&f.latency, "latency", 100*time.Millisecond, "delay the proxy adds to every response (0: no proxy scenario)")
	fl.IntVar(&f.taskConcurrency, "task-concurrency", workers.DefaultTaskConcurrency, "import shards the worker lists at a time")
	fl.IntVar(&f.seedParallelism, "seed-parallelism", 4, "bulk uploads at a time while seeding (10,000 objects each)")
	fl.IntVar(&f.rounds, "rounds", 2, "rounds of list and import per scenario (the large one runs once), alternating which goes first")
	fl.StringVar(&f.s3.Endpoint, "s3-endpoint", "", "use this S3 endpoint (host:port) instead of starting MinIO")
	fl.StringVar(&f.s3.AccessKeyID, "s3-access-key-id", "", "access key id of --s3-endpoint")
	fl.StringVar(&f.s3.SecretAccessKey, "s3-secret-access-key", "", "secret access key of --s3-endpoint")
	fl.StringVar(&f.redisURL, "redis-url", "", "use this Redis instead of starting redis-server")
	fl.StringVar(&f.dir, "dir", "", "directory for the servers' data (default a new temporary directory, removed at the end)")
	fl.BoolVar(&f.keep, "keep", false, "keep the data directory")
	fl.StringVar(&f.memoryLimit, "worker-memory-limit", "", "the workers' --memory-limit")
	fl.StringVar(&f.debugAddr, "worker-debug-addr", "", "the workers' --debug-addr (metrics and profiles while they run)")
	fl.StringVar(&f.cpuProfile, "worker-cpu-profile", "", "write each import's worker CPU profile to this path, suffixed with the scenario and round")
	fl.IntVar(&f.again, "again", 0, "after each measured import, import the prefix this many more times in the same worker and report the highest of their own peak RSS")
	return cmd
}

// benchImportRun is one measured scenario.
type benchImportRun struct {
	Name           string  `json:"name"`
	Objects        int     `json:"objects"`
	Rounds         int     `json:"rounds"`
	ListSeconds    float64 `json:"list_seconds"`
	ImportSeconds  float64 `json:"import_seconds"`
	Ratio          float64 `json:"ratio"`
	Shards         int64   `json:"shards"`
	WorkerCPU      float64 `json:"worker_cpu_seconds"`
	CPUPerObjectUS float64 `json:"worker_cpu_per_object_us"`
	WorkerPeakRSS  int64   `json:"worker_peak_rss_bytes"`
	// WorkerAgainRSS is the highest peak RSS of the further imports of
	// the prefix in the same worker, each reset at its submission
	// (--again; else 0).
	WorkerAgainRSS int64 `json:"worker_again_peak_rss_bytes,omitempty"`
	// MinIO's CPU time during the listings and during the imports (0 when
	// the benchmark did not start MinIO).
	ListMinIOCPU   float64  `json:"list_minio_cpu_seconds"`
	ImportMinIOCPU float64  `json:"import_minio_cpu_seconds"`
	Jobs           []string `json:"jobs"`
}

// benchImportReport is what `lakeq bench import` measured.
type benchImportReport struct {
	CPUs      int              `json:"cpus"`
	Latency   string           `json:"latency"`
	TaskConc  int              `json:"task_concurrency"`
	SeedNotes []string         `json:"seed,omitempty"`
	Runs      []benchImportRun `json:"runs"`
}

// benchImport holds the servers of one bench run.
type benchImport struct {
	f        *benchImportFlags
	log      *slog.Logger
	say      func(format string, args ...any)
	dir      string
	s3cfg    s3.Config
	redisURL string
	prefix   string
	natsURL  string
	kv       *redis.Store
	jobs     *jobs.Store
	broker   *broker.Broker
	auth     *auth.Store
	keyID    string
	secret   string
	repoN    int
	stops    []func()
	// minioPID is the MinIO process the benchmark started (0 with
	// --s3-endpoint), whose CPU time it reports.
	minioPID int
	// profileN numbers the workers' CPU profiles.
	profileN int
}

const (
	benchSrcBucket = "bench-import-src"
	benchNSBucket  = "bench-import-ns"
)

func runBenchImport(cmd *cobra.Command, g *globals, f *benchImportFlags) error {
	if f.objects < 1 || f.prefixes < 1 || f.large < 0 || f.taskConcurrency < 1 || f.seedParallelism < 1 || f.rounds < 1 || f.latency < 0 || f.again < 0 {
		return errors.New("--objects, --prefixes, --task-concurrency, --seed-parallelism and --rounds must be positive; --large, --latency and --again not negative")
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errw := cmd.ErrOrStderr()
	b := &benchImport{f: f, log: slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	b.say = func(format string, args ...any) {
		if g.output == outputTable {
			fmt.Fprintf(errw, format+"\n", args...)
		}
	}
	b.dir = f.dir
	if b.dir == "" {
		d, err := os.MkdirTemp("", "lakeq-bench-import-")
		if err != nil {
			return err
		}
		b.dir = d
	}
	if !f.keep {
		defer os.RemoveAll(b.dir)
	}
	if err := b.startServers(ctx); err != nil {
		return err
	}
	defer b.stopServers()

	direct := b.s3cfg
	proxyEndpoint, stopProxy, err := startLatencyProxy(direct.Endpoint, f.latency)
	if err != nil {
		return err
	}
	defer stopProxy()
	proxied := direct
	proxied.Endpoint = proxyEndpoint
	b.say("S3 endpoint %s, through a +%s proxy at %s", direct.Endpoint, f.latency, proxyEndpoint)

	rep := benchImportReport{CPUs: runtime.NumCPU(), Latency: f.latency.String(), TaskConc: f.taskConcurrency}
	small := fmt.Sprintf("n%d-p%d/", f.objects, f.prefixes)
	if note, err := b.seed(ctx, direct, small, f.objects, f.prefixes); err != nil {
		return err
	} else {
		rep.SeedNotes = append(rep.SeedNotes, note)
	}
	scenarios := []struct {
		name string
		cfg  s3.Config
	}{{"direct", direct}, {"proxy +" + f.latency.String(), proxied}}
	if f.latency == 0 {
		scenarios = scenarios[:1]
	}
	for _, sc := range scenarios {
		run, err := b.measure(ctx, sc.name, sc.cfg, small, f.objects, f.rounds)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		rep.Runs = append(rep.Runs, run)
	}
	if f.large > 0 {
		large := fmt.Sprintf("n%d-p%d/", f.large, f.prefixes)
		if note, err := b.seed(ctx, direct, large, f.large, f.prefixes); err != nil {
			return err
		} else {
			rep.SeedNotes = append(rep.SeedNotes, note)
		}
		run, err := b.measure(ctx, "direct, large", direct, large, f.large, 1)
		if err != nil {
			return fmt.Errorf("large: %w", err)
		}
		rep.Runs = append(rep.Runs, run)
	}
	return newPrinter(cmd.OutOrStdout(), g.output).object(rep, func(w io.Writer) {
		fmt.Fprintf(w, "lakeq bench import: %d CPUs, worker task concurrency %d\n\n", rep.CPUs, rep.TaskConc)
		fmt.Fprintf(w, "scenario\tobjects\tshards\trounds\tlist (s)\timport (s)\timport/list\tworker CPU/object\tworker peak RSS\tagain\tMinIO CPU list/import (s)\n")
		for _, r := range rep.Runs {
			again := "-"
			if r.WorkerAgainRSS > 0 {
				again = fmt.Sprintf("%.1f MiB", float64(r.WorkerAgainRSS)/(1<<20))
			}
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.2f\t%.2f\t%.3f\t%.1f µs\t%.1f MiB\t%s\t%.1f / %.1f\n", r.Name, r.Objects, r.Shards, r.Rounds,
				r.ListSeconds, r.ImportSeconds, r.Ratio, r.CPUPerObjectUS, float64(r.WorkerPeakRSS)/(1<<20), again, r.ListMinIOCPU, r.ImportMinIOCPU)
		}
		fmt.Fprintf(w, "\nlist and import times (and MinIO's CPU time) are totals over the rounds; the ratio is import/list.\n")
		if b.f.again > 0 {
			fmt.Fprintf(w, "worker peak RSS: of the worker process through its first import; again: the highest of %d more imports of the prefix in it, each from its submission.\n", b.f.again)
		}
	})
}

// startServers starts (or connects to) MinIO and Redis, and starts NATS.
func (b *benchImport) startServers(ctx context.Context) error {
	b.s3cfg = b.f.s3
	if b.s3cfg.Endpoint == "" {
		bin, err := miniotest.Binary()
		if err != nil {
			return err
		}
		m, err := startBenchMinIO(ctx, bin, filepath.Join(b.dir, "minio"))
		if err != nil {
			return err
		}
		b.stops = append(b.stops, m.stop)
		b.s3cfg, b.minioPID = m.cfg, m.pid()
	}
	b.s3cfg.PathStyle = true
	b.redisURL = b.f.redisURL
	if b.redisURL == "" {
		dir := filepath.Join(b.dir, "redis")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		srv, err := redistest.Launch(redistest.Options{Dir: dir})
		if err != nil {
			return err
		}
		b.stops = append(b.stops, func() { _ = srv.Stop() })
		b.redisURL = srv.URL()
	}
	b.prefix = fmt.Sprintf("lakeqbench%d:", time.Now().UnixNano())
	var err error
	if b.kv, err = redis.New(ctx, redis.Config{URL: b.redisURL, KeyPrefix: b.prefix}); err != nil {
		return err
	}
	b.stops = append(b.stops, func() { _ = b.kv.Close() })
	ns, err := natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: filepath.Join(b.dir, "nats")})
	if err != nil {
		return err
	}
	if err := ns.Start(ctx); err != nil {
		return err
	}
	b.stops = append(b.stops, func() { _ = ns.Stop(context.Background()) })
	b.natsURL = ns.ClientURL()
	if b.broker, err = broker.Connect(ctx, broker.Config{URL: b.natsURL, Logger: b.log}); err != nil {
		return err
	}
	b.stops = append(b.stops, func() { _ = b.broker.Close(context.Background()) })
	b.jobs = jobs.NewStore(b.kv, nil)
	b.auth = auth.New(b.kv)
	if b.keyID, b.secret, err = b.auth.CreateCredentials(ctx, "bench"); err != nil {
		return err
	}
	st, err := s3.New(b.s3cfg)
	if err != nil {
		return err
	}
	for _, bucket := range []string{benchSrcBucket, benchNSBucket} {
		if err := st.MakeBucket(ctx, bucket); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			return err
		}
	}
	return nil
}

// stopServers stops what startServers started, in reverse order.
func (b *benchImport) stopServers() {
	for i := len(b.stops) - 1; i >= 0; i-- {
		b.stops[i]()
	}
}

// seed writes n one-byte objects under prefix, spread over prefixes
// sub-prefixes, unless a marker says an earlier run did (with --dir and
// --keep, or an existing endpoint). It uses MinIO's bulk upload (a tar
// that the server extracts into objects).
func (b *benchImport) seed(ctx context.Context, cfg s3.Config, prefix string, n, prefixes int) (string, error) {
	st, err := s3.New(cfg)
	if err != nil {
		return "", err
	}
	marker := "_seeded/" + strings.TrimSuffix(prefix, "/")
	if _, err := st.Stat(ctx, benchSrcBucket, marker); err == nil {
		b.say("%d objects under %s already seeded", n, prefix)
		return fmt.Sprintf("%s: %d objects, seeded by an earlier run", prefix, n), nil
	}
	b.say("seeding %d objects under %s in %d sub-prefixes…", n, prefix, prefixes)
	start := time.Now()
	const batch = 10000
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(b.f.seedParallelism)
	for first := 0; first < n; first += batch {
		last := min(first+batch, n)
		g.Go(func() error {
			objs := make(chan minio.SnowballObject, 256)
			go func() {
				defer close(objs)
				for i := first; i < last; i++ {
					select {
					case objs <- minio.SnowballObject{Key: benchKey(prefix, i, n, prefixes), Size: 1, Content: bytes.NewReader([]byte{'x'})}:
					case <-gctx.Done():
						return
					}
				}
			}()
			err := st.Client().PutObjectsSnowball(gctx, benchSrcBucket, minio.SnowballOptions{InMemory: true}, objs)
			for range objs {
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	if _, err := st.Put(ctx, benchSrcBucket, marker, bytes.NewReader(nil), 0, block.PutOptions{}); err != nil {
		return "", err
	}
	d := time.Since(start)
	b.say("seeded in %.1fs", d.Seconds())
	return fmt.Sprintf("%s: %d objects seeded in %.1fs", prefix, n, d.Seconds()), nil
}

// benchKey names object i of n spread over prefixes sub-prefixes, so that
// each sub-prefix holds a contiguous run of i.
func benchKey(prefix string, i, n, prefixes int) string {
	per := (n + prefixes - 1) / prefixes
	return fmt.Sprintf("%sp%04d/obj-%08d", prefix, i/per, i)
}

// measure times bare listings of prefix and imports of it through the
// endpoint of cfg, in rounds that alternate which goes first; the ratio is
// of the totals.
func (b *benchImport) measure(ctx context.Context, name string, cfg s3.Config, prefix string, n, rounds int) (benchImportRun, error) {
	run := benchImportRun{Name: name, Objects: n, Rounds: rounds}
	lister, err := s3.New(cfg)
	if err != nil {
		return run, err
	}
	core := &minio.Core{Client: lister.Client()}
	var cpu time.Duration
	for r := range rounds {
		list := func() error {
			m0 := b.minioCPU()
			d, count, err := benchList(ctx, core, prefix)
			if err != nil {
				return err
			}
			run.ListMinIOCPU += (b.minioCPU() - m0).Seconds()
			if count != n {
				return fmt.Errorf("listing found %d objects under %s, want %d", count, prefix, n)
			}
			b.say("%s, round %d: bare list %.2fs", name, r+1, d.Seconds())
			run.ListSeconds += d.Seconds()
			return nil
		}
		imp := func() error {
			res, err := b.importOnce(ctx, name, cfg, prefix, n)
			if err != nil {
				return err
			}
			run.ImportMinIOCPU += res.minioCPU.Seconds()
			b.say("%s, round %d: import %.2fs (%d shards), worker CPU %.2fs, peak RSS %.1f MiB",
				name, r+1, res.took.Seconds(), res.shards, res.cpu.Seconds(), float64(res.rss)/(1<<20))
			run.ImportSeconds += res.took.Seconds()
			run.Shards = res.shards
			run.WorkerPeakRSS = max(run.WorkerPeakRSS, res.rss)
			for i, rss := range res.againRSS {
				run.WorkerAgainRSS = max(run.WorkerAgainRSS, rss)
				b.say("%s, round %d: the same import again in that worker (%d): peak RSS %.1f MiB", name, r+1, i+1, float64(rss)/(1<<20))
			}
			run.Jobs = append(run.Jobs, res.job)
			cpu += res.cpu
			return nil
		}
		phases := []func() error{list, imp}
		if r%2 == 1 {
			phases = []func() error{imp, list}
		}
		for _, phase := range phases {
			if err := phase(); err != nil {
				return run, err
			}
		}
	}
	run.Ratio = run.ImportSeconds / run.ListSeconds
	run.WorkerCPU = cpu.Seconds()
	run.CPUPerObjectUS = float64(cpu.Microseconds()) / float64(n*rounds)
	return run, nil
}

// importResult is one measured import.
type importResult struct {
	took     time.Duration
	cpu      time.Duration
	minioCPU time.Duration
	rss      int64
	againRSS []int64 // of the further imports (--again)
	shards   int64
	job      string
}

// importOnce starts a worker process and an API over cfg's endpoint,
// imports prefix into a new repository, and measures the import from the
// submission to the commit, with the worker's CPU time and peak memory.
func (b *benchImport) importOnce(ctx context.Context, name string, cfg s3.Config, prefix string, n int) (importResult, error) {
	var res importResult
	w, err := b.startWorker(ctx, cfg, name)
	if err != nil {
		return res, err
	}
	defer w.stop()
	srv, c, err := b.startAPI(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer srv.Stop(context.WithoutCancel(ctx))
	cpu0, err := procCPU(w.pid())
	if err != nil {
		return res, err
	}
	m0 := b.minioCPU()
	start := time.Now()
	final, err := b.importPrefix(ctx, c, prefix, n)
	if err != nil {
		return res, err
	}
	res.took = time.Since(start)
	res.minioCPU = b.minioCPU() - m0
	cpu1, err := procCPU(w.pid())
	if err != nil {
		return res, err
	}
	if res.rss, err = procPeakRSS(w.pid()); err != nil {
		return res, err
	}
	res.cpu, res.shards, res.job = cpu1-cpu0, final.Progress.Tasks, string(final.ID)
	for i := range b.f.again {
		if err := resetPeakRSS(w.pid()); err != nil {
			return res, err
		}
		if _, err := b.importPrefix(ctx, c, prefix, n); err != nil {
			return res, fmt.Errorf("import %d in the same worker: %w", i+2, err)
		}
		rss, err := procPeakRSS(w.pid())
		if err != nil {
			return res, err
		}
		res.againRSS = append(res.againRSS, rss)
	}
	return res, nil
}

// importPrefix imports prefix, of n objects, into a new repository through
// c and waits for the import to complete.
func (b *benchImport) importPrefix(ctx context.Context, c *client.Client, prefix string, n int) (*jobs.Job, error) {
	b.repoN++
	repo := fmt.Sprintf("bench-%d", b.repoN)
	ns := "s3://" + benchNSBucket + "/" + strings.TrimSuffix(b.prefix, ":") + "/" + repo + "/"
	if _, err := c.CreateRepository(ctx, client.RepositoryCreation{Name: repo, StorageNamespace: ns, DefaultBranch: "main"}); err != nil {
		return nil, err
	}
	id, err := c.ImportStart(ctx, repo, "main", client.ImportCreation{
		Paths:  []client.ImportLocation{{Type: client.ImportCommonPrefix, Path: "s3://" + benchSrcBucket + "/" + prefix, Destination: "data/"}},
		Commit: client.ImportCommit{Message: "bench import of " + prefix},
	})
	if err != nil {
		return nil, err
	}
	final, err := b.waitJob(ctx, store.JobID(id))
	if err != nil {
		return nil, err
	}
	if final.State != jobs.StateCompleted {
		return nil, fmt.Errorf("import %s ended %s: %s", id, final.State, final.Error)
	}
	var out jobs.ImportResult
	if err := json.Unmarshal(final.Result, &out); err != nil {
		return nil, err
	}
	if out.Ingested != int64(n) {
		return nil, fmt.Errorf("import %s ingested %d objects, want %d", id, out.Ingested, n)
	}
	return final, nil
}

// minioCPU returns the CPU time MinIO has used, or 0 when the benchmark
// did not start it.
func (b *benchImport) minioCPU() time.Duration {
	if b.minioPID == 0 {
		return 0
	}
	d, err := procCPU(b.minioPID)
	if err != nil {
		return 0
	}
	return d
}

// benchList lists prefix with sequential ListObjectsV2 requests of 1,000
// keys and returns the time taken and the number of objects.
func benchList(ctx context.Context, core *minio.Core, prefix string) (time.Duration, int, error) {
	start := time.Now()
	n, token := 0, ""
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		res, err := core.ListObjectsV2(benchSrcBucket, prefix, "", token, "", 1000)
		if err != nil {
			return 0, 0, err
		}
		n += len(res.Contents)
		if !res.IsTruncated {
			return time.Since(start), n, nil
		}
		token = res.NextContinuationToken
	}
}

// startAPI serves the API in process over the shared KV and broker, with
// the object store at cfg's endpoint, and returns a client of it.
func (b *benchImport) startAPI(ctx context.Context, cfg s3.Config) (*api.Server, *client.Client, error) {
	st, err := s3.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	resolver, err := block.NewResolver(block.ResolverConfig{S3: st})
	if err != nil {
		return nil, nil, err
	}
	trees, err := tree.NewManager(tree.Config{})
	if err != nil {
		return nil, nil, err
	}
	gr := graph.New(b.kv, trees, resolver, graph.Config{Logger: b.log})
	srv, err := api.New(api.Config{Listen: "127.0.0.1:0", Logger: b.log, Version: version},
		api.Deps{Graph: gr, Auth: b.auth, Jobs: b.jobs, Broker: b.broker, Registry: prometheus.NewRegistry()})
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, nil, err
	}
	c, err := client.New(client.Config{Endpoint: "http://" + srv.Addr(), AccessKeyID: b.keyID, SecretAccessKey: b.secret, UserAgent: "lakeq-bench"})
	if err != nil {
		srv.Stop(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	return srv, c, nil
}

// waitJob follows job id's events until its final one and returns the
// job's state.
func (b *benchImport) waitJob(ctx context.Context, id store.JobID) (*jobs.Job, error) {
	filter, err := broker.EventFilter("", string(jobs.KindImport), id)
	if err != nil {
		return nil, err
	}
	es, err := b.broker.SubscribeEvents(ctx, filter, broker.FromFirst())
	if err != nil {
		return nil, err
	}
	defer es.Stop()
	for {
		nctx, cancel := context.WithTimeout(ctx, time.Second)
		ev, err := es.Next(nctx)
		cancel()
		if err == nil {
			var je jobs.Event
			if json.Unmarshal(ev.Data, &je) == nil && je.Type.Final() {
				return b.jobs.Get(ctx, id)
			}
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// No event for a second: look at the job itself.
		j, err := b.jobs.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if j.State.Terminal() {
			return j, nil
		}
	}
}

// benchWorker is a `lakeq worker` process.
type benchWorker struct {
	cmd  *exec.Cmd
	done chan struct{}
	out  *bytes.Buffer
}

func (w *benchWorker) pid() int { return w.cmd.Process.Pid }

// stop ends the worker with SIGTERM (SIGKILL after 30s) and waits for it.
func (w *benchWorker) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// startWorker starts a `lakeq worker` process serving imports against the
// endpoint of cfg, and waits until it is fetching import jobs.
func (b *benchImport) startWorker(ctx context.Context, cfg s3.Config, name string) (*benchWorker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "worker",
		"--nats-url", b.natsURL,
		"--redis-url", b.redisURL,
		"--redis-key-prefix", b.prefix,
		"--s3-endpoint", cfg.Endpoint,
		"--s3-access-key-id", cfg.AccessKeyID,
		"--s3-secret-access-key", cfg.SecretAccessKey,
		"--s3-path-style",
		"--kinds", string(jobs.KindImport),
		"--task-concurrency", strconv.Itoa(b.f.taskConcurrency),
		"--worker-id", "bench-"+strings.ReplaceAll(name, " ", "-"),
		"--log-level", "warn",
	)
	if b.f.debugAddr != "" {
		cmd.Args = append(cmd.Args, "--debug-addr", b.f.debugAddr)
	}
	if b.f.memoryLimit != "" {
		cmd.Args = append(cmd.Args, "--memory-limit", b.f.memoryLimit)
	}
	if b.f.cpuProfile != "" {
		b.profileN++
		cmd.Args = append(cmd.Args, "--cpu-profile", fmt.Sprintf("%s.%s.%d", b.f.cpuProfile, strings.ReplaceAll(name, " ", "-"), b.profileN))
	}
	cmd.Env = os.Environ()
	w := &benchWorker{cmd: cmd, done: make(chan struct{}), out: &bytes.Buffer{}}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start lakeq worker: %w", err)
	}
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(w.done)
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
				b.say("worker: %s", line)
			}
		}
	}()
	if err := b.waitWorkerReady(ctx, w); err != nil {
		w.stop()
		return nil, err
	}
	return w, nil
}

// waitWorkerReady waits until a worker waits for import tasks: the durable
// consumer of import tasks has a pull request pending.
func (b *benchImport) waitWorkerReady(ctx context.Context, w *benchWorker) error {
	durable, err := broker.Tasks.Durable(string(jobs.KindImport))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-w.done:
			return errors.New("lakeq worker exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		cons, err := b.broker.JetStream().Consumer(ctx, broker.StreamTasks, durable)
		if err != nil {
			continue
		}
		info, err := cons.Info(ctx)
		if err == nil && info.NumWaiting > 0 {
			return nil
		}
	}
	return errors.New("lakeq worker not ready after 60s")
}

// procCPU returns the user plus system CPU time process pid has used.
func procCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("worker CPU time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after it are
	// separated by single spaces: utime is field 14, stime field 15.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("worker CPU time: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("worker CPU time: bad /proc/%d/stat", pid)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// resetPeakRSS resets process pid's peak resident set size to its
// resident set size now (Linux's clear_refs, "5").
func resetPeakRSS(pid int) error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset the worker's peak RSS: %w", err)
	}
	return nil
}

// procPeakRSS returns process pid's peak resident set size (VmHWM).
func procPeakRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("worker peak RSS: %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("worker peak RSS: %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("worker peak RSS: no VmHWM in /proc status")
}

// startLatencyProxy starts a TCP proxy to upstream that delays every
// response by latency, and returns its address and a stop function.
func startLatencyProxy(upstream string, latency time.Duration) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "s3", addr, upstream)
	if err := srv.Collection.Add(p, true); err != nil {
		return "", nil, fmt.Errorf("latency proxy: %w", err)
	}
	toxic := fmt.Sprintf(`{"name":"latency","type":"latency","stream":"downstream","attributes":{"latency":%d}}`, latency.Milliseconds())
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
		p.Stop()
		return "", nil, fmt.Errorf("latency proxy: %w", err)
	}
	return p.Listen, p.Stop, nil
}
