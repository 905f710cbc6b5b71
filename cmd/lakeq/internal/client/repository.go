package client

import (
	"context"
	"iter"
	"net/http"
)

// CreateRepository creates a repository with its default branch and first
// commit (POST /repositories).
func (c *Client) CreateRepository(ctx context.Context, in RepositoryCreation) (*Repository, error) {
	var out Repository
	if err := c.doJSON(ctx, http.MethodPost, "/repositories", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetRepository describes one repository.
func (c *Client) GetRepository(ctx context.Context, repo string) (*Repository, error) {
	var out Repository
	if err := c.do(ctx, request{method: http.MethodGet, path: "/repositories/" + seg(repo)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteRepository deletes a repository and its refs (its objects stay in
// the storage namespace).
func (c *Client) DeleteRepository(ctx context.Context, repo string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/repositories/" + seg(repo)}, nil)
}

// ListRepositories yields every repository in name order, a page at a
// time. Delimiter is ignored.
func (c *Client) ListRepositories(ctx context.Context, opts ListOptions) iter.Seq2[Repository, error] {
	opts.Delimiter = ""
	return listAll[Repository](ctx, c, "/repositories", opts.query())
}
