// Package jobs keeps the state of lakeq's asynchronous jobs (import,
// export, garbage collection, ingestion) in the metadata KV.
//
// A job moves SUBMITTED → IN_PROGRESS → COMPLETED | FAILED | CANCELED.
// Terminal states are final: every change is a compare-and-swap on the
// job's record, and a change to a terminal job fails with
// store.ErrJobFinished. The job id is also the JetStream de-duplication id
// of the job's message, so a retried submission is neither stored nor run
// twice.
package jobs

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/lakeq/lakeq/store"
)

// Kind names a job type; it is also the last token of the job's NATS
// subject (lakeq.jobs.<kind>).
type Kind string

// The job kinds lakeq runs.
const (
	KindImport Kind = "import"
	KindExport Kind = "export"
	KindGC     Kind = "gc"
	KindIngest Kind = "ingest"
)

// State is a job's lifecycle state.
type State string

// Job states.
const (
	StateSubmitted  State = "SUBMITTED"
	StateInProgress State = "IN_PROGRESS"
	StateCompleted  State = "COMPLETED"
	StateFailed     State = "FAILED"
	StateCanceled   State = "CANCELED"
)

// Terminal reports whether s is final.
func (s State) Terminal() bool {
	return s == StateCompleted || s == StateFailed || s == StateCanceled
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool {
	switch s {
	case StateSubmitted, StateInProgress, StateCompleted, StateFailed, StateCanceled:
		return true
	}
	return false
}

// Progress counts a job's work. Handlers choose which counters they use;
// Total is 0 while unknown.
type Progress struct {
	Done    int64 `json:"done"`               // units finished (objects, ranges, addresses)
	Total   int64 `json:"total,omitempty"`    // units expected, when known
	Bytes   int64 `json:"bytes,omitempty"`    // bytes handled
	Failed  int64 `json:"failed,omitempty"`   // units that failed
	Tasks   int64 `json:"tasks,omitempty"`    // tasks the job fanned out into
	TasksOK int64 `json:"tasks_ok,omitempty"` // tasks finished
}

// Job is the stored state of one job.
type Job struct {
	ID    store.JobID  `json:"id"`
	Kind  Kind         `json:"kind"`
	Repo  store.RepoID `json:"repository"`
	State State        `json:"state"`
	// Request is the validated request the job runs, as submitted.
	Request json.RawMessage `json:"request"`
	// Progress is updated at least every second while the job runs.
	Progress Progress `json:"progress"`
	// Checkpoint is handler-defined state a redelivered job resumes from.
	Checkpoint json.RawMessage `json:"checkpoint,omitempty"`
	// Result is handler-defined output of a completed job (e.g. the commit).
	Result json.RawMessage `json:"result,omitempty"`
	// Error describes why the job failed.
	Error string `json:"error,omitempty"`
	// CancelRequested asks the worker to stop between units of work; the
	// worker then moves the job to CANCELED without committing anything.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Committing records that the job has begun the change that makes
	// its result visible (an import's branch commit, an export's
	// _SUCCESS): from then on it ends COMPLETED or FAILED, never
	// CANCELED, and a cancellation is refused (store.ErrJobCommitting).
	Committing bool `json:"committing,omitempty"`
	// Waves holds the number of tasks of each wave the job fanned out,
	// in order: a job fans out once from its Run (wave 0) and may fan out
	// again from its Finalize (the next wave).
	Waves []int64 `json:"waves,omitempty"`
	// RunSeq is the stream sequence of the job message whose delivery
	// began the job: a delivery of any other message for the job (one
	// published again, see Requeue) is dropped, while the same message
	// delivered again, even as a first delivery by a consumer declared
	// anew, runs the job.
	RunSeq uint64 `json:"run_seq,omitempty"`
	// Revision counts the writes of the record: 1 when created, one more
	// with every change. Events carry the revision of the record they
	// describe, so that a subscriber can tell a late one from a new one.
	Revision uint64 `json:"revision"`
	// Attempts counts the deliveries of the job's message to a worker.
	Attempts   int       `json:"attempts"`
	Worker     string    `json:"worker,omitempty"` // the worker that ran it last
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// NewID returns a fresh job id: a lower-case ULID, sortable by time.
func NewID(now time.Time) store.JobID {
	return store.JobID(strings.ToLower(ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String()))
}

// idTime returns the time job id was made at.
func idTime(id store.JobID) (time.Time, error) {
	u, err := ulid.ParseStrict(strings.ToUpper(string(id)))
	if err != nil {
		return time.Time{}, err
	}
	return ulid.Time(u.Time()), nil
}

// ValidateID reports whether id looks like a job id.
func ValidateID(id store.JobID) error {
	if _, err := ulid.ParseStrict(strings.ToUpper(string(id))); err != nil || strings.ToLower(string(id)) != string(id) {
		return store.ErrInvalidValue
	}
	return nil
}
