package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// ExportRound puts the objects whose path matches Pattern (RE2) in round
// Round of an export.
type ExportRound struct {
	Pattern string `json:"pattern"`
	Round   int    `json:"round"`
}

// ExportCreation is the body of an export start: Ref or CommitID (one of
// them) names what is exported; PrevCommitID selects diff mode.
type ExportCreation struct {
	Ref          string        `json:"ref,omitempty"`
	CommitID     string        `json:"commit_id,omitempty"`
	PrevCommitID string        `json:"prev_commit_id,omitempty"`
	Destination  string        `json:"destination"`
	Rounds       []ExportRound `json:"rounds,omitempty"`
	Parallelism  int           `json:"parallelism,omitempty"`
}

// ExportResult is the result of a finished export job.
type ExportResult struct {
	CommitID     string `json:"commit_id"`
	PrevCommitID string `json:"prev_commit_id,omitempty"`
	Destination  string `json:"destination"`
	StatusFile   string `json:"status_file"`
	Success      bool   `json:"success"`
	Copied       int64  `json:"copied"`
	Skipped      int64  `json:"skipped,omitempty"`
	Deleted      int64  `json:"deleted,omitempty"`
	Failed       int64  `json:"failed,omitempty"`
	Bytes        int64  `json:"bytes"`
	Rounds       []int  `json:"rounds"`
}

// ExportRuleCreation is the body of a continuous-export rule.
type ExportRuleCreation struct {
	Destination string        `json:"destination"`
	Rounds      []ExportRound `json:"rounds,omitempty"`
	Parallelism int           `json:"parallelism,omitempty"`
}

// ExportRule is a branch's continuous-export rule and how far it got.
type ExportRule struct {
	Repository   string        `json:"repository"`
	Branch       string        `json:"branch"`
	Destination  string        `json:"destination"`
	Rounds       []ExportRound `json:"rounds,omitempty"`
	Parallelism  int           `json:"parallelism,omitempty"`
	LastExported string        `json:"last_exported"`
	Pending      string        `json:"pending,omitempty"`
	PendingJob   string        `json:"pending_job,omitempty"`
	LastError    string        `json:"last_error,omitempty"`
	Failures     int           `json:"failures,omitempty"`
	NextAttempt  *time.Time    `json:"next_attempt,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// ExportStart submits an export of repo and returns its job id. The
// server answers once the export is validated and queued.
func (c *Client) ExportStart(ctx context.Context, repo string, in ExportCreation) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.doJSON(ctx, http.MethodPost, "/repositories/"+seg(repo)+"/export", nil, in, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// ExportResultOf decodes the result of a completed export job.
func ExportResultOf(j *Job) (*ExportResult, error) {
	var res ExportResult
	if err := json.Unmarshal(j.Result, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// GetExportRule returns branch's continuous-export rule (404 when none).
func (c *Client) GetExportRule(ctx context.Context, repo, branch string) (*ExportRule, error) {
	var out ExportRule
	if err := c.do(ctx, request{method: http.MethodGet, path: branchPath(repo, branch) + "/export_rule"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetExportRule sets branch's continuous-export rule and returns it.
func (c *Client) SetExportRule(ctx context.Context, repo, branch string, in ExportRuleCreation) (*ExportRule, error) {
	var out ExportRule
	if err := c.doJSON(ctx, http.MethodPut, branchPath(repo, branch)+"/export_rule", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteExportRule removes branch's continuous-export rule.
func (c *Client) DeleteExportRule(ctx context.Context, repo, branch string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: branchPath(repo, branch) + "/export_rule"}, nil)
}
