package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Consumer defaults and limits.
const (
	// DefaultFetchMaxWait is how long one fetch waits for messages when
	// ConsumerConfig.FetchMaxWait is zero.
	DefaultFetchMaxWait = 5 * time.Second
	// MinFetchMaxWait is the shortest FetchMaxWait Validate accepts.
	MinFetchMaxWait = 100 * time.Millisecond

	// maxFetchRetryWait caps the pause between failing fetches.
	maxFetchRetryWait = 5 * time.Second
	// minDeclareWait is the least time given to declaring the durable again.
	minDeclareWait = 2 * time.Second
	// maxDeliveriesAdvisory prefixes the subject on which the server reports
	// a message whose deliveries ran out without an ack or term.
	maxDeliveriesAdvisory = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."
)

// Handler does the work a message asks for and returns its Outcome. It runs
// in its own goroutine, at most ConsumerConfig.Concurrency at a time per
// Consumer; ctx is canceled only when Stop's grace runs out. The Consumer
// keeps the message alive with in-progress heartbeats while the handler
// runs. A panic in a handler is recovered and naks the message.
type Handler func(ctx context.Context, m *Msg) Outcome

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	// Queue is the queue to consume: Jobs or Tasks. Required.
	Queue Queue

	// Kind is the kind of work to consume; the durable consumer is named
	// <queue>-<kind> and filters lakeq.<queue>.<kind>. Required.
	Kind string

	// Concurrency is how many messages this Consumer handles at once, and
	// also the most messages it holds fetched and not yet settled: it never
	// fetches more than its free slots. At most Config.MaxAckPending.
	// Default 1.
	Concurrency int

	// Handler handles each message. Required.
	Handler Handler

	// FetchMaxWait is how long one fetch request waits for messages before
	// the Consumer issues the next. At least MinFetchMaxWait; default
	// DefaultFetchMaxWait.
	FetchMaxWait time.Duration

	// Logger receives the Consumer's events. Default the Broker's logger.
	Logger *slog.Logger
}

// Consumer runs a durable pull consumer: it fetches messages of one kind
// into a bounded pool of handler goroutines and settles each message from
// its handler's Outcome. Any number of Consumers, in any number of
// processes, may share the same durable; each message goes to one of them.
type Consumer struct {
	b       *Broker
	cfg     ConsumerConfig
	log     *slog.Logger
	stream  string
	subject string
	durable string

	// slots holds one token per message being handled or fetched for.
	slots    chan struct{}
	handlers sync.WaitGroup

	mu             sync.Mutex
	state          consumerState
	stopFetching   context.CancelFunc
	cancelHandlers context.CancelFunc
	loopDone       chan struct{}
	advisories     *nats.Subscription
}

type consumerState uint8

const (
	consumerNew consumerState = iota
	consumerRunning
	consumerStopped
)

// NewConsumer checks cfg and returns a Consumer ready to Start.
func (b *Broker) NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	if cfg.FetchMaxWait == 0 {
		cfg.FetchMaxWait = DefaultFetchMaxWait
	}
	if cfg.Logger == nil {
		cfg.Logger = b.log
	}
	subject, err := cfg.Queue.Subject(cfg.Kind)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	durable, _ := cfg.Queue.Durable(cfg.Kind)
	var errs []error
	if cfg.Concurrency < 1 || cfg.Concurrency > b.cfg.MaxAckPending {
		errs = append(errs, fmt.Errorf("%w: concurrency %d: want 1 to max ack pending (%d)", ErrInvalidConfig, cfg.Concurrency, b.cfg.MaxAckPending))
	}
	if cfg.Handler == nil {
		errs = append(errs, fmt.Errorf("%w: no handler", ErrInvalidConfig))
	}
	if cfg.FetchMaxWait < MinFetchMaxWait {
		errs = append(errs, fmt.Errorf("%w: fetch max wait %s: want at least %s", ErrInvalidConfig, cfg.FetchMaxWait, MinFetchMaxWait))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("consumer %s: %w", durable, err)
	}
	return &Consumer{
		b:       b,
		cfg:     cfg,
		log:     cfg.Logger.With("consumer", durable),
		stream:  cfg.Queue.Stream(),
		subject: subject,
		durable: durable,
		slots:   make(chan struct{}, cfg.Concurrency),
	}, nil
}

// Durable returns the name of the durable consumer, <queue>-<kind>.
func (c *Consumer) Durable() string { return c.durable }

// Info returns the server's view of the durable consumer (pending, ack
// pending and redelivered counts).
func (c *Consumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	cons, err := c.b.js.Consumer(ctx, c.stream, c.durable)
	if err != nil {
		return nil, fmt.Errorf("consumer %s info: %w", c.durable, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("consumer %s info: %w", c.durable, err)
	}
	return info, nil
}

// Start creates or updates the durable consumer and starts fetching. It
// returns once the durable exists. Canceling ctx stops fetching (as Stop
// does) but leaves running handlers alone; call Stop to wait for them. A
// Consumer starts once; Start after Start or Stop fails.
func (c *Consumer) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case consumerRunning:
		return fmt.Errorf("start consumer %s: %w", c.durable, ErrAlreadyStarted)
	case consumerStopped:
		return fmt.Errorf("start consumer %s: %w", c.durable, ErrStopped)
	}
	cons, err := c.declare(ctx)
	if err != nil {
		return err
	}
	// One Consumer of the durable logs each advisory: a queue group.
	adv, err := c.b.nc.QueueSubscribe(maxDeliveriesAdvisory+c.stream+"."+c.durable, c.durable, c.onMaxDeliveries)
	if err != nil {
		return fmt.Errorf("start consumer %s: subscribe to advisories: %w", c.durable, err)
	}
	fetchCtx, stopFetching := context.WithCancel(ctx)
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	c.stopFetching, c.cancelHandlers = stopFetching, cancelHandlers
	c.advisories = adv
	c.loopDone = make(chan struct{})
	c.state = consumerRunning
	go c.run(fetchCtx, handlerCtx, cons, c.loopDone)
	c.log.DebugContext(ctx, "consumer started", "concurrency", c.cfg.Concurrency)
	return nil
}

// Stop stops fetching at once (messages that arrive for a fetch already in
// flight are handed back with an immediate nak), then waits for running
// handlers to finish and settle their messages. If ctx ends first — give it
// the shutdown grace, e.g. from context.WithoutCancel — Stop cancels the
// handlers' context, stops their heartbeats so their messages are
// redelivered after the ack wait, and returns ctx's error. Stop of a
// Consumer never started, or already stopped, returns nil.
func (c *Consumer) Stop(ctx context.Context) error {
	c.mu.Lock()
	if c.state != consumerRunning {
		c.state = consumerStopped
		c.mu.Unlock()
		return nil
	}
	c.state = consumerStopped
	c.mu.Unlock()

	c.stopFetching()
	defer c.cancelHandlers()
	if err := c.advisories.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		c.log.WarnContext(ctx, "unsubscribe from advisories", "error", err)
	}
	select {
	case <-c.loopDone:
	case <-ctx.Done():
		c.cancelHandlers()
		return fmt.Errorf("stop consumer %s: %w", c.durable, ctx.Err())
	}
	drained := make(chan struct{})
	go func() {
		c.handlers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		c.log.DebugContext(ctx, "consumer stopped")
		return nil
	case <-ctx.Done():
		c.cancelHandlers()
		c.log.WarnContext(ctx, "consumer stopped with handlers still running; their messages will be redelivered", "error", ctx.Err())
		return fmt.Errorf("stop consumer %s: handlers still running: %w", c.durable, ctx.Err())
	}
}

// consumerConfig returns the durable's declaration.
func (c *Consumer) consumerConfig() jetstream.ConsumerConfig {
	bc := c.b.cfg
	backoff := bc.serverBackoff()
	return jetstream.ConsumerConfig{
		Durable:       c.durable,
		Description:   fmt.Sprintf("lakeq %s of kind %s", c.cfg.Queue, c.cfg.Kind),
		FilterSubject: c.subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// JetStream takes the first backoff step as the ack wait.
		AckWait:       backoff[0],
		MaxDeliver:    bc.MaxDeliver,
		BackOff:       backoff,
		MaxAckPending: bc.MaxAckPending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
}

// declare creates or updates the durable consumer.
func (c *Consumer) declare(ctx context.Context) (jetstream.Consumer, error) {
	cons, err := c.b.js.CreateOrUpdateConsumer(ctx, c.stream, c.consumerConfig())
	if err != nil {
		return nil, fmt.Errorf("declare consumer %s on %s: %w", c.durable, c.stream, err)
	}
	return cons, nil
}

// run is the fetch loop: it reserves the free slots, fetches at most that
// many messages, and hands each to a handler goroutine that frees its slot
// once the message is settled.
func (c *Consumer) run(ctx, handlerCtx context.Context, cons jetstream.Consumer, done chan<- struct{}) {
	defer close(done)
	failures := 0
	for {
		n := c.acquire(ctx)
		if n == 0 {
			return
		}
		if ctx.Err() != nil {
			// Stop raced with a freed slot: never fetch once stopping.
			c.release(n)
			return
		}
		got, err := c.fetch(ctx, handlerCtx, cons, n)
		c.release(n - got)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failures = 0
			continue
		}
		failures++
		wait := min(time.Duration(failures)*c.cfg.FetchMaxWait/4, maxFetchRetryWait)
		c.log.WarnContext(ctx, "fetch failed; retrying", "error", err, "failures", failures, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if consumerGone(err) {
			// Deleted, or a server that lost its state: declare it again.
			dctx, cancel := context.WithTimeout(ctx, max(c.cfg.FetchMaxWait, minDeclareWait))
			fresh, err := c.declare(dctx)
			cancel()
			if err == nil {
				c.log.InfoContext(ctx, "durable consumer declared again")
				cons = fresh
			} else if ctx.Err() == nil {
				c.log.WarnContext(ctx, "declare consumer again", "error", err)
			}
		}
	}
}

// consumerGone reports whether a fetch failed because the durable consumer
// no longer exists on the server.
func consumerGone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, nats.ErrNoResponders)
}

// acquire waits for at least one free slot and takes all the free ones,
// returning how many; 0 when ctx is done.
func (c *Consumer) acquire(ctx context.Context) int {
	select {
	case <-ctx.Done():
		return 0
	case c.slots <- struct{}{}:
	}
	n := 1
	for n < cap(c.slots) {
		select {
		case c.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

// release frees n slots.
func (c *Consumer) release(n int) {
	for range n {
		<-c.slots
	}
}

// fetch asks for up to n messages, waiting at most FetchMaxWait, and
// dispatches each as it arrives. It returns how many it dispatched; each of
// them owns one slot from then on. Once ctx is done, messages still arriving
// are nak'd without delay so another worker takes them at once.
func (c *Consumer) fetch(ctx, handlerCtx context.Context, cons jetstream.Consumer, n int) (int, error) {
	fctx, cancel := context.WithTimeout(ctx, c.cfg.FetchMaxWait)
	defer cancel()
	batch, err := cons.Fetch(n, jetstream.FetchContext(fctx))
	if err != nil {
		return 0, err
	}
	got := 0
	for raw := range batch.Messages() {
		if ctx.Err() != nil {
			if err := raw.Nak(); err != nil {
				c.log.WarnContext(ctx, "hand back message fetched while stopping", "subject", raw.Subject(), "error", err)
			}
			continue
		}
		got++
		c.dispatch(handlerCtx, raw)
	}
	err = batch.Error()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return got, err
	}
	return got, nil
}
