package graph

import (
	"context"
	"strings"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/tree"
)

// Diff returns a page of the differences from left's tree to right's.
// Branch names mean their head commits (uncommitted changes are
// DiffUncommitted's). Ranges equal on both sides are never opened.
func (g *Graph) Diff(ctx context.Context, repo store.RepoID, left, right store.Ref, opts ListOptions) ([]DiffItem, bool, error) {
	if err := store.ValidatePrefix(opts.Prefix); err != nil {
		return nil, false, err
	}
	_, ns, err := g.repository(ctx, repo)
	if err != nil {
		return nil, false, err
	}
	lc, err := g.commitOf(ctx, repo, left)
	if err != nil {
		return nil, false, err
	}
	rc, err := g.commitOf(ctx, repo, right)
	if err != nil {
		return nil, false, err
	}
	it, err := g.trees.Diff(ctx, ns, lc.MetaRangeID, rc.MetaRangeID)
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	return pageDiffs(func() (*DiffItem, bool) {
		if !it.Next() {
			return nil, false
		}
		d := it.Diff()
		return &DiffItem{Type: diffType(d.Type), Path: d.Path, Left: d.Left, Right: d.Right}, true
	}, it.Err, opts)
}

// commitOf resolves ref to a commit, reading a branch name as its head.
func (g *Graph) commitOf(ctx context.Context, repo store.RepoID, ref store.Ref) (*Commit, error) {
	r, err := g.resolve(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	return g.getCommit(ctx, repo, r.CommitID)
}

func diffType(t tree.DiffType) DiffType {
	switch t {
	case tree.DiffAdded:
		return DiffAdded
	case tree.DiffRemoved:
		return DiffRemoved
	default:
		return DiffChanged
	}
}

// DiffUncommitted returns a page of the branch's uncommitted changes
// against its head commit.
func (g *Graph) DiffUncommitted(ctx context.Context, repo store.RepoID, branch store.BranchID, opts ListOptions) ([]DiffItem, bool, error) {
	if err := branch.Validate(); err != nil {
		return nil, false, err
	}
	if err := store.ValidatePrefix(opts.Prefix); err != nil {
		return nil, false, err
	}
	_, ns, err := g.repository(ctx, repo)
	if err != nil {
		return nil, false, err
	}
	b, _, err := g.getBranch(ctx, repo, branch)
	if err != nil {
		return nil, false, err
	}
	head, err := g.getCommit(ctx, repo, b.CommitID)
	if err != nil {
		return nil, false, err
	}
	staged := g.newStagedIter(ctx, repo, b.tokens(), opts.Prefix)
	var lookupErr error
	next := func() (*DiffItem, bool) {
		for staged.Next() {
			ch := staged.Change()
			old, err := g.trees.Get(ctx, ns, head.MetaRangeID, ch.Path)
			if err != nil && !isNotFoundErr(err) {
				lookupErr = err
				return nil, false
			}
			switch {
			case old == nil && ch.Entry == nil, old.Equal(ch.Entry):
				continue
			case old == nil:
				return &DiffItem{Type: DiffAdded, Path: ch.Path, Right: ch.Entry}, true
			case ch.Entry == nil:
				return &DiffItem{Type: DiffRemoved, Path: ch.Path, Left: old}, true
			default:
				return &DiffItem{Type: DiffChanged, Path: ch.Path, Left: old, Right: ch.Entry}, true
			}
		}
		return nil, false
	}
	return pageDiffs(next, func() error {
		if lookupErr != nil {
			return lookupErr
		}
		return staged.Err()
	}, opts)
}

// pageDiffs applies prefix, after, delimiter and amount to an ordered
// stream of differences.
func pageDiffs(next func() (*DiffItem, bool), errf func() error, opts ListOptions) ([]DiffItem, bool, error) {
	amount := pageSize(opts.Amount, defaultAmount)
	var out []DiffItem
	lastPrefix := ""
	for {
		d, ok := next()
		if !ok {
			return out, false, errf()
		}
		if !strings.HasPrefix(d.Path, opts.Prefix) {
			if d.Path > opts.Prefix && opts.Prefix != "" {
				return out, false, errf()
			}
			continue
		}
		item := *d
		if opts.Delimiter != "" {
			if i := strings.Index(d.Path[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				cp := d.Path[:len(opts.Prefix)+i+len(opts.Delimiter)]
				if cp == lastPrefix {
					continue
				}
				lastPrefix = cp
				item = DiffItem{Type: DiffPrefixChanged, Path: cp, IsPrefix: true}
			}
		}
		if item.Path <= opts.After {
			continue
		}
		if len(out) == amount {
			return out, true, errf()
		}
		out = append(out, item)
	}
}
