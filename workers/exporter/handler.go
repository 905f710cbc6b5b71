package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers"
)

// Defaults of Config.
const (
	DefaultMaxTasks       = 10000
	DefaultCopyAttempts   = 5
	DefaultRetryBase      = 200 * time.Millisecond
	DefaultRetryMax       = 5 * time.Second
	DefaultFailuresListed = 1000
)

// Config tunes a Handler. The zero value is usable: every zero field takes
// its default.
type Config struct {
	// MaxTasks caps the tasks one round of an export fans out into;
	// neighbouring spans are joined when there would be more. Default
	// 10,000.
	MaxTasks int
	// CopyAttempts is how many times one object's copy is tried before it
	// counts as failed. Default 5.
	CopyAttempts int
	// RetryBase and RetryMax bound the backoff between attempts: it
	// starts at RetryBase and doubles up to RetryMax, with jitter.
	// Defaults 200ms and 5s.
	RetryBase time.Duration
	RetryMax  time.Duration
	// Now is the clock that dates status files. Default time.Now.
	Now func() time.Time
	// FailuresListed caps the failed objects one task records with their
	// error (the status file lists them); further failures are counted
	// only. Default 1,000.
	FailuresListed int
}

// Validate reports whether c (after defaults) is usable.
func (c Config) Validate() error {
	d := c.withDefaults()
	if d.MaxTasks < 1 || d.CopyAttempts < 1 || d.RetryBase <= 0 || d.RetryMax < d.RetryBase || d.FailuresListed < 1 {
		return fmt.Errorf("%w: exporter: MaxTasks, CopyAttempts, RetryBase, FailuresListed must be positive and RetryMax at least RetryBase", store.ErrInvalidValue)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxTasks == 0 {
		c.MaxTasks = DefaultMaxTasks
	}
	if c.CopyAttempts == 0 {
		c.CopyAttempts = DefaultCopyAttempts
	}
	if c.RetryBase == 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax == 0 {
		c.RetryMax = max(DefaultRetryMax, c.RetryBase)
	}
	if c.FailuresListed == 0 {
		c.FailuresListed = DefaultFailuresListed
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Resolver maps destination URIs to the stores that hold them;
// *block.Resolver is one.
type Resolver interface {
	Resolve(u block.URI) (block.Target, error)
}

// Deps are the parts a Handler works with.
type Deps struct {
	// Graph is the versioned store exports read. Required.
	Graph *graph.Graph
	// KV keeps each export's task results and status until it ends.
	// Required.
	KV kv.Store
	// Destinations resolves destination URIs. Default Graph.Blocks().
	Destinations Resolver
}

// Stats are a Handler's cumulative counters, over every export it ran.
type Stats struct {
	// Copies counts copies made (successful or not, each attempt once).
	Copies int64
	// Skipped counts objects a redelivered task found already copied.
	Skipped int64
	// Deleted counts objects deleted at destinations.
	Deleted int64
}

// Handler runs export jobs: workers.Handler and workers.TaskHandler for
// jobs.KindExport. It is safe for concurrent use.
type Handler struct {
	cfg   Config
	graph *graph.Graph
	kv    kv.Store
	dests Resolver
	slots *limiters

	copies, skipped, deleted atomic.Int64

	// afterCopy, when set (tests), runs after each successful copy with
	// the object's path.
	afterCopy func(path string)
}

var (
	_ workers.Handler     = (*Handler)(nil)
	_ workers.TaskHandler = (*Handler)(nil)
)

// New returns an export Handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Graph == nil || deps.KV == nil {
		return nil, fmt.Errorf("%w: exporter: Graph and KV are required", store.ErrInvalidValue)
	}
	h := &Handler{cfg: cfg.withDefaults(), graph: deps.Graph, kv: deps.KV, dests: deps.Destinations, slots: newLimiters()}
	if h.dests == nil {
		h.dests = deps.Graph.Blocks()
	}
	return h, nil
}

func (h *Handler) now() time.Time { return h.cfg.Now().UTC() }

// Kind returns jobs.KindExport.
func (h *Handler) Kind() jobs.Kind { return jobs.KindExport }

// Stats returns a snapshot of the handler's counters.
func (h *Handler) Stats() Stats {
	return Stats{Copies: h.copies.Load(), Skipped: h.skipped.Load(), Deleted: h.deleted.Load()}
}

// export is what every phase of one export job works with.
type export struct {
	job    *jobs.Job
	req    *jobs.ExportRequest
	rounds *jobs.ExportRounds
	ns     tree.Namespace
	commit *graph.Commit
	prev   *graph.Commit // nil unless diff mode
	dst    block.Target  // Key is "" or ends with '/'
	dstURI block.URI
}

// load decodes job j's request and looks up its commits and destination.
// Errors a retry cannot fix are permanent.
func (h *Handler) load(ctx context.Context, j *jobs.Job) (*export, error) {
	var req jobs.ExportRequest
	if err := json.Unmarshal(j.Request, &req); err != nil {
		return nil, workers.Permanent(fmt.Errorf("%w: export request: %v", store.ErrInvalidValue, err))
	}
	if err := req.Validate(); err != nil {
		return nil, workers.Permanent(err)
	}
	rounds, err := jobs.CompileExportRounds(req.Rounds)
	if err != nil {
		return nil, workers.Permanent(err)
	}
	x := &export{job: j, req: &req, rounds: rounds}
	if x.ns, err = h.graph.Namespace(ctx, j.Repo); err != nil {
		return nil, classify(err)
	}
	if x.commit, err = h.graph.GetCommit(ctx, j.Repo, store.Ref(req.CommitID)); err != nil {
		return nil, classify(err)
	}
	if req.Diff() {
		if x.prev, err = h.graph.GetCommit(ctx, j.Repo, store.Ref(req.PrevCommitID)); err != nil {
			return nil, classify(err)
		}
	}
	if x.dstURI, err = jobs.ExportDestination(req.Destination); err != nil {
		return nil, workers.Permanent(err)
	}
	if x.dst, err = h.dests.Resolve(x.dstURI); err != nil {
		return nil, workers.Permanent(err)
	}
	return x, nil
}

// classify marks errors that a retry cannot fix (bad input, something
// missing) as permanent and leaves the rest (network, timeouts) to be
// retried.
func classify(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid),
		errors.Is(err, store.ErrPrecondition), errors.Is(err, store.ErrNotImplemented):
		return workers.Permanent(err)
	}
	return err
}
