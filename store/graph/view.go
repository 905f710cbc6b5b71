package graph

import (
	"context"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/tree"
)

// view is a readable snapshot of a reference: a commit's tree, plus the
// branch's staged changes when the reference is a bare branch name.
type view struct {
	repo   *Repository
	ns     tree.Namespace
	ref    *ResolvedRef
	commit *Commit
	branch *branchRecord // nil unless ref.Staged
}

func (g *Graph) view(ctx context.Context, repo store.RepoID, ref store.Ref) (*view, error) {
	r, ns, err := g.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	res, err := g.resolve(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	v := &view{repo: r, ns: ns, ref: res}
	if res.Staged {
		b, _, err := g.getBranch(ctx, repo, res.BranchID)
		if err != nil {
			return nil, err
		}
		v.branch = b
		res.CommitID = b.CommitID
	}
	if v.commit, err = g.getCommit(ctx, repo, res.CommitID); err != nil {
		return nil, err
	}
	return v, nil
}

func (g *Graph) viewGet(ctx context.Context, v *view, path string) (*store.Entry, error) {
	if v.branch != nil {
		return g.lookup(ctx, v.repo.ID, v.ns, v.branch, path)
	}
	return g.trees.Get(ctx, v.ns, v.commit.MetaRangeID, path)
}

func (g *Graph) viewIter(ctx context.Context, v *view, prefix string) (entryIter, error) {
	base, err := g.trees.NewIterator(ctx, v.ns, v.commit.MetaRangeID)
	if err != nil {
		return nil, err
	}
	if prefix != "" {
		base.SeekGE(prefix)
	}
	if v.branch == nil {
		return base, nil
	}
	return &overlayIter{base: base, staged: g.newStagedIter(ctx, v.repo.ID, v.branch.tokens(), prefix)}, nil
}
