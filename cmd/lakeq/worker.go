package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/redis"
	"github.com/lakeq/lakeq/workers"
	"github.com/lakeq/lakeq/workers/exporter"
	"github.com/lakeq/lakeq/workers/importer"
)

// runnerFlags are the job-runner settings `worker` and `up` share.
type runnerFlags struct {
	kinds           []string
	concurrency     int
	taskConcurrency int
	workerID        string
	expireAfter     time.Duration
}

// register adds the runner flags to cmd.
func (f *runnerFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.kinds, "kinds", nil, "job kinds this worker runs, comma-separated (import, export); default all")
	fl.IntVar(&f.concurrency, "concurrency", workers.DefaultConcurrency, "jobs of each kind run at once")
	fl.IntVar(&f.taskConcurrency, "task-concurrency", workers.DefaultTaskConcurrency, "tasks of each kind (an import's shards, an export's ranges) run at once")
	fl.StringVar(&f.workerID, "worker-id", "", "this worker's name in job records and events (default <hostname>-<pid>)")
	fl.DurationVar(&f.expireAfter, "job-retention", workers.DefaultExpireAfter, "how long finished jobs are kept before they are deleted (0: forever)")
}

// config returns the runner configuration of the flags.
func (f *runnerFlags) config() workers.Config {
	cfg := workers.Config{
		WorkerID:        f.workerID,
		Concurrency:     f.concurrency,
		TaskConcurrency: f.taskConcurrency,
		ExpireAfter:     f.expireAfter,
	}
	if f.expireAfter == 0 {
		cfg.ExpireAfter = -1
	}
	for _, k := range f.kinds {
		if k = strings.TrimSpace(k); k != "" {
			cfg.Kinds = append(cfg.Kinds, jobs.Kind(k))
		}
	}
	return cfg
}

// handlerKinds are the job kinds jobHandlers has a handler for.
var handlerKinds = []jobs.Kind{jobs.KindImport, jobs.KindExport}

// checkKinds reports a kind the workers cannot run, before anything is
// started.
func (f *runnerFlags) checkKinds() error {
	cfg := f.config()
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, k := range cfg.Kinds {
		if !slices.Contains(handlerKinds, k) {
			return fmt.Errorf("--kinds: kind %q has no registered handler (known: %s)", k, joinKinds(handlerKinds))
		}
	}
	return nil
}

// jobHandlers returns a handler of every job kind lakeq runs (handlerKinds),
// over the server's core and metadata KV.
func jobHandlers(c *core, kvs kv.Store) ([]workers.Handler, error) {
	imp, err := importer.New(importer.Config{}, importer.Deps{Graph: c.graph, KV: kvs})
	if err != nil {
		return nil, err
	}
	exp, err := exporter.New(exporter.Config{}, exporter.Deps{Graph: c.graph, KV: kvs})
	if err != nil {
		return nil, err
	}
	return []workers.Handler{imp, exp}, nil
}

// workerComponent runs the job workers over the core, the KV and the
// broker of the components started before it. Stopping it stops fetching
// jobs at once and waits, as long as the shutdown grace allows, for the
// jobs under way; the rest are redelivered to other workers.
func workerComponent(f *runnerFlags, c **core, kvs func() kv.Store, brk **broker.Broker, log *slog.Logger, r **workers.Runner) component {
	// The continuous-export watcher runs wherever exports run; any number
	// of them may (a compare-and-swap on each rule picks one submitter).
	var watcher *exporter.Watcher
	return component{
		name: "workers",
		start: func(ctx context.Context) error {
			handlers, err := jobHandlers(*c, kvs())
			if err != nil {
				return err
			}
			runner, err := workers.New(f.config(), workers.Deps{Broker: *brk, Jobs: (*c).jobs, Graph: (*c).graph, Logger: log})
			if err != nil {
				return err
			}
			for _, h := range handlers {
				if err := runner.Register(h); err != nil {
					return err
				}
			}
			if err := runner.Start(ctx); err != nil {
				return err
			}
			*r = runner
			if slices.Contains(runner.Kinds(), jobs.KindExport) {
				w, err := exporter.NewWatcher(exporter.WatcherConfig{}, exporter.WatcherDeps{Graph: (*c).graph, Jobs: (*c).jobs, Broker: *brk, Logger: log})
				if err != nil {
					return err
				}
				if err := w.Start(ctx); err != nil {
					return err
				}
				watcher = w
			}
			return nil
		},
		stop: func(ctx context.Context) error {
			if watcher != nil {
				if err := watcher.Stop(ctx); err != nil {
					return err
				}
			}
			if *r == nil {
				return nil
			}
			return (*r).Stop(ctx)
		},
	}
}

// workerFlags are the flags of `lakeq worker`.
type workerFlags struct {
	runnerFlags
	importAllow    []string
	grace          time.Duration
	logLevel       string
	logFormat      string
	redisURL       string
	redisKeyPrefix string
	s3             s3.Config
	natsURL        string
	cpuProfile     string
	debugAddr      string
	memoryLimit    string
	treeCache      string
}

// newWorkerCmd builds `lakeq worker`.
func newWorkerCmd(g *globals) *cobra.Command {
	f := &workerFlags{}
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run job workers against Redis, S3 and NATS (production role)",
		Long: `Run the worker role: take import and export jobs (and the tasks they fan
out into) from NATS JetStream (--nats-url), keep their state in Redis
(--redis-url) and move data in S3-compatible storage (--s3-endpoint …).
Any number of worker processes may share them; each job or task goes to
one of them, and a worker may serve a subset of the kinds (--kinds).

SIGINT or SIGTERM stops fetching new work at once, then waits for the jobs
under way as long as --shutdown-grace allows; what is left is redelivered
to another worker.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWorker(cmd, f)
		},
	}
	f.runnerFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringSliceVar(&f.importAllow, "import-allow", nil, "local directories that imports and exports may read or write (local:///path URIs), comma-separated")
	fl.DurationVar(&f.grace, "shutdown-grace", 30*time.Second, "how long shutdown waits for the jobs under way")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.redisURL, "redis-url", redis.DefaultURL, "Redis URL (redis://host:port/db, rediss:// for TLS; comma-separated for a cluster)")
	fl.StringVar(&f.redisKeyPrefix, "redis-key-prefix", redis.DefaultKeyPrefix, "prefix of every Redis key, to share one Redis between installations")
	fl.StringVar(&f.s3.Endpoint, "s3-endpoint", "", "S3 endpoint as host:port, e.g. 127.0.0.1:9000 (required)")
	fl.StringVar(&f.s3.Region, "s3-region", s3.DefaultRegion, "S3 region")
	fl.StringVar(&f.s3.AccessKeyID, "s3-access-key-id", "", "S3 access key id")
	fl.StringVar(&f.s3.SecretAccessKey, "s3-secret-access-key", "", "S3 secret access key")
	fl.BoolVar(&f.s3.PathStyle, "s3-path-style", false, "use path-style S3 requests (MinIO and most S3-compatible servers)")
	fl.BoolVar(&f.s3.Secure, "s3-secure", false, "use https to reach S3")
	fl.StringVar(&f.natsURL, "nats-url", broker.DefaultURL, "NATS server URLs, comma-separated")
	fl.StringVar(&f.memoryLimit, "memory-limit", "", "soft limit of the Go runtime's memory, e.g. 512MiB (as GOMEMLIMIT; none: GOMEMLIMIT or no limit)")
	fl.StringVar(&f.treeCache, "tree-cache", defaultWorkerTreeCache, "memory of the decoded ranges and metaranges the worker keeps for the commits it reads again, e.g. 64MiB")
	fl.StringVar(&f.debugAddr, "debug-addr", "", "serve Prometheus metrics (/metrics) and Go profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (without it, allocations are not sampled for the heap profile)")
	fl.StringVar(&f.cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	_ = cmd.MarkFlagRequired("s3-endpoint")
	return cmd
}

// defaultWorkerTreeCache bounds the decoded trees a worker keeps: a job
// reads its branch's metarange once per commit and an export each range
// once, so a worker gains little from keeping them, and a long-running one
// would otherwise keep every import's metarange (about 200 KB per 1,000,000
// objects) up to the cache's count.
const defaultWorkerTreeCache = "512KiB"

// parseSize parses value, the size given to --flag, such as example.
func parseSize(flag, value, example string) (int64, error) {
	n, err := humanize.ParseBytes(value)
	if err != nil || n == 0 || n > math.MaxInt64 {
		return 0, fmt.Errorf("--%s %q: want a size such as %s", flag, value, example)
	}
	return int64(n), nil
}

func runWorker(cmd *cobra.Command, f *workerFlags) error {
	log, err := (&serverFlags{logLevel: f.logLevel, logFormat: f.logFormat}).logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if err := f.checkKinds(); err != nil {
		return err
	}
	if f.memoryLimit != "" {
		n, err := parseSize("memory-limit", f.memoryLimit, "512MiB")
		if err != nil {
			return err
		}
		debug.SetMemoryLimit(n)
	}
	treeCache, err := parseSize("tree-cache", f.treeCache, "512KiB")
	if err != nil {
		return err
	}
	sampleHeap(f.debugAddr != "")
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	ctx, stopSignals := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	// Once shutdown has begun, a second signal ends the process at once.
	context.AfterFunc(ctx, stopSignals)

	var (
		kvs      *redis.Store
		resolver *block.Resolver
		c        *core
		brk      *broker.Broker
		runner   *workers.Runner
	)
	lc := &lifecycle{log: log}
	lc.add(debugComponent(f.debugAddr, log))
	lc.add(component{
		name: "kv",
		start: func(ctx context.Context) (err error) {
			kvs, err = redis.New(ctx, redis.Config{URL: f.redisURL, KeyPrefix: f.redisKeyPrefix})
			return err
		},
		stop: func(context.Context) error { return kvs.Close() },
	})
	lc.add(component{
		name: "store",
		start: func(ctx context.Context) error {
			objects, err := s3.New(f.s3)
			if err != nil {
				return err
			}
			probeObjects(ctx, objects, log)
			if resolver, err = newResolver(objects, nil, f.importAllow); err != nil {
				return err
			}
			c, err = newCore(kvs, resolver, treeCache, log)
			return err
		},
		stop: func(context.Context) error { return resolver.Close() },
	})
	lc.add(brokerComponent(func() string { return f.natsURL }, log, &brk))
	lc.add(workerComponent(&f.runnerFlags, &c, func() kv.Store { return kvs }, &brk, log, &runner))
	return lc.run(ctx, f.grace, func() {
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "lakeq worker %s is running\n", version)
		fmt.Fprintf(w, "  Kinds:       %s\n", joinKinds(runner.Kinds()))
		fmt.Fprintf(w, "  Redis:       %s\n", f.redisURL)
		fmt.Fprintf(w, "  S3:          %s\n", f.s3.Endpoint)
		fmt.Fprintf(w, "  NATS:        %s\n", f.natsURL)
		fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n")
	})
}

// joinKinds lists kinds comma-separated.
func joinKinds(kinds []jobs.Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
