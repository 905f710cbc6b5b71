package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers"
)

// errCommitted ends a commit attempt that found the job's commit already
// on the branch.
var errCommitted = errors.New("import already committed")

// Finalize joins the shards' ranges into one metarange and commits it to
// the branch, replacing everything under the destination prefixes, then
// completes the job. It commits at most once per job: the commit carries
// the job id, and a finalize that finds such a commit among the branch's
// last Config.HistoryDepth first-parent commits completes with it. A
// cancellation seen before the branch moves commits nothing.
func (h *Handler) Finalize(ctx context.Context, rt *workers.Run) error {
	return h.settle(ctx, rt, h.finalize(ctx, rt))
}

func (h *Handler) finalize(ctx context.Context, rt *workers.Run) error {
	j := rt.Job()
	req, err := request(j)
	if err != nil {
		return err
	}
	c, head, err := h.findCommit(ctx, j.Repo, store.Ref(req.Branch), j.ID)
	switch {
	case err != nil:
		return classify(err)
	case c != nil:
		return h.completeFound(ctx, rt, c)
	}
	p, err := h.loadPlan(ctx, j.ID)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		return permanent(fmt.Errorf("import %s: no plan to finalize", j.ID))
	case err != nil:
		return err
	}
	if rt.Canceled(ctx) {
		return workers.ErrCanceled
	}
	ranges, total, err := h.shardResults(ctx, j.ID, p)
	if err != nil {
		return err
	}
	trees := h.graph.Trees()
	ns, err := h.graph.Namespace(ctx, j.Repo)
	if err != nil {
		return classify(err)
	}
	warm := h.readTree(ctx, ns, head)
	imported, err := trees.WriteMetaRange(ctx, ns, ranges)
	<-warm
	if err != nil {
		return classify(fmt.Errorf("import %s: write metarange: %w", j.ID, err))
	}
	var found *graph.Commit
	build := func(ctx context.Context, ns tree.Namespace, head *graph.Commit) (tree.MetaRangeID, error) {
		if rt.Canceled(ctx) {
			return "", workers.ErrCanceled
		}
		prev, _, err := h.findCommit(ctx, j.Repo, store.Ref(head.ID), j.ID)
		if err != nil {
			return "", err
		}
		if prev != nil {
			found = prev
			return "", errCommitted
		}
		mr := head.MetaRangeID
		if len(p.Prefixes) > 0 {
			if mr, err = trees.Replace(ctx, ns, mr, p.Prefixes, imported); err != nil {
				return "", err
			}
		}
		if len(p.Objects) > 0 {
			changes := make([]tree.Change, len(p.Objects))
			for i := range p.Objects {
				changes[i] = tree.Change{Path: p.Objects[i].Path, Entry: &p.Objects[i]}
			}
			if mr, err = trees.Apply(ctx, ns, mr, tree.SliceChanges(changes), nil); err != nil {
				return "", err
			}
		}
		// The last point a cancellation is taken: from here on the job
		// commits, and ends COMPLETED (or FAILED) whoever else runs.
		if err := rt.BeginCommit(ctx); err != nil {
			return "", err
		}
		return mr, nil
	}
	params := graph.CommitParams{
		Message:    req.CommitMessage(),
		Committer:  req.Committer,
		Metadata:   req.CommitMetadata(j.ID),
		AllowEmpty: true,
	}
	c, err = h.graph.CommitTree(ctx, j.Repo, req.Branch, params, req.Force, build)
	switch {
	case errors.Is(err, errCommitted):
		c = found
	case errors.Is(err, workers.ErrCanceled):
		return err
	case errors.Is(err, store.ErrDirtyBranch):
		return permanent(fmt.Errorf("import into %s: %w (submit with force to import anyway)", req.Branch, err))
	case err != nil:
		return classify(fmt.Errorf("import into %s: %w", req.Branch, err))
	}
	return h.complete(ctx, rt, c, imported, total)
}

// completeFound completes the job with c, the commit an earlier finalize
// made before it stopped short of recording the result. The result is the
// one that finalize would have recorded, read back from the working state;
// what cannot be read back (the state is gone, or the store fails) is left
// as the count the tasks saved and the commit's metarange, for the commit
// is made and the job completes with it whatever fails here.
func (h *Handler) completeFound(ctx context.Context, rt *workers.Run, c *graph.Commit) error {
	j := rt.Job()
	total, imported := j.Progress.Done, tree.MetaRangeID("")
	err := func() error {
		p, err := h.loadPlan(ctx, j.ID)
		if err != nil {
			return err
		}
		ranges, n, err := h.shardResults(ctx, j.ID, p)
		if err != nil {
			return err
		}
		ns, err := h.graph.Namespace(ctx, j.Repo)
		if err != nil {
			return err
		}
		// Written again under the same id: the ranges are the same.
		id, err := h.graph.Trees().WriteMetaRange(ctx, ns, ranges)
		if err != nil {
			return err
		}
		total, imported = n, id
		return nil
	}()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rt.Logger().WarnContext(ctx, "import: committed; its result is partly lost", "commit", c.ID, "error", err.Error())
	}
	return h.complete(ctx, rt, c, imported, total)
}

// shardResults returns the ranges the shards of plan p wrote, in order,
// and the number of objects the import brings: the shards' and the object
// sources'.
func (h *Handler) shardResults(ctx context.Context, id store.JobID, p *plan) ([]tree.RangeInfo, int64, error) {
	var ranges []tree.RangeInfo
	total := int64(len(p.Objects))
	for _, st := range p.Tasks {
		raw, err := h.kv.Get(ctx, partition(id), shardKey(st.Index))
		if err != nil {
			return nil, 0, fmt.Errorf("import %s: result of shard %d: %w", id, st.Index, err)
		}
		var res shardResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, 0, fmt.Errorf("import %s: decode result of shard %d: %w", id, st.Index, err)
		}
		ranges = append(ranges, res.Ranges...)
		total += res.Objects
	}
	return ranges, total, nil
}

// readTree reads the metarange of commit head (nil: none) into the tree
// cache, in the background: the commit replaces the import into the
// branch head's tree, and against a remote endpoint reading it while the
// import's own metarange is written spares the commit a round trip. Errors
// are left to the commit, which reads it again. The channel is closed when
// done.
func (h *Handler) readTree(ctx context.Context, ns tree.Namespace, head *graph.Commit) <-chan struct{} {
	done := make(chan struct{})
	if head == nil || head.MetaRangeID == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		_, _ = h.graph.Trees().GetMetaRange(ctx, ns, head.MetaRangeID)
	}()
	return done
}

// complete records the job's result and drops its working state.
func (h *Handler) complete(ctx context.Context, rt *workers.Run, c *graph.Commit, imported tree.MetaRangeID, total int64) error {
	j := rt.Job()
	if imported == "" {
		imported = c.MetaRangeID
	}
	rt.Progress(ctx, func(p *jobs.Progress) { p.Done = total })
	res := jobs.ImportResult{CommitID: c.ID, MetaRangeID: string(imported), Ingested: total}
	if err := rt.Complete(ctx, res); err != nil {
		return err
	}
	if err := h.dropState(ctx, j.ID); err != nil {
		rt.Logger().WarnContext(ctx, "import: drop working state", "error", err.Error())
	}
	return nil
}

// findCommit returns the commit of job id among the last
// Config.HistoryDepth first-parent commits of ref, or nil, and the commit
// ref resolves to (nil for an empty history).
func (h *Handler) findCommit(ctx context.Context, repo store.RepoID, ref store.Ref, id store.JobID) (found, head *graph.Commit, err error) {
	commits, _, err := h.graph.Log(ctx, repo, ref, graph.LogOptions{FirstParent: true, Amount: h.cfg.HistoryDepth})
	if err != nil || len(commits) == 0 {
		return nil, nil, err
	}
	for _, c := range commits {
		if c.Metadata[jobs.MetadataJobID] == string(id) {
			return c, commits[0], nil
		}
	}
	return nil, commits[0], nil
}
