package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Job states.
const (
	JobSubmitted  = "SUBMITTED"
	JobInProgress = "IN_PROGRESS"
	JobCompleted  = "COMPLETED"
	JobFailed     = "FAILED"
	JobCanceled   = "CANCELED"
)

// JobProgress counts a job's work.
type JobProgress struct {
	Done    int64 `json:"done"`
	Total   int64 `json:"total,omitempty"`
	Bytes   int64 `json:"bytes,omitempty"`
	Failed  int64 `json:"failed,omitempty"`
	Tasks   int64 `json:"tasks,omitempty"`
	TasksOK int64 `json:"tasks_ok,omitempty"`
}

// Job is an asynchronous job's state.
type Job struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	Repository      string          `json:"repository"`
	State           string          `json:"state"`
	Request         json.RawMessage `json:"request,omitempty"`
	Progress        JobProgress     `json:"progress"`
	Result          json.RawMessage `json:"result,omitempty"`
	Error           string          `json:"error,omitempty"`
	CancelRequested bool            `json:"cancel_requested,omitempty"`
	Committing      bool            `json:"committing,omitempty"`
	Revision        uint64          `json:"revision"`
	Attempts        int             `json:"attempts"`
	Worker          string          `json:"worker,omitempty"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	StartedAt       *time.Time      `json:"started_at,omitempty"`
	FinishedAt      *time.Time      `json:"finished_at,omitempty"`
}

// Finished reports whether the job reached a final state.
func (j *Job) Finished() bool {
	return j.State == JobCompleted || j.State == JobFailed || j.State == JobCanceled
}

// GetJob returns job id.
func (c *Client) GetJob(ctx context.Context, id string) (*Job, error) {
	var out Job
	if err := c.do(ctx, request{method: http.MethodGet, path: "/jobs/" + seg(id)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CancelJob asks job id to stop; it fails with status 409 when the job has
// finished already.
func (c *Client) CancelJob(ctx context.Context, id string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/jobs/" + seg(id)}, nil)
}
