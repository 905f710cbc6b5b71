package client

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strings"
)

// metaHeaderPrefix carries user metadata on uploads, as in lakeFS.
const metaHeaderPrefix = "X-Lakefs-Meta-"

func objectsPath(repo, ref string) string {
	return "/repositories/" + seg(repo) + "/refs/" + seg(ref) + "/objects"
}

// UploadOptions are an uploaded object's attributes.
type UploadOptions struct {
	// ContentType is the object's media type; default
	// application/octet-stream.
	ContentType string
	// Metadata is user metadata, sent as X-Lakefs-Meta-* headers.
	Metadata map[string]string
}

// Upload streams r to path on branch as the request body (not buffered);
// size is its exact length, or -1 when unknown. The object is staged: it
// shows in reads from the branch and in its uncommitted diff until the next
// commit.
func (c *Client) Upload(ctx context.Context, repo, branch, path string, r io.Reader, size int64, opts UploadOptions) (*ObjectStats, error) {
	ct := opts.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := http.Header{"Content-Type": {ct}}
	for k, v := range opts.Metadata {
		h.Set(metaHeaderPrefix+k, v)
	}
	if r == nil {
		r, size = strings.NewReader(""), 0
	}
	var out ObjectStats
	err := c.do(ctx, request{
		method: http.MethodPost, path: branchPath(repo, branch) + "/objects",
		query: url.Values{"path": {path}}, body: r, size: size, header: h,
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Get opens path at ref for reading; the caller closes the reader.
func (c *Client) Get(ctx context.Context, repo, ref, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, request{
		method: http.MethodGet, path: objectsPath(repo, ref),
		query: url.Values{"path": {path}}, header: http.Header{"Accept": {"*/*"}},
	})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: unexpected status %d", objectsPath(repo, ref), resp.StatusCode)
	}
	return resp.Body, nil
}

// Stat describes path at ref.
func (c *Client) Stat(ctx context.Context, repo, ref, path string) (*ObjectStats, error) {
	var out ObjectStats
	err := c.do(ctx, request{
		method: http.MethodGet, path: objectsPath(repo, ref) + "/stat",
		query: url.Values{"path": {path}},
	}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// List yields the objects at ref under opts.Prefix in path order; with
// Delimiter "/" it yields one directory level, directories as common
// prefixes.
func (c *Client) List(ctx context.Context, repo, ref string, opts ListOptions) iter.Seq2[ObjectStats, error] {
	return listAll[ObjectStats](ctx, c, objectsPath(repo, ref)+"/ls", opts.query())
}

// Delete removes path from branch (staged until the next commit).
func (c *Client) Delete(ctx context.Context, repo, branch, path string) error {
	return c.do(ctx, request{
		method: http.MethodDelete, path: branchPath(repo, branch) + "/objects",
		query: url.Values{"path": {path}},
	}, nil)
}

// MaxDeleteBatch is the most paths one DeleteMany call sends.
const MaxDeleteBatch = 1000

// DeleteMany removes up to MaxDeleteBatch paths from branch in one call and
// returns the paths the server could not remove.
func (c *Client) DeleteMany(ctx context.Context, repo, branch string, paths []string) ([]ObjectError, error) {
	if len(paths) > MaxDeleteBatch {
		return nil, fmt.Errorf("delete %d paths: at most %d per call", len(paths), MaxDeleteBatch)
	}
	var out struct {
		Errors []ObjectError `json:"errors"`
	}
	in := struct {
		Paths []string `json:"paths"`
	}{paths}
	if err := c.doJSON(ctx, http.MethodPost, branchPath(repo, branch)+"/objects/delete", nil, in, &out); err != nil {
		return nil, err
	}
	return out.Errors, nil
}
