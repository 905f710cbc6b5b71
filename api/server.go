// Package api is lakeq's HTTP API: a Fiber server that answers lakeFS's REST
// API under /api/v1 (repositories, branches, commits, refs, diff, merge,
// tags, objects), so that lakeFS's clients — lakectl, the SDKs — work
// against lakeq unchanged.
//
// Every /api/v1 route except the health check, the setup endpoints and the
// OpenAPI document requires HTTP basic authentication with an access key id
// and secret (store/auth). Errors are JSON {"message": "..."} with the
// status that lakeFS answers with; the mapping from lakeq's error hierarchy
// to HTTP statuses lives in one place, errors.go.
//
// The server adds request ids (X-Request-ID), structured access logs,
// panic recovery, body-size limits (413), read and write timeouts, Prometheus
// metrics at /metrics, and graceful shutdown.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/auth"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
)

// Defaults applied to a zero Config.
const (
	// DefaultListen is the address the API listens on.
	DefaultListen = "127.0.0.1:8000"
	// DefaultBodyLimit caps an object upload: 5 GiB, S3's limit for one PUT.
	DefaultBodyLimit = 5 << 30
	// JSONBodyLimit caps every JSON request body, whatever BodyLimit is.
	JSONBodyLimit = 1 << 20
	// DefaultReadTimeout bounds reading one request, body included.
	DefaultReadTimeout = 10 * time.Minute
	// DefaultWriteTimeout bounds writing one response, body included.
	DefaultWriteTimeout = 10 * time.Minute
	// DefaultIdleTimeout bounds how long a keep-alive connection waits for
	// its next request.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultPresignExpiry is the lifetime of the presigned URLs the API
	// hands out.
	DefaultPresignExpiry = 15 * time.Minute
	// MaxPresignExpiry is the longest presigned URL lifetime S3 accepts.
	MaxPresignExpiry = 7 * 24 * time.Hour
	// DefaultVersion is the version reported when Config.Version is empty.
	DefaultVersion = "dev"
)

// Config configures the API server. The zero value is usable: every field
// falls back to its default.
type Config struct {
	// Listen is the TCP address to listen on, host:port; port 0 picks a
	// free port (see Server.Addr). Default DefaultListen (127.0.0.1:8000).
	Listen string
	// BodyLimit caps the body of an object upload, in bytes; larger
	// uploads get 413. JSON bodies are capped at JSONBodyLimit (1 MiB)
	// whatever this is. Default DefaultBodyLimit (5 GiB).
	BodyLimit int
	// ReadTimeout bounds reading one request, its body included, so it
	// must allow for the largest upload. Default DefaultReadTimeout (10m).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response, its body included, so it
	// must allow for the largest download. Default DefaultWriteTimeout (10m).
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection may wait for its
	// next request. Default DefaultIdleTimeout (2m).
	IdleTimeout time.Duration
	// PresignExpiry is the lifetime of presigned URLs (presign=true on
	// object reads), at most MaxPresignExpiry. Default DefaultPresignExpiry
	// (15m).
	PresignExpiry time.Duration
	// Logger receives access logs and errors. Default slog.Default().
	Logger *slog.Logger
	// Version is lakeq's version, reported by GET /api/v1/config. Default
	// DefaultVersion ("dev").
	Version string
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = DefaultBodyLimit
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.PresignExpiry == 0 {
		c.PresignExpiry = DefaultPresignExpiry
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = DefaultVersion
	}
	return c
}

// Validate reports whether c, with its zero fields taken as their
// defaults, is usable. Errors wrap store.ErrInvalidValue.
func (c Config) Validate() error {
	c = c.withDefaults()
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("%w: api listen address %q: %v", store.ErrInvalidValue, c.Listen, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%w: api listen address %q: bad port", store.ErrInvalidValue, c.Listen)
	}
	_ = host // empty means every interface, which is allowed
	switch {
	case c.BodyLimit < 0:
		return fmt.Errorf("%w: api body limit %d is negative", store.ErrInvalidValue, c.BodyLimit)
	case c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0:
		return fmt.Errorf("%w: api timeouts must not be negative", store.ErrInvalidValue)
	case c.PresignExpiry < 0 || c.PresignExpiry > MaxPresignExpiry:
		return fmt.Errorf("%w: api presign expiry %s: must be between 0 and %s", store.ErrInvalidValue, c.PresignExpiry, MaxPresignExpiry)
	}
	return nil
}

// Deps are the parts the server works with.
type Deps struct {
	// Graph is the versioned store the handlers act on. Required.
	Graph *graph.Graph
	// Auth checks API credentials. Required.
	Auth *auth.Store
	// Registry receives the API's metrics. When it is also a
	// prometheus.Gatherer (as *prometheus.Registry is), /metrics serves
	// everything it holds. Default: a new registry of the server's own.
	Registry prometheus.Registerer
	// Jobs keeps the state of asynchronous jobs (import, export, GC,
	// ingestion). Optional: without it, or without Broker, the job
	// routes answer 503.
	Jobs *jobs.Store
	// Broker queues submitted jobs and carries their events. Optional, as
	// Jobs.
	Broker *broker.Broker
	// Extra, when set, is called with the authenticated /api/v1 router so
	// that later parts (jobs, import, export) add their routes; it may be
	// nil.
	Extra func(fiber.Router)
}

// Server is lakeq's HTTP API server. Start and Stop may each be called
// once; App may be used without Start (tests call App().Test).
type Server struct {
	cfg     Config
	graph   *graph.Graph
	auth    *auth.Store
	jobs    *jobs.Store
	broker  *broker.Broker
	sse     sseState // event streams (sse.go)
	log     *slog.Logger
	app     *fiber.App
	metrics *metrics

	// baseCtx is the parent of every request's context; it is cancelled
	// when Stop gives up waiting, which aborts streaming bodies.
	baseCtx    context.Context
	cancelBase context.CancelFunc

	mu      sync.Mutex
	ln      net.Listener
	serveWG sync.WaitGroup
	served  error
}

// New builds a server from cfg and deps; it does not listen yet.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if deps.Graph == nil {
		return nil, fmt.Errorf("%w: api: no graph", store.ErrInvalidValue)
	}
	if deps.Auth == nil {
		return nil, fmt.Errorf("%w: api: no auth store", store.ErrInvalidValue)
	}
	m, err := newMetrics(deps.Registry)
	if err != nil {
		return nil, err
	}
	baseCtx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		graph:      deps.Graph,
		auth:       deps.Auth,
		jobs:       deps.Jobs,
		broker:     deps.Broker,
		log:        cfg.Logger,
		metrics:    m,
		baseCtx:    baseCtx,
		cancelBase: cancel,
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "lakeq",
		DisableStartupMessage: true,
		CaseSensitive:         true,
		// Handlers keep strings from the request past the handler's return
		// (logs, streamed responses): make them safe to keep.
		Immutable: true,
		// Bodies are streamed to storage, never held whole in memory; limits
		// are enforced by limitBody and readJSON.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    cfg.BodyLimit,
		ReadBufferSize:               16 << 10, // room for user-metadata headers
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		ErrorHandler:                 s.handleError,
	})
	s.routes(deps.Extra)
	return s, nil
}

// routes registers every route. Public routes come before the
// authentication middleware; everything registered after it requires
// credentials.
func (s *Server) routes(extra func(fiber.Router)) {
	s.app.Use(s.observe, s.recoverPanic)
	s.app.Get("/metrics", s.metrics.handler())

	v1 := s.app.Group("/api/v1")
	v1.Get("/healthcheck", s.healthCheck)
	v1.Get("/setup_lakefs", s.getSetupState)
	v1.Post("/setup_lakefs", s.setup)
	v1.Get("/openapi.yaml", s.openAPI)

	v1.Use(s.authenticate)
	v1.Get("/config", s.getConfig)
	v1.Get("/config/version", s.getVersion)
	v1.Get("/config/storage", s.getStorageConfig)
	v1.Get("/user", s.getCurrentUser)

	v1.Get("/repositories", s.listRepositories)
	v1.Post("/repositories", s.createRepository)
	v1.Get("/repositories/:repository", s.getRepository)
	v1.Delete("/repositories/:repository", s.deleteRepository)

	v1.Get("/repositories/:repository/branches", s.listBranches)
	v1.Post("/repositories/:repository/branches", s.createBranch)
	v1.Get("/repositories/:repository/branches/:branch", s.getBranch)
	v1.Delete("/repositories/:repository/branches/:branch", s.deleteBranch)
	v1.Put("/repositories/:repository/branches/:branch", s.resetBranch)
	v1.Put("/repositories/:repository/branches/:branch/hard_reset", s.hardResetBranch)
	v1.Post("/repositories/:repository/branches/:branch/revert", s.revertBranch)
	v1.Get("/repositories/:repository/branches/:branch/diff", s.diffBranch)

	v1.Post("/repositories/:repository/branches/:branch/commits", s.commit)
	v1.Get("/repositories/:repository/commits/:commitId", s.getCommit)
	v1.Get("/repositories/:repository/refs/:ref/commits", s.logCommits)
	v1.Get("/repositories/:repository/refs/:leftRef/diff/:rightRef", s.diffRefs)
	v1.Post("/repositories/:repository/refs/:sourceRef/merge/:destinationBranch", s.merge)

	v1.Get("/repositories/:repository/tags", s.listTags)
	v1.Post("/repositories/:repository/tags", s.createTag)
	v1.Get("/repositories/:repository/tags/:tag", s.getTag)
	v1.Delete("/repositories/:repository/tags/:tag", s.deleteTag)

	// HEAD before GET: Fiber answers HEAD with the first route that
	// matches, and a GET route also matches HEAD.
	v1.Head("/repositories/:repository/refs/:ref/objects", s.headObject)
	v1.Get("/repositories/:repository/refs/:ref/objects", s.getObject)
	v1.Get("/repositories/:repository/refs/:ref/objects/stat", s.statObject)
	v1.Get("/repositories/:repository/refs/:ref/objects/ls", s.listObjects)
	v1.Post("/repositories/:repository/branches/:branch/objects", s.limitBody, s.uploadObject)
	v1.Delete("/repositories/:repository/branches/:branch/objects", s.deleteObject)
	v1.Post("/repositories/:repository/branches/:branch/objects/delete", s.deleteObjects)

	s.jobRoutes(v1)
	s.importRoutes(v1)
	s.exportRoutes(v1)

	if extra != nil {
		extra(v1)
	}
}

// App returns the Fiber application, for tests (App().Test) and for
// embedding.
func (s *Server) App() *fiber.App { return s.app }

// Start listens on Config.Listen and serves in the background; it returns
// once the listener is open (Addr then reports the address) or with the
// error that prevented it.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return fmt.Errorf("api: %w: already started", store.ErrPrecondition)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		err := s.app.Listener(ln)
		s.mu.Lock()
		s.served = err
		s.mu.Unlock()
	}()
	s.log.InfoContext(ctx, "api listening", slog.String("addr", ln.Addr().String()))
	return nil
}

// Addr returns the address the server listens on, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop stops accepting connections and waits for the requests under way to
// finish, until ctx is done; then it aborts the rest. It returns ctx's
// error when it had to abort.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.ln != nil
	s.mu.Unlock()
	if !started {
		s.cancelBase()
		return nil
	}
	err := s.app.ShutdownWithContext(ctx)
	// Shutdown closes only the listeners the server has begun serving; a
	// Stop right after Start may come before that.
	s.mu.Lock()
	_ = s.ln.Close()
	s.mu.Unlock()
	// Whatever is still streaming has outlived the grace period.
	s.cancelBase()
	s.serveWG.Wait()
	s.mu.Lock()
	served := s.served
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("api: shutdown: %w", err)
	}
	if served != nil && !errors.Is(served, net.ErrClosed) {
		return fmt.Errorf("api: serve: %w", served)
	}
	return nil
}
