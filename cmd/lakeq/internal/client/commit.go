package client

import (
	"context"
	"iter"
	"net/http"
	"strconv"
)

// Commit commits the branch's staged changes.
func (c *Client) Commit(ctx context.Context, repo, branch string, in CommitCreation) (*Commit, error) {
	var out Commit
	if err := c.doJSON(ctx, http.MethodPost, branchPath(repo, branch)+"/commits", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetCommit returns one commit by id.
func (c *Client) GetCommit(ctx context.Context, repo, id string) (*Commit, error) {
	var out Commit
	if err := c.do(ctx, request{method: http.MethodGet, path: "/repositories/" + seg(repo) + "/commits/" + seg(id)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// LogOptions selects a history walk.
type LogOptions struct {
	// After starts after this commit id (exclusive).
	After string
	// FirstParent follows only the first parent of merge commits.
	FirstParent bool
	// PageSize is how many commits one request asks for; default 100.
	PageSize int
}

// Log yields the history of ref, newest first, a page at a time.
func (c *Client) Log(ctx context.Context, repo, ref string, opts LogOptions) iter.Seq2[Commit, error] {
	q := ListOptions{After: opts.After, PageSize: opts.PageSize}.query()
	if opts.FirstParent {
		q.Set("first_parent", strconv.FormatBool(true))
	}
	return listAll[Commit](ctx, c, "/repositories/"+seg(repo)+"/refs/"+seg(ref)+"/commits", q)
}
