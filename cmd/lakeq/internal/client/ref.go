package client

import (
	"context"
	"iter"
	"net/http"
)

// Diff yields the differences between two refs, in path order: what
// changed from left to right. Delimiter "/" groups changes by directory.
func (c *Client) Diff(ctx context.Context, repo, left, right string, opts ListOptions) iter.Seq2[Diff, error] {
	return listAll[Diff](ctx, c, "/repositories/"+seg(repo)+"/refs/"+seg(left)+"/diff/"+seg(right), opts.query())
}

// DiffBranch yields a branch's uncommitted changes, in path order.
func (c *Client) DiffBranch(ctx context.Context, repo, branch string, opts ListOptions) iter.Seq2[Diff, error] {
	return listAll[Diff](ctx, c, branchPath(repo, branch)+"/diff", opts.query())
}

// Merge merges source (a ref expression) into the destination branch and
// returns the resulting commit id. A conflict is an *APIError with status
// 409.
func (c *Client) Merge(ctx context.Context, repo, source, dest string, in Merge) (*MergeResult, error) {
	var out MergeResult
	path := "/repositories/" + seg(repo) + "/refs/" + seg(source) + "/merge/" + seg(dest)
	if err := c.doJSON(ctx, http.MethodPost, path, nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
