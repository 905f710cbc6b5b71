package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers"
	"github.com/lakeq/lakeq/workers/exporter"
)

func init() { benchCommands = append(benchCommands, newBenchExportCmd) }

// benchExportFlags are the flags of `lakeq bench export`.
type benchExportFlags struct {
	objects         int
	size            int
	parallelism     int
	seedParallelism int
	taskConcurrency int
	minioBin        string
	dir             string
	keep            bool
	verify          bool
	cpuProfile      string
	rounds          int
}

// newBenchExportCmd builds `lakeq bench export`.
func newBenchExportCmd(g *globals) *cobra.Command {
	f := &benchExportFlags{}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export objects MinIO → MinIO and compare with bare server-side copies",
		Long: `Start a MinIO server, an embedded NATS server and an embedded KV in a
temporary directory; write --objects small objects into a repository and
commit them; then, at the same parallelism on the same MinIO:

  bare    copy every object with one server-side CopyObject request each,
          --parallelism at a time, in a shuffled order (the physical limit
          of the operation);
  export  export the commit to another bucket with a lakeq export job (one
          worker, --parallelism copies at a time), from submission until
          the job completed and wrote its status file.

Each of --rounds rounds runs both phases into fresh buckets, alternating
which goes first, so that a machine whose load changes during the run
weighs on both alike. It prints the times of every round and the ratio of
the totals (export / bare).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchExport(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.objects, "objects", 100000, "objects to export")
	fl.IntVar(&f.size, "size", 256, "bytes per object")
	fl.IntVar(&f.parallelism, "parallelism", 32, "copies at a time, for both the export and the bare copies")
	fl.IntVar(&f.seedParallelism, "seed-parallelism", 64, "uploads at a time while writing the objects")
	fl.IntVar(&f.taskConcurrency, "task-concurrency", 8, "export tasks the worker runs at a time (they share the parallelism)")
	fl.StringVar(&f.minioBin, "minio-bin", "", "MinIO binary (default $LAKEQ_MINIO_BIN, then minio on PATH, then ~/.cache/lakeq/bin/minio)")
	fl.StringVar(&f.dir, "dir", "", "directory for the servers' data (default a new temporary directory, removed at the end)")
	fl.BoolVar(&f.keep, "keep", false, "keep the data directory")
	fl.BoolVar(&f.verify, "verify", true, "check that the destination holds every object and one status file")
	fl.StringVar(&f.cpuProfile, "cpu-profile", "", "write a CPU profile of the export phases to this file")
	fl.IntVar(&f.rounds, "rounds", 2, "measurement rounds; each runs both phases, alternating which goes first, into fresh buckets")
	return cmd
}

// benchExportReport is what `lakeq bench export` measured.
type benchExportReport struct {
	Objects       int     `json:"objects"`
	ObjectSize    int     `json:"object_size"`
	Parallelism   int     `json:"parallelism"`
	SeedSeconds   float64 `json:"seed_seconds"`
	CommitSeconds float64 `json:"commit_seconds"`
	// BareSeconds and ExportSeconds are the totals over the rounds.
	BareSeconds   float64            `json:"bare_seconds"`
	ExportSeconds float64            `json:"export_seconds"`
	Ratio         float64            `json:"ratio"`
	Rounds        []benchExportRound `json:"rounds"`
}

// benchExportRound is one measurement of both phases.
type benchExportRound struct {
	BareSeconds   float64 `json:"bare_seconds"`
	ExportSeconds float64 `json:"export_seconds"`
	ExportJob     string  `json:"export_job"`
	StatusFile    string  `json:"status_file"`
	// The CPU time MinIO and this process (client, or lakeq's worker)
	// spent in each phase: unlike wall time, it does not depend on what
	// else the machine runs meanwhile.
	BareCPU   benchCPU `json:"bare_cpu"`
	ExportCPU benchCPU `json:"export_cpu"`
}

// benchCPU is CPU time, in seconds, of the object store and of lakeq.
type benchCPU struct {
	MinIO float64 `json:"minio_seconds"`
	Lakeq float64 `json:"lakeq_seconds"`
}

// cpuNow returns the CPU time so far of process pid (from /proc; 0 where
// unavailable) and of this process.
func cpuNow(pid int) benchCPU {
	var c benchCPU
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command's closing parenthesis; utime and stime
		// are the 12th and 13th of them, in clock ticks (100 per second).
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 13 {
				u, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				c.MinIO = (u + st) / 100
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.Lakeq = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return c
}

// since returns the CPU time spent since start.
func (c benchCPU) since(start benchCPU) benchCPU {
	return benchCPU{MinIO: c.MinIO - start.MinIO, Lakeq: c.Lakeq - start.Lakeq}
}

func runBenchExport(cmd *cobra.Command, g *globals, f *benchExportFlags) error {
	if f.objects < 1 || f.size < 1 || f.parallelism < 1 || f.parallelism > jobs.MaxExportParallelism || f.seedParallelism < 1 || f.taskConcurrency < 1 || f.rounds < 1 {
		return fmt.Errorf("--objects, --size, --seed-parallelism, --task-concurrency and --rounds must be positive and --parallelism 1 to %d", jobs.MaxExportParallelism)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errw := cmd.ErrOrStderr()
	log := slog.New(slog.NewTextHandler(errw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	say := func(format string, args ...any) {
		if g.output == outputTable {
			fmt.Fprintf(errw, format+"\n", args...)
		}
	}

	dir := f.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "lakeq-bench-export-")
		if err != nil {
			return err
		}
		dir = d
	}
	if !f.keep {
		defer os.RemoveAll(dir)
	}

	minioSrv, err := startBenchMinIO(ctx, f.minioBin, filepath.Join(dir, "minio"))
	if err != nil {
		return err
	}
	defer minioSrv.stop()
	say("MinIO at %s (data in %s)", minioSrv.cfg.Endpoint, dir)
	s3s, err := s3.New(minioSrv.cfg)
	if err != nil {
		return err
	}
	const srcBucket = "bench-src"
	if err := s3s.MakeBucket(ctx, srcBucket); err != nil {
		return err
	}

	kvs, err := bolt.Open(filepath.Join(dir, "kv.db"), bolt.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer kvs.Close()
	resolver, err := block.NewResolver(block.ResolverConfig{S3: s3s})
	if err != nil {
		return err
	}
	trees, err := tree.NewManager(tree.Config{})
	if err != nil {
		return err
	}
	gr := graph.New(kvs, trees, resolver, graph.Config{Logger: log})
	const repo = store.RepoID("bench")
	if _, err := gr.CreateRepository(ctx, repo, "s3://"+srcBucket+"/repo/", "main"); err != nil {
		return err
	}

	rep := benchExportReport{Objects: f.objects, ObjectSize: f.size, Parallelism: f.parallelism}
	say("writing %d objects of %d bytes…", f.objects, f.size)
	start := time.Now()
	entries, err := seedBenchObjects(ctx, s3s, gr, repo, f.objects, f.size, f.seedParallelism)
	if err != nil {
		return err
	}
	rep.SeedSeconds = time.Since(start).Seconds()
	start = time.Now()
	commit, err := gr.CommitTree(ctx, repo, "main", graph.CommitParams{Message: "bench objects", Committer: "bench"}, false,
		func(ctx context.Context, ns tree.Namespace, _ *graph.Commit) (tree.MetaRangeID, error) {
			w := trees.NewWriter(ctx, ns)
			for i := range entries {
				if err := w.Add(&entries[i]); err != nil {
					w.Abort()
					return "", err
				}
			}
			return w.Close()
		})
	if err != nil {
		return err
	}
	rep.CommitSeconds = time.Since(start).Seconds()
	say("seeded in %.1fs, committed %s in %.1fs", rep.SeedSeconds, commit.ID[:12], rep.CommitSeconds)

	natsSrv, err := natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return err
	}
	if err := natsSrv.Start(ctx); err != nil {
		return err
	}
	defer natsSrv.Stop(context.WithoutCancel(ctx))
	brk, err := broker.Connect(ctx, broker.Config{URL: natsSrv.ClientURL(), Logger: log})
	if err != nil {
		return err
	}
	defer brk.Close(context.WithoutCancel(ctx))
	jobStore := jobs.NewStore(kvs, nil)
	h, err := exporter.New(exporter.Config{}, exporter.Deps{Graph: gr, KV: kvs})
	if err != nil {
		return err
	}
	runner, err := workers.New(workers.Config{WorkerID: "bench", TaskConcurrency: f.taskConcurrency, ExpireAfter: -1},
		workers.Deps{Broker: brk, Jobs: jobStore, Graph: gr, Logger: log})
	if err != nil {
		return err
	}
	if err := runner.Register(h); err != nil {
		return err
	}
	if err := runner.Start(ctx); err != nil {
		return err
	}
	defer runner.Stop(context.WithoutCancel(ctx))

	ns, err := gr.Namespace(ctx, repo)
	if err != nil {
		return err
	}
	for r := range f.rounds {
		var round benchExportRound
		bare := func() error {
			bucket := fmt.Sprintf("bench-bare-%d", r)
			if err := s3s.MakeBucket(ctx, bucket); err != nil {
				return err
			}
			say("round %d: bare: %d server-side copies, %d at a time…", r+1, f.objects, f.parallelism)
			cpu := cpuNow(minioSrv.pid())
			d, err := benchBareCopy(ctx, s3s.Client(), ns, entries, bucket, f.parallelism)
			if err != nil {
				return err
			}
			round.BareSeconds, round.BareCPU = d.Seconds(), cpuNow(minioSrv.pid()).since(cpu)
			say("round %d: bare:   %.2fs (%.0f objects/s); CPU: MinIO %.1fs, client %.1fs", r+1, d.Seconds(),
				float64(f.objects)/d.Seconds(), round.BareCPU.MinIO, round.BareCPU.Lakeq)
			return nil
		}
		export := func() error {
			bucket := fmt.Sprintf("bench-export-%d", r)
			if err := s3s.MakeBucket(ctx, bucket); err != nil {
				return err
			}
			say("round %d: export: lakeq export job, parallelism %d…", r+1, f.parallelism)
			stopProfile, err := startBenchProfile(f.cpuProfile, r)
			if err != nil {
				return err
			}
			cpu := cpuNow(minioSrv.pid())
			res, id, d, err := benchExportJob(ctx, jobStore, brk, repo, commit.ID, "s3://"+bucket+"/out/", f.parallelism)
			stopProfile()
			if err != nil {
				return err
			}
			round.ExportSeconds, round.ExportJob, round.StatusFile = d.Seconds(), string(id), res.StatusFile
			round.ExportCPU = cpuNow(minioSrv.pid()).since(cpu)
			say("round %d: export: %.2fs (%.0f objects/s), job %s; CPU: MinIO %.1fs, lakeq %.1fs", r+1, d.Seconds(),
				float64(f.objects)/d.Seconds(), id, round.ExportCPU.MinIO, round.ExportCPU.Lakeq)
			if f.verify {
				return verifyBenchExport(ctx, s3s, bucket, "out/", f.objects)
			}
			return nil
		}
		phases := []func() error{bare, export}
		if r%2 == 1 {
			phases = []func() error{export, bare}
		}
		for _, phase := range phases {
			if err := phase(); err != nil {
				return err
			}
		}
		rep.Rounds = append(rep.Rounds, round)
		rep.BareSeconds += round.BareSeconds
		rep.ExportSeconds += round.ExportSeconds
	}
	rep.Ratio = rep.ExportSeconds / rep.BareSeconds
	return newPrinter(cmd.OutOrStdout(), g.output).object(rep, func(w io.Writer) {
		fmt.Fprintf(w, "objects:     %d × %d bytes, parallelism %d, %d rounds\n", rep.Objects, rep.ObjectSize, rep.Parallelism, len(rep.Rounds))
		for i, r := range rep.Rounds {
			fmt.Fprintf(w, "round %d:     bare %.2fs, export %.2fs (ratio %.3f); MinIO CPU bare %.1fs, export %.1fs; client/lakeq CPU %.1fs, %.1fs\n",
				i+1, r.BareSeconds, r.ExportSeconds, r.ExportSeconds/r.BareSeconds, r.BareCPU.MinIO, r.ExportCPU.MinIO, r.BareCPU.Lakeq, r.ExportCPU.Lakeq)
		}
		n := float64(rep.Objects * len(rep.Rounds))
		fmt.Fprintf(w, "bare copy:   %.2fs  (%.0f objects/s)\n", rep.BareSeconds, n/rep.BareSeconds)
		fmt.Fprintf(w, "export job:  %.2fs  (%.0f objects/s)\n", rep.ExportSeconds, n/rep.ExportSeconds)
		fmt.Fprintf(w, "ratio:       %.3f  (export / bare, totals)\n", rep.Ratio)
	})
}

// startBenchProfile starts a CPU profile of one export phase into
// path.<round> when path is set, and returns what stops it.
func startBenchProfile(path string, round int) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	return startCPUProfile(fmt.Sprintf("%s.%d", path, round))
}

// seedBenchObjects writes n objects of size bytes into the repository's
// namespace, seedParallelism at a time, and returns their entries in path
// order.
func seedBenchObjects(ctx context.Context, s3s *s3.Store, gr *graph.Graph, repo store.RepoID, n, size, parallelism int) ([]store.Entry, error) {
	ns, err := gr.Namespace(ctx, repo)
	if err != nil {
		return nil, err
	}
	entries := make([]store.Entry, n)
	body := make([]byte, size)
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(parallelism)
	now := time.Now().UTC()
	for i := range n {
		eg.Go(func() error {
			data := make([]byte, size)
			copy(data, body)
			copy(data, fmt.Sprintf("object %d\n", i))
			addr := fmt.Sprintf("data/bench/%08d", i)
			info, err := s3s.Put(ectx, ns.Bucket, ns.Prefix+addr, strings.NewReader(string(data)), int64(size), block.PutOptions{ContentType: "application/octet-stream"})
			if err != nil {
				return err
			}
			entries[i] = store.Entry{
				Path:    fmt.Sprintf("tables/t%03d/part-%08d.bin", i/1000, i),
				Address: addr, Size: info.Size, ETag: info.ETag, MTime: now, ContentType: "application/octet-stream",
			}
			return nil
		})
	}
	return entries, eg.Wait()
}

// benchBareCopy copies every entry's object to bucket/out/<path> with one
// CopyObject request each, parallelism at a time, and returns how long it
// took. The objects go in a shuffled order: copies in path order would
// queue on one destination directory at a time (a filesystem-backed store
// creates the entries of a directory one by one), which is slower than
// the physical limit.
func benchBareCopy(ctx context.Context, client *minio.Client, ns tree.Namespace, entries []store.Entry, bucket string, parallelism int) (time.Duration, error) {
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(entries))
	var next atomic.Int64
	start := time.Now()
	eg, ectx := errgroup.WithContext(ctx)
	for range parallelism {
		eg.Go(func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(entries) {
					return nil
				}
				e := &entries[order[i]]
				_, err := client.CopyObject(ectx,
					minio.CopyDestOptions{Bucket: bucket, Object: "out/" + e.Path},
					minio.CopySrcOptions{Bucket: ns.Bucket, Object: ns.Prefix + e.Address})
				if err != nil {
					return fmt.Errorf("bare copy of %s: %w", e.Path, err)
				}
			}
		})
	}
	err := eg.Wait()
	return time.Since(start), err
}

// benchExportJob submits an export of commit to dest, as the API does,
// and waits for it; it returns the job's result and id and the time from
// submission to completion.
func benchExportJob(ctx context.Context, js *jobs.Store, brk *broker.Broker, repo store.RepoID, commit store.CommitID, dest string, parallelism int) (*jobs.ExportResult, store.JobID, time.Duration, error) {
	req, err := json.Marshal(jobs.ExportRequest{Ref: "main", CommitID: commit, Destination: dest, Parallelism: parallelism})
	if err != nil {
		return nil, "", 0, err
	}
	start := time.Now()
	j, err := js.Create(ctx, &jobs.Job{ID: jobs.NewID(start), Kind: jobs.KindExport, Repo: repo, Request: req})
	if err != nil {
		return nil, "", 0, err
	}
	if err := js.Queue(ctx, j, brk.QueueJob); err != nil {
		return nil, "", 0, err
	}
	for {
		cur, err := js.Get(ctx, j.ID)
		if err != nil {
			return nil, j.ID, 0, err
		}
		if cur.State.Terminal() {
			d := time.Since(start)
			if cur.State != jobs.StateCompleted {
				return nil, j.ID, d, fmt.Errorf("export %s ended %s: %s", j.ID, cur.State, cur.Error)
			}
			var res jobs.ExportResult
			if err := json.Unmarshal(cur.Result, &res); err != nil {
				return nil, j.ID, d, err
			}
			return &res, j.ID, d, nil
		}
		select {
		case <-ctx.Done():
			return nil, j.ID, 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// verifyBenchExport checks that prefix of bucket holds n objects and one
// status file.
func verifyBenchExport(ctx context.Context, s3s *s3.Store, bucket, prefix string, n int) error {
	objects, status := 0, 0
	it := block.ListAll(ctx, s3s, bucket, block.ListOptions{Prefix: prefix})
	for it.Next() {
		if strings.HasPrefix(strings.TrimPrefix(it.Item().Key, prefix), jobs.ExportStatusPrefix) {
			status++
		} else {
			objects++
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	if objects != n || status != 1 {
		return fmt.Errorf("export destination holds %d objects and %d status files, want %d and 1", objects, status, n)
	}
	return nil
}

// benchMinIO is a MinIO server the benchmark started.
type benchMinIO struct {
	cmd  *exec.Cmd
	cfg  s3.Config
	done chan struct{}
}

// startBenchMinIO starts MinIO with its data in dir on free ports of
// 127.0.0.1 and waits until it is ready.
func startBenchMinIO(ctx context.Context, bin, dir string) (*benchMinIO, error) {
	if bin == "" {
		bin = os.Getenv("LAKEQ_MINIO_BIN")
	}
	if bin == "" {
		if p, err := exec.LookPath("minio"); err == nil {
			bin = p
		} else if home, err := os.UserHomeDir(); err == nil {
			bin = filepath.Join(home, ".cache", "lakeq", "bin", "minio")
		}
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no MinIO binary (set --minio-bin or LAKEQ_MINIO_BIN): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ports, err := freeBenchPorts(2)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 12)
	if _, err := crand.Read(secret); err != nil {
		return nil, err
	}
	m := &benchMinIO{done: make(chan struct{}), cfg: s3.Config{
		Endpoint:        fmt.Sprintf("127.0.0.1:%d", ports[0]),
		AccessKeyID:     "lakeqbench",
		SecretAccessKey: hex.EncodeToString(secret),
		PathStyle:       true,
	}}
	m.cmd = exec.Command(bin, "server", dir, "--address", m.cfg.Endpoint,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", ports[1]), "--quiet")
	m.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+m.cfg.AccessKeyID, "MINIO_ROOT_PASSWORD="+m.cfg.SecretAccessKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start minio: %w", err)
	}
	go func() {
		_ = m.cmd.Wait()
		close(m.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + m.cfg.Endpoint + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
		select {
		case <-m.done:
			return nil, errors.New("minio exited before it was ready")
		case <-ctx.Done():
			m.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return nil, errors.New("minio not ready after 30s")
		}
	}
}

// pid returns the server's process id.
func (m *benchMinIO) pid() int { return m.cmd.Process.Pid }

// stop ends the server it started (SIGTERM, then SIGKILL after 10s).
func (m *benchMinIO) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// freeBenchPorts returns n distinct free TCP ports of 127.0.0.1.
func freeBenchPorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
