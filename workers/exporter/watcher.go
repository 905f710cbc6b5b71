package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
)

// Defaults of WatcherConfig.
const (
	DefaultWatchInterval    = time.Second
	DefaultWatchDepth       = 10000
	DefaultWatchRetryBase   = 5 * time.Second
	DefaultWatchRetryMax    = 10 * time.Minute
	DefaultWatchRepublish   = time.Minute
	maxWatchBackoffDoubling = 20
)

// WatcherConfig tunes a Watcher. The zero value is usable.
type WatcherConfig struct {
	// Interval is how often the watcher looks at every rule's branch.
	// Default 1s.
	Interval time.Duration
	// Depth bounds the first-parent walk from a branch's head back to the
	// rule's last exported commit; a commit further back (or not on that
	// path at all, after a reset) is exported as one diff up to the head.
	// Default 10,000.
	Depth int
	// RetryBase and RetryMax bound the wait before a failed export of a
	// rule is submitted again: RetryBase doubling per failure up to
	// RetryMax. Defaults 5s and 10m.
	RetryBase, RetryMax time.Duration
	// Republish is how long an export the watcher submitted may stay
	// SUBMITTED before its message is published again (its submitter may
	// have died between storing and publishing it). Default 1m.
	Republish time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (c WatcherConfig) withDefaults() WatcherConfig {
	if c.Interval <= 0 {
		c.Interval = DefaultWatchInterval
	}
	if c.Depth <= 0 {
		c.Depth = DefaultWatchDepth
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultWatchRetryBase
	}
	if c.RetryMax < c.RetryBase {
		c.RetryMax = max(DefaultWatchRetryMax, c.RetryBase)
	}
	if c.Republish <= 0 {
		c.Republish = DefaultWatchRepublish
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// WatcherDeps are the parts a Watcher works with.
type WatcherDeps struct {
	// Graph reads branch heads and history. Required.
	Graph *graph.Graph
	// Jobs keeps the rules and the export jobs. Required.
	Jobs *jobs.Store
	// Broker queues the export jobs. Required.
	Broker *broker.Broker
	// Logger receives the watcher's logs. Default slog.Default().
	Logger *slog.Logger
}

// Watcher runs continuous exports: every Interval it looks at each branch
// with an export rule and, when the branch has commits the rule has not
// exported and no export of the rule is under way, submits a diff export
// of the next one (the oldest on the branch's first-parent path after the
// last exported commit). Any number of watchers, in any number of
// processes, may run: a compare-and-swap on the rule's record lets exactly
// one of them submit each export.
type Watcher struct {
	cfg   WatcherConfig
	deps  WatcherDeps
	rules *jobs.ExportRules
	log   *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewWatcher returns a Watcher; Start runs it.
func NewWatcher(cfg WatcherConfig, deps WatcherDeps) (*Watcher, error) {
	if deps.Graph == nil || deps.Jobs == nil || deps.Broker == nil {
		return nil, fmt.Errorf("%w: export watcher: Graph, Jobs and Broker are required", store.ErrInvalidValue)
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	return &Watcher{cfg: cfg.withDefaults(), deps: deps, rules: deps.Jobs.ExportRules(), log: deps.Logger.With("component", "export-watcher")}, nil
}

// Start runs the watcher in the background until Stop.
func (w *Watcher) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		return fmt.Errorf("export watcher: %w: already started", store.ErrPrecondition)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.cfg.Interval)
		defer t.Stop()
		for {
			if err := w.Poll(ctx); err != nil && ctx.Err() == nil {
				w.log.WarnContext(ctx, "continuous export pass failed; trying again", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Stop ends the watcher and waits for the pass under way, as long as ctx
// allows. It is idempotent.
func (w *Watcher) Stop(ctx context.Context) error {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Poll makes one pass over every rule. Errors of one rule are logged and
// do not stop the pass.
func (w *Watcher) Poll(ctx context.Context) error {
	var rules []*jobs.ExportRule
	if err := w.rules.List(ctx, func(r *jobs.ExportRule) error {
		rules = append(rules, r)
		return nil
	}); err != nil {
		return err
	}
	for _, r := range rules {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.step(ctx, r); err != nil && ctx.Err() == nil {
			w.log.WarnContext(ctx, "continuous export", "repository", r.Repo, "branch", r.Branch, "error", err)
		}
	}
	return nil
}

// step advances one rule: it settles the export under way when it ended,
// and otherwise submits the next one if the branch moved.
func (w *Watcher) step(ctx context.Context, r *jobs.ExportRule) error {
	now := w.cfg.Now()
	if r.PendingJob != "" {
		settled, err := w.settle(ctx, r, now)
		if err != nil || !settled {
			return err
		}
		if r, err = w.rules.Get(ctx, r.Repo, r.Branch); err != nil {
			return err
		}
		if r.PendingJob != "" {
			return nil
		}
	}
	if now.Before(r.NextAttempt) {
		return nil
	}
	b, err := w.deps.Graph.GetBranch(ctx, r.Repo, r.Branch)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil // the branch (or repository) is gone: nothing to follow
		}
		return err
	}
	if b.CommitID == r.LastExported {
		return nil
	}
	next, err := w.nextCommit(ctx, r, b.CommitID)
	if err != nil {
		return err
	}
	id := jobs.NewID(now)
	wrote, err := w.rules.Update(ctx, r.Repo, r.Branch, func(cur *jobs.ExportRule) error {
		if cur.PendingJob != "" || cur.LastExported != r.LastExported {
			return jobs.ErrKeep // another watcher got there first
		}
		cur.Pending, cur.PendingJob = next, id
		return nil
	})
	if err != nil || !wrote {
		return err
	}
	r.Pending, r.PendingJob = next, id
	return w.submit(ctx, r)
}

// settle looks at the rule's export under way and, once it ended, records
// its outcome in the rule. It reports whether the export ended.
func (w *Watcher) settle(ctx context.Context, r *jobs.ExportRule, now time.Time) (bool, error) {
	j, err := w.deps.Jobs.Get(ctx, r.PendingJob)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Its submitter died after claiming it: submit it now.
		return false, w.submit(ctx, r)
	case err != nil:
		return false, err
	case j.State == jobs.StateSubmitted && now.Sub(j.UpdatedAt) > w.cfg.Republish:
		return false, w.publish(ctx, j)
	case !j.State.Terminal():
		return false, nil
	}
	pending := r.PendingJob
	_, err = w.rules.Update(ctx, r.Repo, r.Branch, func(cur *jobs.ExportRule) error {
		if cur.PendingJob != pending {
			return jobs.ErrKeep
		}
		if j.State == jobs.StateCompleted {
			cur.LastExported = cur.Pending
			cur.LastError, cur.Failures, cur.NextAttempt = "", 0, time.Time{}
		} else {
			cur.Failures++
			cur.LastError = fmt.Sprintf("export %s of %s %s: %s", j.ID, cur.Pending, j.State, j.Error)
			cur.NextAttempt = now.Add(w.backoff(cur.Failures))
		}
		cur.Pending, cur.PendingJob = "", ""
		return nil
	})
	if err == nil {
		w.log.InfoContext(ctx, "continuous export ended", "repository", r.Repo, "branch", r.Branch,
			"job_id", j.ID, "commit", r.Pending, "state", j.State)
	}
	return true, err
}

func (w *Watcher) backoff(failures int) time.Duration {
	d := w.cfg.RetryBase
	for i := 1; i < min(failures, maxWatchBackoffDoubling) && d < w.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, w.cfg.RetryMax)
}

// nextCommit returns the commit after last on head's first-parent path:
// the oldest commit of that path newer than last. When last is not on the
// path within Depth commits, it returns head.
func (w *Watcher) nextCommit(ctx context.Context, r *jobs.ExportRule, head store.CommitID) (store.CommitID, error) {
	commits, more, err := w.deps.Graph.Log(ctx, r.Repo, store.Ref(head), graph.LogOptions{
		FirstParent: true, Until: r.LastExported, Amount: w.cfg.Depth,
	})
	if err != nil {
		return "", err
	}
	if more || len(commits) == 0 {
		return head, nil
	}
	oldest := commits[len(commits)-1]
	if len(oldest.Parents) == 0 || oldest.Parents[0] != r.LastExported {
		return head, nil // last is not an ancestor along first parents
	}
	return oldest.ID, nil
}

// submit stores the rule's pending export as a job (once: the id is fixed
// in the rule) and queues it.
func (w *Watcher) submit(ctx context.Context, r *jobs.ExportRule) error {
	req := r.Request(r.Pending)
	raw, err := json.Marshal(req)
	if err != nil {
		return err
	}
	j, err := w.deps.Jobs.Create(ctx, &jobs.Job{ID: r.PendingJob, Kind: jobs.KindExport, Repo: r.Repo, Request: raw})
	if err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return err
	}
	if err := w.publish(ctx, j); err != nil {
		return err
	}
	w.log.InfoContext(ctx, "continuous export submitted", "repository", r.Repo, "branch", r.Branch,
		"job_id", j.ID, "commit", r.Pending, "prev_commit", r.LastExported)
	return nil
}

// publish queues job j and announces it.
func (w *Watcher) publish(ctx context.Context, j *jobs.Job) error {
	err := w.deps.Jobs.Queue(ctx, j, w.deps.Broker.QueueJob)
	if errors.Is(err, jobs.ErrNotMarked) {
		w.log.WarnContext(ctx, "mark export queued", "job_id", j.ID, "error", err)
	} else if err != nil {
		return fmt.Errorf("queue export %s: %w", j.ID, err)
	}
	subject, err := broker.EventSubject(j.Repo, string(j.Kind), j.ID)
	if err != nil {
		return nil
	}
	data, err := json.Marshal(jobs.NewEvent(j, jobs.EventSubmitted, w.cfg.Now()))
	if err == nil {
		if _, err := w.deps.Broker.PublishEvent(ctx, subject, data); err != nil {
			w.log.WarnContext(ctx, "publish submitted event", "job_id", j.ID, "error", err)
		}
	}
	return nil
}
