// Package natsserver runs an embedded nats-server with JetStream on disk, in
// the lakeq process: the broker of `lakeq up` and of tests. It is the real
// server (github.com/nats-io/nats-server/v2), listening on TCP so that any
// NATS client, the CLI included, can reach it.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/lakeq/lakeq/store"
)

// Defaults for Config's zero fields.
const (
	DefaultHost       = "127.0.0.1"
	DefaultPort       = 4222
	DefaultServerName = "lakeq"

	// RandomPort asks for a free port chosen by the system.
	RandomPort = -1

	readyPoll = 25 * time.Millisecond
)

// ErrInvalidConfig reports a Config that fails validation.
var ErrInvalidConfig = fmt.Errorf("%w nats server config", store.ErrInvalid)

// Config configures an embedded server. The zero value of every field but
// StoreDir means its default.
type Config struct {
	// Host is the address to listen on. Default "127.0.0.1".
	Host string

	// Port is the client port. 0 means 4222; RandomPort (-1) lets the
	// system choose a free port, which the Server keeps across restarts.
	Port int

	// StoreDir is the directory JetStream keeps its streams in. Required;
	// the data survives a restart with the same StoreDir.
	StoreDir string

	// MaxMemory caps JetStream's memory storage in bytes. 0 leaves the
	// server's default (75% of the machine's memory).
	MaxMemory int64

	// MaxStore caps JetStream's file storage in bytes. 0 leaves the server's
	// default (up to 1 TB, 75% of the free disk).
	MaxStore int64

	// ServerName names the server in its monitoring. Default "lakeq".
	ServerName string

	// Logger receives the server's log; nil turns server logging off.
	Logger *slog.Logger
}

// Validate reports every problem of c. Errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	var errs []error
	if c.StoreDir == "" {
		errs = append(errs, fmt.Errorf("%w: no store directory", ErrInvalidConfig))
	}
	if c.Port < RandomPort || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("%w: port %d: want 0 to 65535, or -1 for a random port", ErrInvalidConfig, c.Port))
	}
	if c.MaxMemory < 0 {
		errs = append(errs, fmt.Errorf("%w: max memory %d is negative", ErrInvalidConfig, c.MaxMemory))
	}
	if c.MaxStore < 0 {
		errs = append(errs, fmt.Errorf("%w: max store %d is negative", ErrInvalidConfig, c.MaxStore))
	}
	return errors.Join(errs...)
}

// Server is an embedded nats-server with JetStream. It may be started again
// after Stop (a fault test's restart): it then listens on the same port and
// recovers its streams from StoreDir. Its methods are safe for concurrent
// use.
type Server struct {
	cfg Config

	mu   sync.Mutex
	srv  *server.Server
	port int // the bound port once started, kept for restarts
}

// New checks cfg and returns a Server ready to Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.ServerName == "" {
		cfg.ServerName = DefaultServerName
	}
	return &Server{cfg: cfg, port: cfg.Port}, nil
}

// Start starts the server and returns once it accepts connections with
// JetStream enabled, or fails when ctx ends first or the server cannot
// start (port taken, store directory unusable). Start of a running Server
// is a no-op.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	logger := newLogger(s.cfg.Logger)
	opts := &server.Options{
		ServerName:         s.cfg.ServerName,
		Host:               s.cfg.Host,
		Port:               s.port,
		JetStream:          true,
		StoreDir:           s.cfg.StoreDir,
		JetStreamMaxMemory: s.cfg.MaxMemory,
		JetStreamMaxStore:  s.cfg.MaxStore,
		NoSigs:             true,
		NoLog:              s.cfg.Logger == nil,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("start nats server: %w", err)
	}
	srv.SetLoggerV2(logger, logger.debug(), false, false)

	started := make(chan struct{})
	go func() {
		defer close(started)
		srv.Start()
	}()
	if err := s.waitReady(ctx, srv, started, logger.fatal); err != nil {
		srv.Shutdown()
		<-started
		srv.WaitForShutdown()
		return fmt.Errorf("start nats server on %s: %w", net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.port)), err)
	}
	if addr, ok := srv.Addr().(*net.TCPAddr); ok {
		s.port = addr.Port
	}
	s.srv = srv
	return nil
}

// waitReady waits for srv to accept connections with JetStream on.
func (s *Server) waitReady(ctx context.Context, srv *server.Server, started <-chan struct{}, fatal <-chan string) error {
	// Start returns once the server runs, or early when it fails.
	select {
	case <-started:
	case msg := <-fatal:
		return errors.New(msg)
	case <-ctx.Done():
		return ctx.Err()
	}
	for !srv.ReadyForConnections(readyPoll) {
		select {
		case msg := <-fatal:
			return errors.New(msg)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
	}
	select {
	case msg := <-fatal:
		return errors.New(msg)
	default:
	}
	if !srv.JetStreamEnabled() {
		return errors.New("jetstream is not enabled")
	}
	return nil
}

// Stop shuts the server down, waiting for it as long as ctx allows. Clients
// see a disconnect and reconnect once it is started again. Stop of a Server
// not running is a no-op.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	srv := s.srv
	if srv == nil {
		return nil
	}
	s.srv = nil
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop nats server: %w", ctx.Err())
	}
}

// ClientURL returns the URL clients connect to, nats://host:port. With
// RandomPort it is known once Start has returned.
func (s *Server) ClientURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "nats://" + net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.port))
}

// Port returns the client port (with RandomPort, known once started).
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.port
}
