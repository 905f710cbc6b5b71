package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"

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
	DefaultMaxShards    = 256
	DefaultPrefixWeight = 1000
	DefaultPlanItems    = 10000
	DefaultPageSize     = 1000
	DefaultSortBuffer   = 64 << 20
	DefaultHistoryDepth = 50
	DefaultUploads      = 16
	DefaultListPages    = 32
)

// Config tunes a Handler. The zero value is usable: every zero field takes
// its default.
type Config struct {
	// MaxShards caps the tasks one import fans out into (shared among its
	// common-prefix sources; an import of more sources than MaxShards has
	// one task per source). Default 256.
	MaxShards int
	// PrefixWeight is how many objects a common prefix is assumed to hold
	// when planning: the planner groups top-level objects in runs of this
	// many, and gives each sub-prefix a shard of its own until there are
	// too many. Default 1,000.
	PrefixWeight int
	// PlanItems caps the top-level listing items the planner reads per
	// source; the keys after them form the source's last shard. Default
	// 10,000.
	PlanItems int
	// PageSize is the listing page size. Default 1,000 (the S3 maximum).
	PageSize int
	// SortBuffer is the memory, in bytes, an external sort of an unordered
	// listing holds before it spills a sorted run to disk. Default 64 MiB.
	SortBuffer int64
	// TempDir holds the external sort's runs, and the entries of the
	// ranges the shards are filling (tree.Config.SpillDir). Default
	// os.TempDir().
	TempDir string
	// HistoryDepth is how many first-parent commits of the branch a
	// finalize searches for a commit of the same job before it commits.
	// Default 50.
	HistoryDepth int
	// ListPages is how many listing pages the handler's shards hold at
	// once, from the request until the page is used up: a page is held
	// decoded in memory, so this bounds a worker's memory however many
	// shards it runs. Default 32. A shard that merges sources with
	// overlapping destinations holds, beyond these, a page of each source
	// but the first.
	ListPages int
	// Encodes is how many range files the handler's shards encode at
	// once: encoding holds a range's Parquet pages and takes only CPU.
	// Default GOMAXPROCS.
	Encodes int
	// Uploads is how many encoded range files the handler's shards upload
	// at once; an upload holds only the file's bytes. Default 16.
	Uploads int
}

// Validate reports whether c (after defaults) is usable.
func (c Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.MaxShards < 1, d.PrefixWeight < 1, d.PlanItems < 1, d.HistoryDepth < 1, d.ListPages < 1, d.Encodes < 1, d.Uploads < 1:
		return fmt.Errorf("%w: importer: MaxShards, PrefixWeight, PlanItems, HistoryDepth, ListPages, Encodes and Uploads must be positive", store.ErrInvalidValue)
	case d.PageSize < 1 || d.PageSize > 1000:
		return fmt.Errorf("%w: importer: PageSize %d: want 1 to 1000", store.ErrInvalidValue, c.PageSize)
	case d.SortBuffer < 1<<10:
		return fmt.Errorf("%w: importer: SortBuffer %d: want at least 1 KiB", store.ErrInvalidValue, c.SortBuffer)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxShards == 0 {
		c.MaxShards = DefaultMaxShards
	}
	if c.PrefixWeight == 0 {
		c.PrefixWeight = DefaultPrefixWeight
	}
	if c.PlanItems == 0 {
		c.PlanItems = DefaultPlanItems
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.SortBuffer == 0 {
		c.SortBuffer = DefaultSortBuffer
	}
	if c.TempDir == "" {
		c.TempDir = os.TempDir()
	}
	if c.HistoryDepth == 0 {
		c.HistoryDepth = DefaultHistoryDepth
	}
	if c.ListPages == 0 {
		c.ListPages = DefaultListPages
	}
	if c.Encodes == 0 {
		c.Encodes = runtime.GOMAXPROCS(0)
	}
	if c.Uploads == 0 {
		c.Uploads = DefaultUploads
	}
	return c
}

// Resolver maps source URIs to the stores that hold them; *block.Resolver
// is one.
type Resolver interface {
	Resolve(u block.URI) (block.Target, error)
}

// Deps are the parts a Handler works with.
type Deps struct {
	// Graph is the versioned store imports commit to. Required.
	Graph *graph.Graph
	// KV keeps each import's plan and shard results until it completes.
	// Required.
	KV kv.Store
	// Sources resolves source URIs. Default Graph.Blocks().
	Sources Resolver
}

// Handler runs import jobs: workers.Handler and workers.TaskHandler for
// jobs.KindImport. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	graph   *graph.Graph
	kv      kv.Store
	sources Resolver
	// writer writes the shards' ranges: the graph's tree configuration,
	// with synchronous writes, Config.Encodes encodes and Config.Uploads
	// uploads at once.
	writer *tree.Manager
	// listSlots holds a token per listing page held (Config.ListPages).
	listSlots chan struct{}
}

var (
	_ workers.Handler     = (*Handler)(nil)
	_ workers.TaskHandler = (*Handler)(nil)
)

// New returns an import Handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Graph == nil || deps.KV == nil {
		return nil, fmt.Errorf("%w: importer: Graph and KV are required", store.ErrInvalidValue)
	}
	h := &Handler{cfg: cfg.withDefaults(), graph: deps.Graph, kv: deps.KV, sources: deps.Sources}
	if h.sources == nil {
		h.sources = deps.Graph.Blocks()
	}
	h.listSlots = make(chan struct{}, h.cfg.ListPages)
	tcfg := deps.Graph.Trees().Config()
	// A shard uploads each range before it reads on: it holds one range
	// at a time, so that a worker's memory depends on how many shards it
	// runs, not on their size.
	tcfg.SyncWrites = true
	// A shard keeps the range it fills on disk but for its last 16 KiB,
	// so that its memory does not depend on how long ranges grow, which
	// is longer in a large import than in a small one.
	tcfg.SpillDir = h.cfg.TempDir
	tcfg.ManagerEncodes = h.cfg.Encodes
	tcfg.ManagerUploads = h.cfg.Uploads
	tcfg.CacheRanges = 1 // the writer reads nothing back
	// Remembering the ranges written spares only rewriting one that a
	// shard retried in the same worker writes again: the last few
	// suffice, and a worker remembering more would hold more the more
	// ranges it writes.
	tcfg.KnownIDs = 64
	w, err := tree.NewManager(tcfg)
	if err != nil {
		return nil, err
	}
	h.writer = w
	return h, nil
}

// Kind returns jobs.KindImport.
func (h *Handler) Kind() jobs.Kind { return jobs.KindImport }

// request decodes the job's request.
func request(j *jobs.Job) (*jobs.ImportRequest, error) {
	var req jobs.ImportRequest
	if err := json.Unmarshal(j.Request, &req); err != nil {
		return nil, permanent(fmt.Errorf("%w: import request: %v", store.ErrInvalidValue, err))
	}
	if err := req.Validate(); err != nil {
		return nil, permanent(err)
	}
	return &req, nil
}

// Run plans the import (once: a redelivered job reuses the stored plan)
// and fans out one task per shard; the runner calls Finalize once they
// are all done.
func (h *Handler) Run(ctx context.Context, rt *workers.Run) error {
	return h.settle(ctx, rt, h.run(ctx, rt))
}

// settle drops the job's working state in the KV when err ends the job for
// good (canceled, or failed permanently): no finalize will come for it.
func (h *Handler) settle(ctx context.Context, rt *workers.Run, err error) error {
	if errors.Is(err, workers.ErrCanceled) || workers.IsPermanent(err) {
		if derr := h.dropState(context.WithoutCancel(ctx), rt.Job().ID); derr != nil {
			rt.Logger().WarnContext(ctx, "import: drop working state", "error", derr.Error())
		}
	}
	return err
}

func (h *Handler) run(ctx context.Context, rt *workers.Run) error {
	j := rt.Job()
	req, err := request(j)
	if err != nil {
		return err
	}
	if rt.Canceled(ctx) {
		return workers.ErrCanceled
	}
	if _, err := h.graph.GetBranch(ctx, j.Repo, req.Branch); err != nil {
		return classify(err)
	}
	p, err := h.loadOrMakePlan(ctx, j.ID, req)
	if err != nil {
		return err
	}
	rt.Logger().InfoContext(ctx, "import planned", "shards", len(p.Tasks), "objects", len(p.Objects))
	// With no shards (object sources only), FanOut asks for Finalize at
	// once.
	tasks := make([]workers.Task, len(p.Tasks))
	for i, st := range p.Tasks {
		payload, err := json.Marshal(st)
		if err != nil {
			return err
		}
		tasks[i] = workers.Task{ID: taskID(st.Index), Payload: payload}
	}
	return rt.FanOut(ctx, tasks)
}

// permanent marks err as one a retry cannot fix.
func permanent(err error) error { return workers.Permanent(err) }

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
		return permanent(err)
	}
	return err
}
