package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/api"
	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store/auth"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/tree"
)

// adminUser owns the credentials a server creates or imports at start-up.
const adminUser = "admin"

// serverFlags are the flags `up` and `api` share.
type serverFlags struct {
	listen        string
	importAllow   []string
	grace         time.Duration
	logLevel      string
	logFormat     string
	presignExpiry time.Duration
}

// register adds the shared flags to cmd.
func (f *serverFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", api.DefaultListen, "address the HTTP API listens on, host:port")
	fl.StringSliceVar(&f.importAllow, "import-allow", nil, "local directories that imports and exports may read or write (local:///path URIs), comma-separated")
	fl.DurationVar(&f.grace, "shutdown-grace", 30*time.Second, "how long shutdown waits for requests and jobs under way")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.DurationVar(&f.presignExpiry, "presign-expiry", api.DefaultPresignExpiry, "lifetime of presigned object URLs")
}

// logger builds the process logger, writing to stderr.
func (f *serverFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", f.logFormat)
	}
}

// core is the part of a server over the metadata KV and the block stores:
// the versioned store, the credentials and the job states. The HTTP API and
// the job workers work over it.
type core struct {
	graph *graph.Graph
	auth  *auth.Store
	jobs  *jobs.Store
}

// newCore assembles the graph, the auth store and the job store over kvs
// and resolver. treeCache bounds the memory of the decoded ranges and
// metaranges the graph keeps (0: the default, 64 MiB).
func newCore(kvs kv.Store, resolver *block.Resolver, treeCache int64, log *slog.Logger) (*core, error) {
	trees, err := tree.NewManager(tree.Config{CacheBytes: treeCache})
	if err != nil {
		return nil, err
	}
	return &core{
		graph: graph.New(kvs, trees, resolver, graph.Config{Logger: log}),
		auth:  auth.New(kvs),
		jobs:  jobs.NewStore(kvs, nil),
	}, nil
}

// apiComponent builds the HTTP API over c and the broker once the
// components before it have started, and serves until stopped. *srv is
// set once it has started.
func apiComponent(f *serverFlags, c **core, brk **broker.Broker, log *slog.Logger, srv **api.Server) component {
	return component{
		name: "api",
		start: func(ctx context.Context) error {
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			s, err := api.New(api.Config{
				Listen:        f.listen,
				PresignExpiry: f.presignExpiry,
				Logger:        log,
				Version:       version,
			}, api.Deps{Graph: (*c).graph, Auth: (*c).auth, Jobs: (*c).jobs, Broker: *brk, Registry: reg})
			if err != nil {
				return err
			}
			if err := s.Start(ctx); err != nil {
				return err
			}
			*srv = s
			return nil
		},
		stop: func(ctx context.Context) error { return (*srv).Stop(ctx) },
	}
}

// newResolver maps storage URIs to objects (the S3 endpoint, the local
// blockstore) and, for imports and exports, to the allowed local roots,
// which may be given relative to the working directory.
func newResolver(objects, blocks block.Store, allow []string) (*block.Resolver, error) {
	roots := make([]string, 0, len(allow))
	for _, dir := range allow {
		if dir == "" {
			continue
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("--import-allow %q: %w", dir, err)
		}
		roots = append(roots, abs)
	}
	return block.NewResolver(block.ResolverConfig{
		S3:           objects,
		Local:        blocks,
		AllowedRoots: roots,
		OpenLocal:    func(dir string) (block.Store, error) { return local.New(dir) },
	})
}

// probeObjects asks the S3 endpoint once, at start-up (see s3.Probe). No
// answer is logged, not fatal: the endpoint may come up later, and jobs
// are retried.
func probeObjects(ctx context.Context, objects *s3.Store, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := objects.Probe(ctx); err != nil {
		log.WarnContext(ctx, "S3 endpoint does not answer yet", "error", err.Error())
	}
}

// initialCredentials are the admin credentials a server start-up created;
// Secret is shown once.
type initialCredentials struct {
	AccessKeyID string
	Secret      string
}

// bootstrapCredentials makes sure the installation has an admin. Given
// credentials (both or neither) are imported for the admin, idempotently.
// Without them, the first start of an installation with no credentials
// creates a pair and returns it, to be shown once; later starts return nil.
// Secrets are never logged.
func bootstrapCredentials(ctx context.Context, a *auth.Store, accessKeyID, secret string) (*initialCredentials, error) {
	if (accessKeyID == "") != (secret == "") {
		return nil, errors.New("give both --access-key-id and --secret-access-key (LAKEQ_ACCESS_KEY_ID, LAKEQ_SECRET_ACCESS_KEY), or neither")
	}
	if accessKeyID != "" {
		if err := a.ImportCredentials(ctx, adminUser, accessKeyID, secret); err != nil {
			return nil, fmt.Errorf("import the admin credentials: %w", err)
		}
		return nil, nil
	}
	has, err := a.HasAnyCredentials(ctx)
	if err != nil {
		return nil, fmt.Errorf("look for credentials: %w", err)
	}
	if has {
		return nil, nil
	}
	id, sec, err := a.CreateCredentials(ctx, adminUser)
	if err != nil {
		return nil, fmt.Errorf("create the admin credentials: %w", err)
	}
	return &initialCredentials{AccessKeyID: id, Secret: sec}, nil
}

// printBanner tells the user where the server is and, on the first start
// only, the credentials it created. It writes to w (stdout), never to the
// log.
func printBanner(w io.Writer, role, endpoint string, creds *initialCredentials, fromEnv bool, extra []string) {
	fmt.Fprintf(w, "lakeq %s %s is running\n", role, version)
	fmt.Fprintf(w, "  API:         %s/api/v1\n", endpoint)
	for _, line := range extra {
		fmt.Fprintf(w, "  %s\n", line)
	}
	switch {
	case creds != nil:
		fmt.Fprintf(w, "\nCreated the admin credentials. They are shown only this once; keep them:\n")
		fmt.Fprintf(w, "  export LAKEQ_ENDPOINT=%s\n", endpoint)
		fmt.Fprintf(w, "  export LAKEQ_ACCESS_KEY_ID=%s\n", creds.AccessKeyID)
		fmt.Fprintf(w, "  export LAKEQ_SECRET_ACCESS_KEY=%s\n", creds.Secret)
	case fromEnv:
		fmt.Fprintf(w, "\nCredentials: the admin's access key id and secret given at start-up.\n")
		fmt.Fprintf(w, "  export LAKEQ_ENDPOINT=%s\n", endpoint)
	default:
		fmt.Fprintf(w, "\nCredentials: those printed on the first start.\n")
		fmt.Fprintf(w, "  export LAKEQ_ENDPOINT=%s\n", endpoint)
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n")
}

// endpointURL turns a listen address into the URL clients use: an empty
// or unspecified host becomes 127.0.0.1.
func endpointURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// brokerComponent connects to NATS JetStream (declaring lakeq's streams)
// and closes the connection at stop. Workers and job publishing attach to
// *b once started.
func brokerComponent(url func() string, log *slog.Logger, b **broker.Broker) component {
	return component{
		name: "broker",
		start: func(ctx context.Context) error {
			conn, err := broker.Connect(ctx, broker.Config{URL: url(), Logger: log})
			if err != nil {
				return err
			}
			*b = conn
			return nil
		},
		stop: func(ctx context.Context) error {
			if *b == nil {
				return nil
			}
			return (*b).Close(ctx)
		},
	}
}
