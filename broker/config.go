package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Defaults for Config's zero fields.
const (
	DefaultURL              = "nats://127.0.0.1:4222"
	DefaultName             = "lakeq"
	DefaultReplicas         = 1
	DefaultDuplicateWindow  = 10 * time.Minute
	DefaultEventsMaxAge     = 24 * time.Hour
	DefaultAckWait          = 30 * time.Second
	DefaultMaxDeliver       = 10
	DefaultMaxAckPending    = 1000
	DefaultReconnectWait    = 100 * time.Millisecond
	DefaultReconnectMaxWait = 5 * time.Second

	// MinAckWait is the shortest AckWait Validate accepts.
	MinAckWait = 100 * time.Millisecond
)

// DefaultBackoff is the retry schedule used when Config.Backoff is empty:
// the n-th retry of a message waits DefaultBackoff[n-1] (the last step
// repeats).
var DefaultBackoff = []time.Duration{
	1 * time.Second,
	5 * time.Second,
	30 * time.Second,
	2 * time.Minute,
	10 * time.Minute,
}

// Config configures a Broker. The zero value of every field means its
// default; Connect fills the defaults and calls Validate.
type Config struct {
	// URL lists the NATS servers, comma-separated
	// ("nats://a:4222,nats://b:4222"). Default DefaultURL.
	URL string

	// Name is the connection name the server shows in its monitoring.
	// Default "lakeq".
	Name string

	// Replicas is the number of copies of each stream in a NATS cluster,
	// 1 to 5. Default 1. It applies when a stream is created or updated.
	Replicas int

	// DuplicateWindow is how long LAKEQ_JOBS and LAKEQ_TASKS remember a
	// Nats-Msg-Id: a job published again with the same id within this window
	// is not stored twice. Default 10 minutes.
	DuplicateWindow time.Duration

	// EventsMaxAge is how long LAKEQ_EVENTS keeps an event. Default 24 hours.
	EventsMaxAge time.Duration

	// AckWait is how long the server waits for a sign of life (an ack, nak,
	// term or in-progress heartbeat) from the worker holding a message before
	// it redelivers it. A Consumer sends heartbeats every AckWait/3 while a
	// handler runs, so long work is not redelivered; a worker that dies
	// loses its messages to redelivery after AckWait plus the backoff step of
	// the delivery. At least MinAckWait; default 30 seconds.
	AckWait time.Duration

	// MaxDeliver is how many times a message is delivered at most. A handler
	// that asks to retry the last delivery has its message left unsettled:
	// the server gives it up after its ack wait, with the max-deliveries
	// advisory it sends for a message whose worker died. Must exceed
	// len(Backoff) (a JetStream rule). Default 10.
	MaxDeliver int

	// Backoff is the retry schedule: a message that a handler naks without
	// a delay, or whose worker dies, is retried after Backoff[n-1] on its
	// n-th delivery (the last step repeats). Every step must be positive.
	// Default DefaultBackoff (1s, 5s, 30s, 2m, 10m).
	Backoff []time.Duration

	// MaxAckPending caps the messages of one durable consumer that are
	// delivered and not yet acked, over all the workers sharing it, including
	// messages waiting out a nak delay. Each Consumer bounds its own share by
	// its concurrency; this is the safety cap. Default 1000.
	MaxAckPending int

	// ReconnectWait is the first delay between reconnect attempts; it
	// doubles on each failed attempt up to ReconnectMaxWait, with jitter.
	// The client reconnects forever. Default 100 milliseconds.
	ReconnectWait time.Duration

	// ReconnectMaxWait caps the delay between reconnect attempts. Default
	// 5 seconds.
	ReconnectMaxWait time.Duration

	// Logger receives connection and consumer events. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Replicas == 0 {
		c.Replicas = DefaultReplicas
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = DefaultDuplicateWindow
	}
	if c.EventsMaxAge == 0 {
		c.EventsMaxAge = DefaultEventsMaxAge
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if len(c.Backoff) == 0 {
		c.Backoff = DefaultBackoff
	}
	c.Backoff = slices.Clone(c.Backoff)
	if c.MaxAckPending == 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	if c.ReconnectWait == 0 {
		c.ReconnectWait = DefaultReconnectWait
	}
	if c.ReconnectMaxWait == 0 {
		c.ReconnectMaxWait = DefaultReconnectMaxWait
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports every problem of c, with its zero fields taken as their
// defaults. Errors wrap ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if strings.TrimSpace(strings.ReplaceAll(c.URL, ",", "")) == "" {
		bad("url %q lists no server", c.URL)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		bad("replicas %d: want 1 to 5", c.Replicas)
	}
	if c.DuplicateWindow < 0 {
		bad("duplicate window %s is negative", c.DuplicateWindow)
	}
	if c.EventsMaxAge < 0 {
		bad("events max age %s is negative", c.EventsMaxAge)
	}
	if c.AckWait < MinAckWait {
		bad("ack wait %s: want at least %s", c.AckWait, MinAckWait)
	}
	if c.MaxDeliver < 1 {
		bad("max deliver %d: want at least 1", c.MaxDeliver)
	} else if c.MaxDeliver <= len(c.Backoff) {
		bad("max deliver %d must exceed the %d backoff steps", c.MaxDeliver, len(c.Backoff))
	}
	for i, d := range c.Backoff {
		if d <= 0 {
			bad("backoff step %d is %s: want positive", i, d)
		}
	}
	if c.MaxAckPending < 1 {
		bad("max ack pending %d: want at least 1", c.MaxAckPending)
	}
	if c.ReconnectWait < 0 {
		bad("reconnect wait %s is negative", c.ReconnectWait)
	}
	if c.ReconnectMaxWait < c.ReconnectWait {
		bad("reconnect max wait %s is below reconnect wait %s", c.ReconnectMaxWait, c.ReconnectWait)
	}
	return errors.Join(errs...)
}

// backoff returns the retry delay after the delivered-th delivery.
func (c Config) backoff(delivered uint64) time.Duration {
	i := int(min(delivered, uint64(len(c.Backoff)))) - 1
	return c.Backoff[max(i, 0)]
}

// nakDelay returns the delay to send with a nak after the delivered-th
// delivery for the message to come back after wait. The server counts a
// nak's delay from one ack wait (the first step of serverBackoff) before
// the nak, and redelivers once the current step has passed, so from the
// second delivery on it adds the difference of the two steps: that much
// is taken off, and a wait shorter than it becomes it (a nak without a
// delay would come back at once).
func (c Config) nakDelay(delivered uint64, wait time.Duration) time.Duration {
	return max(wait-(c.backoff(delivered)-c.Backoff[0]), time.Millisecond)
}

// serverBackoff returns the consumer's BackOff as JetStream understands it:
// the ack wait of each successive delivery, which is AckWait plus the retry
// delay of that delivery.
func (c Config) serverBackoff() []time.Duration {
	out := make([]time.Duration, len(c.Backoff))
	for i, d := range c.Backoff {
		out[i] = c.AckWait + d
	}
	return out
}
