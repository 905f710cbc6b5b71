package graph

import (
	"container/heap"
	"context"
	"errors"
	"fmt"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/tree"
)

// Merge merges the commit source resolves to into branch dest with a
// three-way merge against their best common ancestor, and returns the merge
// commit (parents: dest's head, then source). dest must have no uncommitted
// changes. Conflicts fail with ErrMergeConflict under MergeStrategyNone.
func (g *Graph) Merge(ctx context.Context, repo store.RepoID, source store.Ref, dest store.BranchID, params MergeParams) (*Commit, error) {
	if err := dest.Validate(); err != nil {
		return nil, err
	}
	_, ns, err := g.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	src, err := g.commitOf(ctx, repo, source)
	if err != nil {
		return nil, err
	}
	if params.Message == "" {
		params.Message = fmt.Sprintf("Merge '%s' into '%s'", source, dest)
	}
	return g.moveHead(ctx, repo, dest, true, func(head *Commit) (*Commit, error) {
		base, err := g.mergeBase(ctx, repo, src, head)
		if err != nil {
			return nil, err
		}
		if base.ID == src.ID {
			return nil, fmt.Errorf("merge %s into %s: source is already merged: %w", source, dest, store.ErrNoChanges)
		}
		mr, err := g.trees.Merge(ctx, ns, base.MetaRangeID, src.MetaRangeID, head.MetaRangeID, params.Strategy)
		if err != nil {
			return nil, fmt.Errorf("merge %s into %s: %w", source, dest, err)
		}
		c := newCommit([]*Commit{head, src}, params.CommitParams, g.now())
		c.MetaRangeID = mr
		return c, nil
	})
}

// Revert adds a commit to branch that undoes the changes ref's commit made
// relative to its parent number parentNumber (1-based; 0 means 1 for
// commits with a single parent).
func (g *Graph) Revert(ctx context.Context, repo store.RepoID, branch store.BranchID, ref store.Ref, parentNumber int, params CommitParams) (*Commit, error) {
	if err := branch.Validate(); err != nil {
		return nil, err
	}
	_, ns, err := g.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	c, err := g.commitOf(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	switch {
	case len(c.Parents) == 0:
		return nil, fmt.Errorf("revert %s: %w", c.ID, store.ErrCommitNotMergeable)
	case parentNumber == 0 && len(c.Parents) > 1:
		return nil, fmt.Errorf("%w: revert of merge commit %s needs a parent number", store.ErrInvalidValue, c.ID)
	case parentNumber < 0 || parentNumber > len(c.Parents):
		return nil, fmt.Errorf("%w: commit %s has no parent %d", store.ErrInvalidValue, c.ID, parentNumber)
	}
	parent, err := g.getCommit(ctx, repo, c.Parents[max(parentNumber, 1)-1])
	if err != nil {
		return nil, err
	}
	if params.Message == "" {
		params.Message = "Revert " + string(c.ID)
	}
	return g.moveHead(ctx, repo, branch, true, func(head *Commit) (*Commit, error) {
		mr, err := g.trees.Merge(ctx, ns, c.MetaRangeID, parent.MetaRangeID, head.MetaRangeID, tree.MergeStrategyNone)
		if err != nil {
			return nil, fmt.Errorf("revert %s: %w", c.ID, err)
		}
		if mr == head.MetaRangeID {
			return nil, fmt.Errorf("revert %s: %w", c.ID, store.ErrNothingToRevert)
		}
		nc := newCommit([]*Commit{head}, params, g.now())
		nc.MetaRangeID = mr
		return nc, nil
	})
}

// moveHead builds a commit on the branch's head with build and moves the
// branch to it by compare-and-swap, building again if the head moved. With
// requireClean the branch must have no uncommitted changes.
func (g *Graph) moveHead(ctx context.Context, repo store.RepoID, branch store.BranchID, requireClean bool, build func(head *Commit) (*Commit, error)) (*Commit, error) {
	for range g.cfg.SwapRetries {
		b, _, err := g.getBranch(ctx, repo, branch)
		if err != nil {
			return nil, err
		}
		if requireClean {
			if err := g.checkClean(ctx, repo, branch, b); err != nil {
				return nil, err
			}
		}
		head, err := g.getCommit(ctx, repo, b.CommitID)
		if err != nil {
			return nil, err
		}
		c, err := build(head)
		if err != nil {
			return nil, err
		}
		c.ID = commitID(c)
		if err := g.putCommit(ctx, repo, c); err != nil {
			return nil, err
		}
		_, err = g.updateBranch(ctx, repo, branch, func(nb *branchRecord) error {
			if nb.CommitID != head.ID {
				return errRebuild
			}
			if requireClean && len(nb.Sealed) > 0 {
				return fmt.Errorf("branch %s: commit in progress: %w", branch, store.ErrDirtyBranch)
			}
			nb.CommitID = c.ID
			return nil
		})
		if errors.Is(err, errRebuild) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, fmt.Errorf("update branch %s: %w", branch, store.ErrTooManyRetries)
}

// checkClean fails with ErrDirtyBranch when b has uncommitted changes.
func (g *Graph) checkClean(ctx context.Context, repo store.RepoID, branch store.BranchID, b *branchRecord) error {
	if len(b.Sealed) > 0 {
		return fmt.Errorf("branch %s: commit in progress: %w", branch, store.ErrDirtyBranch)
	}
	page, err := g.kv.Scan(ctx, stagingPartition(repo, b.StagingToken), kv.ScanOptions{Limit: 1})
	if err != nil {
		return wrapKV("check staging", err)
	}
	if len(page) > 0 {
		return fmt.Errorf("branch %s: %w", branch, store.ErrDirtyBranch)
	}
	return nil
}

// mergeBase returns the best common ancestor of a and b: walking both
// histories from the highest generation down, the first commit reached from
// both sides.
func (g *Graph) mergeBase(ctx context.Context, repo store.RepoID, a, b *Commit) (*Commit, error) {
	const fromA, fromB = 1, 2
	flags := map[store.CommitID]uint8{a.ID: fromA}
	flags[b.ID] |= fromB
	q := &genHeap{a}
	if b.ID != a.ID {
		heap.Push(q, b)
	}
	for q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := heap.Pop(q).(*Commit)
		f := flags[c.ID]
		if f == fromA|fromB {
			return c, nil
		}
		for _, pid := range c.Parents {
			if flags[pid]|f == flags[pid] {
				continue
			}
			first := flags[pid] == 0
			flags[pid] |= f
			if first || !q.contains(pid) {
				p, err := g.getCommit(ctx, repo, pid)
				if err != nil {
					return nil, err
				}
				heap.Push(q, p)
			}
		}
	}
	return nil, fmt.Errorf("commits %s and %s have no common ancestor: %w", a.ID, b.ID, store.ErrPrecondition)
}

// genHeap orders commits by generation, highest first.
type genHeap []*Commit

func (h genHeap) Len() int           { return len(h) }
func (h genHeap) Less(i, j int) bool { return h[i].Generation > h[j].Generation }
func (h genHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *genHeap) Push(x any)        { *h = append(*h, x.(*Commit)) }
func (h *genHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

func (h genHeap) contains(id store.CommitID) bool {
	for _, c := range h {
		if c.ID == id {
			return true
		}
	}
	return false
}

// TreeBuilder computes a new tree for a branch from its head commit. It may
// run more than once when the head moves meanwhile.
type TreeBuilder func(ctx context.Context, ns tree.Namespace, head *Commit) (tree.MetaRangeID, error)

// CommitTree adds one commit to branch whose tree build computes from the
// head (imports and ingestion use it: they write their ranges first, then
// move the branch once). Unless allowDirty, the branch must have no
// uncommitted changes; with it, staged changes stay staged on top. Without
// params.AllowEmpty a tree equal to the head's fails with ErrNoChanges.
func (g *Graph) CommitTree(ctx context.Context, repo store.RepoID, branch store.BranchID, params CommitParams, allowDirty bool, build TreeBuilder) (*Commit, error) {
	if err := branch.Validate(); err != nil {
		return nil, err
	}
	_, ns, err := g.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	return g.moveHead(ctx, repo, branch, !allowDirty, func(head *Commit) (*Commit, error) {
		mr, err := build(ctx, ns, head)
		if err != nil {
			return nil, err
		}
		if mr == head.MetaRangeID && !params.AllowEmpty {
			return nil, fmt.Errorf("commit %s: %w", branch, store.ErrNoChanges)
		}
		c := newCommit([]*Commit{head}, params, g.now())
		c.MetaRangeID = mr
		return c, nil
	})
}

// Namespace returns where the repository's lakeq files and data go.
func (g *Graph) Namespace(ctx context.Context, repo store.RepoID) (tree.Namespace, error) {
	_, ns, err := g.repository(ctx, repo)
	return ns, err
}

// MergeBase returns the best common ancestor of the commits left and right
// resolve to (branch names mean their heads).
func (g *Graph) MergeBase(ctx context.Context, repo store.RepoID, left, right store.Ref) (*Commit, error) {
	if _, err := g.GetRepository(ctx, repo); err != nil {
		return nil, err
	}
	l, err := g.commitOf(ctx, repo, left)
	if err != nil {
		return nil, err
	}
	r, err := g.commitOf(ctx, repo, right)
	if err != nil {
		return nil, err
	}
	return g.mergeBase(ctx, repo, l, r)
}
