package client

import (
	"context"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
)

func branchPath(repo, branch string) string {
	return "/repositories/" + seg(repo) + "/branches/" + seg(branch)
}

// CreateBranch creates branch at source (a ref expression) and returns the
// commit id it points at.
func (c *Client) CreateBranch(ctx context.Context, repo, branch, source string) (string, error) {
	body, size, err := jsonBody(struct {
		Name   string `json:"name"`
		Source string `json:"source"`
	}{branch, source})
	if err != nil {
		return "", err
	}
	resp, err := c.send(ctx, request{
		method: http.MethodPost, path: "/repositories/" + seg(repo) + "/branches",
		body: body, size: size,
		header: http.Header{"Content-Type": {"application/json"}, "Accept": {"text/html, application/json"}},
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	return strings.Trim(strings.TrimSpace(string(b)), `"`), nil
}

// GetBranch returns the branch and its head commit.
func (c *Client) GetBranch(ctx context.Context, repo, branch string) (*Ref, error) {
	var out Ref
	if err := c.do(ctx, request{method: http.MethodGet, path: branchPath(repo, branch)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteBranch deletes a branch; the default branch cannot be deleted.
func (c *Client) DeleteBranch(ctx context.Context, repo, branch string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: branchPath(repo, branch)}, nil)
}

// ResetBranch drops uncommitted changes: all of them, one object's, or
// those under a prefix (see ResetCreation).
func (c *Client) ResetBranch(ctx context.Context, repo, branch string, in ResetCreation) error {
	return c.doJSON(ctx, http.MethodPut, branchPath(repo, branch), nil, in, nil)
}

// HardResetBranch points branch at ref, dropping uncommitted changes.
func (c *Client) HardResetBranch(ctx context.Context, repo, branch, ref string) error {
	return c.do(ctx, request{
		method: http.MethodPut, path: branchPath(repo, branch) + "/hard_reset",
		query: url.Values{"ref": {ref}},
	}, nil)
}

// ListBranches yields every branch of repo in name order. Delimiter is
// ignored.
func (c *Client) ListBranches(ctx context.Context, repo string, opts ListOptions) iter.Seq2[Ref, error] {
	opts.Delimiter = ""
	return listAll[Ref](ctx, c, "/repositories/"+seg(repo)+"/branches", opts.query())
}
