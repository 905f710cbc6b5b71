package jobs

import (
	"encoding/json"
	"time"

	"github.com/lakeq/lakeq/store"
)

// EventType names a job event. Handlers may publish their own types besides
// these.
type EventType string

// The lifecycle event types.
const (
	// EventSubmitted: the job was stored and queued.
	EventSubmitted EventType = "submitted"
	// EventStarted: a worker took the job (again, on a redelivery).
	EventStarted EventType = "started"
	// EventProgress: the job's progress counters changed.
	EventProgress EventType = "progress"
	// EventTaskDone: one task of a fanned-out job finished.
	EventTaskDone EventType = "task_done"
	// EventCompleted: the job finished; Result holds its output.
	EventCompleted EventType = "completed"
	// EventFailed: the job failed; Error says why.
	EventFailed EventType = "failed"
	// EventCanceled: the job was canceled and committed nothing.
	EventCanceled EventType = "canceled"
)

// Final reports whether t ends a job's event stream.
func (t EventType) Final() bool {
	return t == EventCompleted || t == EventFailed || t == EventCanceled
}

// FinalEventType returns the event type that announces terminal state s,
// or "" when s is not terminal.
func FinalEventType(s State) EventType {
	switch s {
	case StateCompleted:
		return EventCompleted
	case StateFailed:
		return EventFailed
	case StateCanceled:
		return EventCanceled
	}
	return ""
}

// Event is the JSON payload of a message on lakeq.events.<repo>.<kind>.<id>.
type Event struct {
	Type     EventType    `json:"type"`
	JobID    store.JobID  `json:"job_id"`
	Kind     Kind         `json:"kind"`
	Repo     store.RepoID `json:"repository"`
	Time     time.Time    `json:"time"`
	State    State        `json:"state"`
	Progress Progress     `json:"progress"`
	// Revision is the revision of the job record the event describes
	// (Job.Revision). Events of concurrent tasks may be stored out of
	// order: of two progress events, the one of the higher revision is
	// the newer.
	Revision uint64 `json:"revision,omitempty"`
	// Attempt is the delivery of the job message the event comes from.
	Attempt int `json:"attempt,omitempty"`
	// Worker is the worker that published the event.
	Worker string `json:"worker,omitempty"`
	// TaskID names the task of a task_done event.
	TaskID string `json:"task_id,omitempty"`
	// Error is set on failed events.
	Error string `json:"error,omitempty"`
	// Result is set on completed events.
	Result json.RawMessage `json:"result,omitempty"`
	// Data is the payload of a handler's own event types.
	Data json.RawMessage `json:"data,omitempty"`
}

// NewEvent returns an event of type typ describing j at time now.
func NewEvent(j *Job, typ EventType, now time.Time) Event {
	ev := Event{
		Type: typ, JobID: j.ID, Kind: j.Kind, Repo: j.Repo, Time: now.UTC(),
		State: j.State, Progress: j.Progress, Revision: j.Revision, Attempt: j.Attempts, Worker: j.Worker,
	}
	switch typ {
	case EventFailed, EventCanceled:
		ev.Error = j.Error
	case EventCompleted:
		ev.Result = j.Result
	}
	return ev
}
