package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// ErrAlreadyStarted reports a Register or Start after Start.
var ErrAlreadyStarted = fmt.Errorf("workers already started: %w", store.ErrPrecondition)

// Runner consumes the jobs and tasks of the kinds it serves and runs them
// with their registered handlers. It is safe for concurrent use. Any
// number of Runners, in any number of processes, may serve the same kinds:
// each message goes to one of them.
type Runner struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu        sync.Mutex
	handlers  map[jobs.Kind]Handler
	started   bool
	stopped   bool
	consumers []served
	expirer   *loop
	requeuer  *loop
	abandoned *abandonedWatch
}

// served is one durable consumer the Runner runs.
type served struct {
	queue    broker.Queue
	consumer *broker.Consumer
}

// New checks cfg and deps and returns a Runner to register handlers with.
func New(cfg Config, deps Deps) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Broker == nil || deps.Jobs == nil {
		return nil, fmt.Errorf("%w: Broker and Jobs are required", ErrInvalidConfig)
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	cfg = cfg.withDefaults()
	r := &Runner{
		cfg:      cfg,
		deps:     deps,
		log:      deps.Logger.With("worker", cfg.WorkerID),
		handlers: map[jobs.Kind]Handler{},
	}
	return r, nil
}

// Register adds the handler of h.Kind(). Register every handler before
// Start; a kind registered twice is an error.
func (r *Runner) Register(h Handler) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return fmt.Errorf("register %s: %w", h.Kind(), ErrAlreadyStarted)
	}
	k := h.Kind()
	if err := broker.ValidateKind(string(k)); err != nil {
		return fmt.Errorf("%w: register: %w", ErrInvalidConfig, err)
	}
	if _, dup := r.handlers[k]; dup {
		return fmt.Errorf("%w: kind %s registered twice", ErrInvalidConfig, k)
	}
	r.handlers[k] = h
	return nil
}

// Kinds returns the kinds the Runner serves (or will serve once started),
// sorted.
func (r *Runner) Kinds() []jobs.Kind {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kindsLocked()
}

func (r *Runner) kindsLocked() []jobs.Kind {
	if r.cfg.Kinds != nil {
		return slices.Sorted(slices.Values(r.cfg.Kinds))
	}
	var out []jobs.Kind
	for k := range r.handlers {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Start starts one durable consumer per (queue, kind) it serves: the jobs
// of every kind, and the tasks of every kind whose handler is a
// TaskHandler; and the periodic expiry of finished jobs. It returns once
// every consumer is declared. A Runner starts once.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return ErrAlreadyStarted
	}
	kinds := r.kindsLocked()
	if len(kinds) == 0 {
		return fmt.Errorf("%w: no job kinds to serve: register a handler", ErrInvalidConfig)
	}
	var consumers []served
	for _, k := range kinds {
		h, ok := r.handlers[k]
		if !ok {
			return fmt.Errorf("%w: kind %s has no registered handler", ErrInvalidConfig, k)
		}
		c, err := r.newConsumer(broker.Jobs, k, r.cfg.Concurrency, func(ctx context.Context, m *broker.Msg) broker.Outcome {
			return r.handleJob(ctx, h, m)
		})
		if err != nil {
			return err
		}
		consumers = append(consumers, served{broker.Jobs, c})
		if th, ok := h.(TaskHandler); ok {
			c, err := r.newConsumer(broker.Tasks, k, r.cfg.TaskConcurrency, func(ctx context.Context, m *broker.Msg) broker.Outcome {
				return r.handleTask(ctx, h, th, m)
			})
			if err != nil {
				return err
			}
			consumers = append(consumers, served{broker.Tasks, c})
		}
	}
	abandoned, err := startAbandonedWatch(r, consumers)
	if err != nil {
		return err
	}
	for i, c := range consumers {
		if err := c.consumer.Start(ctx); err != nil {
			stopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			cancel() // started ones have nothing in flight worth waiting for
			for _, s := range consumers[:i] {
				_ = s.consumer.Stop(stopCtx)
			}
			abandoned.stop()
			return fmt.Errorf("start workers: %w", err)
		}
	}
	r.consumers, r.abandoned = consumers, abandoned
	if r.cfg.ExpireAfter > 0 {
		r.expirer = startExpirer(ctx, r)
	}
	r.requeuer = startRequeuer(ctx, r)
	r.started = true
	r.log.InfoContext(ctx, "workers started", "kinds", kinds, "concurrency", r.cfg.Concurrency,
		"task_concurrency", r.cfg.TaskConcurrency)
	return nil
}

// newConsumer builds the consumer of one queue and kind.
func (r *Runner) newConsumer(q broker.Queue, k jobs.Kind, n int, h broker.Handler) (*broker.Consumer, error) {
	c, err := r.deps.Broker.NewConsumer(broker.ConsumerConfig{
		Queue:        q,
		Kind:         string(k),
		Concurrency:  n,
		Handler:      h,
		FetchMaxWait: r.cfg.FetchMaxWait,
		Logger:       r.log,
	})
	if err != nil {
		return nil, fmt.Errorf("workers: %s of kind %s: %w", q, k, err)
	}
	return c, nil
}

// Stop stops fetching on every consumer at once, then waits for the jobs
// and tasks in flight to finish and settle, as long as ctx allows (give it
// the shutdown grace, from context.WithoutCancel). When ctx ends first, the
// handlers' context is canceled and their messages are redelivered to
// other workers; Stop then returns ctx's error. Stop is idempotent.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	if !r.started || r.stopped {
		r.stopped = true
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	consumers, exp, req, abandoned := r.consumers, r.expirer, r.requeuer, r.abandoned
	r.mu.Unlock()

	if exp != nil {
		exp.stop()
	}
	req.stop()
	abandoned.stop()
	errs := make([]error, len(consumers))
	var wg sync.WaitGroup
	for i, c := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.consumer.Stop(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop workers: %w", err)
	}
	r.log.InfoContext(ctx, "workers stopped")
	return nil
}
