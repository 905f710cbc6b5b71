package client

import (
	"context"
	"iter"
)

// JobFilter selects the jobs ListJobs returns; empty fields match every
// job.
type JobFilter struct {
	// Kind keeps jobs of this kind (import, export, gc, ingest).
	Kind string
	// State keeps jobs in this state (SUBMITTED, IN_PROGRESS, COMPLETED,
	// FAILED, CANCELED).
	State string
}

// ListJobs lists the jobs of repo in submission order, a page at a time.
// Only opts.After and opts.PageSize apply.
func (c *Client) ListJobs(ctx context.Context, repo string, f JobFilter, opts ListOptions) iter.Seq2[Job, error] {
	q := ListOptions{After: opts.After, PageSize: opts.PageSize}.query()
	if f.Kind != "" {
		q.Set("kind", f.Kind)
	}
	if f.State != "" {
		q.Set("state", f.State)
	}
	return listAll[Job](ctx, c, "/repositories/"+seg(repo)+"/jobs", q)
}
