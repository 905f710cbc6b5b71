package workers

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
)

// Defaults for Config's zero fields.
const (
	// DefaultConcurrency is how many jobs of each kind one worker runs at
	// once.
	DefaultConcurrency = 4
	// DefaultTaskConcurrency is how many tasks of each kind one worker
	// runs at once. Tasks (an import's shards, an export's ranges) spend
	// most of their time waiting on object storage, so a worker runs many.
	DefaultTaskConcurrency = 32
	// DefaultExpireAfter is how long a finished job's state is kept.
	DefaultExpireAfter = 7 * 24 * time.Hour
	// DefaultExpireInterval is how often a worker deletes expired jobs.
	DefaultExpireInterval = time.Hour
	// DefaultProgressInterval is how often a running job's progress is
	// saved and published, at most (and at least, while it changes).
	DefaultProgressInterval = time.Second
	// DefaultCancelCheckInterval is how often Run.Canceled re-reads the
	// job, at most.
	DefaultCancelCheckInterval = time.Second
	// DefaultPublishConcurrency is how many task messages FanOut publishes
	// at once.
	DefaultPublishConcurrency = 32
	// DefaultRequeueAfter is how old a job still waiting to be queued must
	// be before a worker queues it: well inside the jobs stream's duplicate
	// window (broker.DefaultDuplicateWindow), so that a job its creator
	// did queue is dropped as a duplicate.
	DefaultRequeueAfter = 30 * time.Second
	// DefaultRequeueInterval is how often a worker looks for such jobs.
	DefaultRequeueInterval = 15 * time.Second
)

// ErrInvalidConfig reports a Config, Deps or handler registration that
// cannot be used; nothing was started.
var ErrInvalidConfig = fmt.Errorf("%w workers config", store.ErrInvalid)

// Config configures a Runner. The zero value of every field means its
// default.
type Config struct {
	// WorkerID names this worker in job records, events and logs. Default
	// "<hostname>-<pid>".
	WorkerID string

	// Concurrency is how many jobs of each kind this worker runs at once;
	// it never holds more job messages than that. Default 4.
	Concurrency int

	// TaskConcurrency is how many tasks of each fanned-out kind this
	// worker runs at once. Default DefaultTaskConcurrency.
	TaskConcurrency int

	// Kinds are the job kinds this worker serves; each must have a
	// registered handler. Default (nil): every registered kind.
	Kinds []jobs.Kind

	// ExpireAfter is how long a finished job's state is kept before a
	// worker deletes it. Any worker may expire jobs, at any time: it is
	// idempotent. Negative disables expiry on this worker. Default 7 days.
	ExpireAfter time.Duration

	// ExpireInterval is how often this worker deletes expired jobs; the
	// first pass runs at a random point of the first interval, so that
	// workers started together spread their passes. Default 1 hour.
	ExpireInterval time.Duration

	// RequeueAfter is how long after its creation a job that was never
	// marked queued is queued by a worker (see Runner.Requeue). Default
	// 30 seconds.
	RequeueAfter time.Duration

	// RequeueInterval is how often this worker looks for such jobs; the
	// first pass runs at a random point of the first interval. Default 15
	// seconds.
	RequeueInterval time.Duration

	// ProgressInterval is how often a running job's progress is saved and
	// published as a "progress" event: at most once per interval, and at
	// least once per interval while it changes. Default 1 second.
	ProgressInterval time.Duration

	// CancelCheckInterval bounds how often Run.Canceled re-reads the job
	// from the KV. Default 1 second.
	CancelCheckInterval time.Duration

	// FetchMaxWait is how long one fetch of messages waits; it bounds how
	// long Stop waits for the fetch loop. Default
	// broker.DefaultFetchMaxWait.
	FetchMaxWait time.Duration

	// PublishConcurrency is how many task messages FanOut publishes at
	// once. Default 32.
	PublishConcurrency int

	// Now is the clock used for expiry cut-offs and event times. Default
	// time.Now.
	Now func() time.Time
}

// Deps are the parts a Runner works with.
type Deps struct {
	// Broker delivers job and task messages and carries events. Required.
	Broker *broker.Broker
	// Jobs keeps job state. Required.
	Jobs *jobs.Store
	// Graph is the versioned store, handed to handlers through Run.Graph.
	// Optional.
	Graph *graph.Graph
	// Logger receives the runner's logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.WorkerID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "worker"
		}
		c.WorkerID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.TaskConcurrency == 0 {
		c.TaskConcurrency = DefaultTaskConcurrency
	}
	if c.ExpireAfter == 0 {
		c.ExpireAfter = DefaultExpireAfter
	}
	if c.ExpireInterval == 0 {
		c.ExpireInterval = DefaultExpireInterval
	}
	if c.RequeueAfter == 0 {
		c.RequeueAfter = DefaultRequeueAfter
	}
	if c.RequeueInterval == 0 {
		c.RequeueInterval = DefaultRequeueInterval
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	if c.CancelCheckInterval == 0 {
		c.CancelCheckInterval = DefaultCancelCheckInterval
	}
	if c.FetchMaxWait == 0 {
		c.FetchMaxWait = broker.DefaultFetchMaxWait
	}
	if c.PublishConcurrency == 0 {
		c.PublishConcurrency = DefaultPublishConcurrency
	}
	if c.Now == nil {
		c.Now = time.Now
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
	if c.Concurrency < 1 {
		bad("concurrency %d: want at least 1", c.Concurrency)
	}
	if c.TaskConcurrency < 1 {
		bad("task concurrency %d: want at least 1", c.TaskConcurrency)
	}
	seen := map[jobs.Kind]bool{}
	for _, k := range c.Kinds {
		if err := broker.ValidateKind(string(k)); err != nil {
			bad("kind %q: %v", k, err)
		}
		if seen[k] {
			bad("kind %q listed twice", k)
		}
		seen[k] = true
	}
	if c.ExpireInterval < 0 {
		bad("expire interval %s is negative", c.ExpireInterval)
	}
	if c.RequeueAfter < 0 || c.RequeueInterval < 0 {
		bad("requeue after %s, interval %s: want positive durations", c.RequeueAfter, c.RequeueInterval)
	}
	if c.ProgressInterval < 0 {
		bad("progress interval %s is negative", c.ProgressInterval)
	}
	if c.CancelCheckInterval < 0 {
		bad("cancel check interval %s is negative", c.CancelCheckInterval)
	}
	if c.FetchMaxWait < broker.MinFetchMaxWait {
		bad("fetch max wait %s: want at least %s", c.FetchMaxWait, broker.MinFetchMaxWait)
	}
	if c.PublishConcurrency < 1 {
		bad("publish concurrency %d: want at least 1", c.PublishConcurrency)
	}
	return errors.Join(errs...)
}
