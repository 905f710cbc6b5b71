package workers

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/lakeq/lakeq/store/jobs"
)

// Handler runs the jobs of one kind.
type Handler interface {
	// Kind is the kind of job the handler runs.
	Kind() jobs.Kind
	// Run does the job's work, or plans it: a job that fans out calls
	// rt.FanOut(tasks) and returns nil; the runner then waits for the
	// tasks and calls Finalize once they are all done. A job that does not
	// fan out calls rt.Complete(result) before returning nil (returning
	// nil without either completes the job with no result).
	//
	// A returned error is retried with backoff unless it is
	// Permanent(err) (job FAILED, message terminated) or ErrCanceled (job
	// CANCELED). Run must be idempotent: a redelivered job runs it again
	// (use rt.Job().Checkpoint to resume).
	Run(ctx context.Context, rt *Run) error
}

// TaskHandler is implemented by handlers whose jobs fan out.
type TaskHandler interface {
	// RunTask does one task; same error contract as Run (a permanent
	// error fails the whole job). Redelivered tasks run again: make them
	// idempotent.
	RunTask(ctx context.Context, rt *Run, task Task) error
	// Finalize runs once all tasks are done. The runner starts it once
	// per job in the normal case; after a worker's crash it may start it
	// again, so Finalize must be idempotent (e.g. an import checks whether
	// its commit already exists). It calls rt.Complete(result).
	Finalize(ctx context.Context, rt *Run) error
}

// Task is one unit of a fanned-out job.
type Task struct {
	// ID is unique within the job, e.g. "shard-0007": 1-200 bytes of
	// printable ASCII without spaces. The task's message id is
	// "<job-id>.<task-id>".
	ID string `json:"id"`
	// Payload is what the task works on, as the handler encodes it.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// ErrCanceled is what a handler returns when rt.Canceled reported true: the
// runner marks the job CANCELED and acks its message. A canceled job must
// have committed nothing.
var ErrCanceled = errors.New("job canceled")

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the runner fails the job at once, without
// retrying: the job becomes FAILED with err's message and its message is
// terminated. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was made with
// Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}
