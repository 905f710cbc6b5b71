package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Import source types.
const (
	ImportCommonPrefix = "common_prefix"
	ImportObject       = "object"
)

// ImportLocation is one source of an import (lakeFS's ImportLocation).
type ImportLocation struct {
	// Type is ImportCommonPrefix or ImportObject.
	Type string `json:"type"`
	// Path is the source URI: s3://bucket/prefix/ or local:///abs/path/.
	Path string `json:"path"`
	// Destination is the prefix (or, for an object, the path) on the
	// branch.
	Destination string `json:"destination"`
}

// ImportCommit is the commit an import ends with.
type ImportCommit struct {
	Message  string            `json:"message"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ImportCreation is the body of an import start.
type ImportCreation struct {
	Paths  []ImportLocation `json:"paths"`
	Commit ImportCommit     `json:"commit"`
	Force  bool             `json:"force,omitempty"`
}

// ImportStatus is an import's state (lakeFS's ImportStatus).
type ImportStatus struct {
	Completed       bool      `json:"completed"`
	UpdateTime      time.Time `json:"update_time"`
	IngestedObjects int64     `json:"ingested_objects"`
	MetaRangeID     string    `json:"metarange_id,omitempty"`
	Commit          *Commit   `json:"commit,omitempty"`
	Error           *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// ImportStart submits an import into branch and returns its id. The server
// answers once the import is validated and queued, not when it is done.
func (c *Client) ImportStart(ctx context.Context, repo, branch string, in ImportCreation) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.doJSON(ctx, http.MethodPost, branchPath(repo, branch)+"/import", nil, in, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// ImportStatus returns the state of import id.
func (c *Client) ImportStatus(ctx context.Context, repo, branch, id string) (*ImportStatus, error) {
	var out ImportStatus
	q := url.Values{"id": {id}}
	if err := c.do(ctx, request{method: http.MethodGet, path: branchPath(repo, branch) + "/import", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ImportCancel asks import id to stop; it fails with status 409 when the
// import has finished already.
func (c *Client) ImportCancel(ctx context.Context, repo, branch, id string) error {
	q := url.Values{"id": {id}}
	return c.do(ctx, request{method: http.MethodDelete, path: branchPath(repo, branch) + "/import", query: q}, nil)
}
