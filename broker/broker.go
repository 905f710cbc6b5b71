package broker

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// connectPoll is how often Connect checks whether the first connection
	// is up.
	connectPoll = 25 * time.Millisecond
	// defaultTimeout bounds a round trip whose context has no deadline.
	defaultTimeout = 5 * time.Second
)

// Broker is a connection to NATS with lakeq's streams declared. It is safe
// for concurrent use. Its connection reconnects forever; publishes and
// consumers resume once it is back.
type Broker struct {
	cfg Config
	log *slog.Logger
	nc  *nats.Conn
	js  jetstream.JetStream
}

// Connect connects to the NATS servers of cfg, waiting as long as ctx allows
// for one to answer, and creates or updates LAKEQ_JOBS, LAKEQ_TASKS and
// LAKEQ_EVENTS (idempotent: connecting again with the same Config changes
// nothing). The connection then reconnects forever with backoff, logging
// each disconnect and reconnect. Close it with Close.
func Connect(ctx context.Context, cfg Config) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(reconnectDelay(cfg.ReconnectWait, cfg.ReconnectMaxWait)),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info("nats connected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected; reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			log.Debug("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Error("nats asynchronous error", "subject", sub.Subject, "error", err)
				return
			}
			log.Error("nats asynchronous error", "error", err)
		}),
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	if err := waitConnected(ctx, nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to nats: jetstream: %w", err)
	}
	b := &Broker{cfg: cfg, log: log, nc: nc, js: js}
	if err := b.declareStreams(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return b, nil
}

// waitConnected waits until nc is connected, it is closed, or ctx is done.
func waitConnected(ctx context.Context, nc *nats.Conn) error {
	t := time.NewTicker(connectPoll)
	defer t.Stop()
	for {
		switch {
		case nc.IsConnected():
			return nil
		case nc.IsClosed():
			return nats.ErrConnectionClosed
		}
		select {
		case <-ctx.Done():
			if err := nc.LastError(); err != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// reconnectDelay returns an exponential backoff with ±20% jitter, from
// minWait doubling to maxWait.
func reconnectDelay(minWait, maxWait time.Duration) nats.ReconnectDelayHandler {
	return func(attempts int) time.Duration {
		d := minWait
		for i := 1; i < attempts && d < maxWait; i++ {
			d *= 2
		}
		d = min(d, maxWait)
		if d <= 0 {
			return 0
		}
		jitter := time.Duration(rand.Int64N(int64(d)/5 + 1))
		return d - d/10 + jitter
	}
}

// Config returns the Broker's configuration with defaults filled in.
func (b *Broker) Config() Config {
	c := b.cfg
	c.Backoff = append([]time.Duration(nil), c.Backoff...)
	return c
}

// JetStream returns the underlying JetStream handle, for inspection
// (stream and consumer info) and operations the broker does not wrap.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Ping checks that the server answers a round trip and that JetStream is
// available to this account.
func (b *Broker) Ping(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("ping nats: %w", err)
	}
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("ping nats: jetstream: %w", err)
	}
	return nil
}

// Close flushes what the connection still buffers (acks, naks) as long as
// ctx allows, then closes the connection. Stop every Consumer and
// EventStream first. Close is idempotent.
func (b *Broker) Close(ctx context.Context) error {
	if b.nc.IsClosed() {
		return nil
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var err error
	if b.nc.IsConnected() {
		if ferr := b.nc.FlushWithContext(ctx); ferr != nil {
			err = fmt.Errorf("close nats connection: flush: %w", ferr)
		}
	}
	b.nc.Close()
	return err
}

// withDefaultTimeout gives ctx a deadline of defaultTimeout if it has none.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultTimeout)
}
