// Package graph is lakeq's versioned store: repositories, branches, tags,
// commits, staging, diff, merge and revert, over a metadata KV (refs,
// commits, staging) and content-addressed trees in the repository's storage
// namespace (store/tree).
//
// Concurrency: every method is safe for concurrent use, also across
// processes sharing one KV. A branch moves only by compare-and-swap of its
// record with bounded retry; the expensive work (writing ranges) happens
// before the swap, so a retry repeats only the swap and a cheap check.
package graph

import (
	"log/slog"
	"time"

	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/tree"
)

// Config tunes a Graph. The zero value is usable.
type Config struct {
	// SwapRetries bounds the compare-and-swap attempts of one branch move
	// before ErrTooManyRetries. Default 200.
	SwapRetries int
	// SealLease is how long a commit waits for an older, still unfinished
	// commit of the same branch before it takes that commit's changes over
	// (the older committer is presumed dead). Default 30s.
	SealLease time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives operational messages; default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.SwapRetries <= 0 {
		c.SwapRetries = 200
	}
	if c.SealLease <= 0 {
		c.SealLease = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Graph is the versioned store.
type Graph struct {
	kv     kv.Store
	trees  *tree.Manager
	blocks *block.Resolver
	cfg    Config
}

// New returns a Graph over the given KV, tree manager and storage resolver.
func New(store kv.Store, trees *tree.Manager, blocks *block.Resolver, cfg Config) *Graph {
	return &Graph{kv: store, trees: trees, blocks: blocks, cfg: cfg.withDefaults()}
}

// Trees returns the tree manager the graph writes through.
func (g *Graph) Trees() *tree.Manager { return g.trees }

// Blocks returns the storage resolver the graph reads and writes data with.
func (g *Graph) Blocks() *block.Resolver { return g.blocks }

func (g *Graph) now() time.Time { return g.cfg.Now().UTC() }
