package graph

import (
	"container/heap"
	"context"
	"fmt"

	"github.com/lakeq/lakeq/store"
)

// Log returns a page of the history reachable from ref, newest first. With
// FirstParent it follows only first parents; otherwise it visits every
// ancestor once, ordered by creation time.
func (g *Graph) Log(ctx context.Context, repo store.RepoID, ref store.Ref, opts LogOptions) ([]*Commit, bool, error) {
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, false, err
	}
	r, err := g.resolve(ctx, repo, ref)
	if err != nil {
		return nil, false, err
	}
	if r.Staged {
		b, _, err := g.getBranch(ctx, repo, r.BranchID)
		if err != nil {
			return nil, false, err
		}
		r.CommitID = b.CommitID
	}
	amount := pageSize(opts.Amount, 100)
	w := &logWalk{g: g, repo: repo, firstParent: opts.FirstParent, seen: map[store.CommitID]bool{}}
	if err := w.push(ctx, r.CommitID); err != nil {
		return nil, false, err
	}
	skipping := opts.After != ""
	var out []*Commit
	for w.q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		c := heap.Pop(&w.q).(*Commit)
		if opts.Until != "" && c.ID == opts.Until {
			continue
		}
		parents := c.Parents
		if opts.FirstParent && len(parents) > 1 {
			parents = parents[:1]
		}
		for _, p := range parents {
			if err := w.push(ctx, p); err != nil {
				return nil, false, err
			}
		}
		if skipping {
			skipping = c.ID != opts.After
			continue
		}
		if len(out) == amount {
			return out, true, nil
		}
		out = append(out, c)
	}
	return out, false, nil
}

type logWalk struct {
	g           *Graph
	repo        store.RepoID
	firstParent bool
	seen        map[store.CommitID]bool
	q           commitHeap
}

func (w *logWalk) push(ctx context.Context, id store.CommitID) error {
	if w.seen[id] {
		return nil
	}
	w.seen[id] = true
	c, err := w.g.getCommit(ctx, w.repo, id)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	heap.Push(&w.q, c)
	return nil
}

// commitHeap orders commits newest first (creation time, then generation,
// then id, so the order is total and stable).
type commitHeap []*Commit

func (h commitHeap) Len() int { return len(h) }
func (h commitHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if !a.CreationDate.Equal(b.CreationDate) {
		return a.CreationDate.After(b.CreationDate)
	}
	if a.Generation != b.Generation {
		return a.Generation > b.Generation
	}
	return a.ID > b.ID
}
func (h commitHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *commitHeap) Push(x any)   { *h = append(*h, x.(*Commit)) }
func (h *commitHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
