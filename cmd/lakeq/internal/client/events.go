package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// JobEvent is one event of a job, as GET /jobs/{id}/events streams them:
// every field of the event schema, so that an event encoded again reads as
// the server sent it.
type JobEvent struct {
	Type       string      `json:"type"`
	JobID      string      `json:"job_id"`
	Kind       string      `json:"kind"`
	Repository string      `json:"repository"`
	Time       time.Time   `json:"time"`
	State      string      `json:"state"`
	Progress   JobProgress `json:"progress"`
	// Revision is the revision of the job record the event describes:
	// of two progress events, the one of the higher revision is the newer.
	Revision uint64 `json:"revision,omitempty"`
	// Attempt is the delivery of the job's message the event comes from
	// (1 on the first run).
	Attempt int    `json:"attempt,omitempty"`
	Worker  string `json:"worker,omitempty"`
	// TaskID names the task of a task_done event (and of a task's
	// progress).
	TaskID string `json:"task_id,omitempty"`
	// Error says why, on failed, canceled and retrying events.
	Error string `json:"error,omitempty"`
	// Result is the job's output, on completed events.
	Result json.RawMessage `json:"result,omitempty"`
	// Data is the payload of a job kind's own event types, such as an
	// export's export_status.
	Data json.RawMessage `json:"data,omitempty"`
}

// Final reports whether e is a job's last event.
func (e *JobEvent) Final() bool {
	return e.Type == "completed" || e.Type == "failed" || e.Type == "canceled"
}

// stopError carries the error of FollowJob's callback, which ends the
// stream without a reconnect.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }

// maxEventReconnects bounds how often FollowJob reconnects a stream that
// broke before the job's final event.
const maxEventReconnects = 5

// FollowJob calls fn with every event of job id, in order, until the job's
// final event (which it returns), fn's error, or ctx's end. It reads the
// server's Server-Sent Events stream, and resumes it after the last event
// seen if the connection breaks.
func (c *Client) FollowJob(ctx context.Context, id string, fn func(JobEvent) error) (*JobEvent, error) {
	lastID := ""
	for attempt := 0; ; attempt++ {
		final, last, err := c.followOnce(ctx, id, lastID, fn)
		if final != nil || err == nil {
			return final, err
		}
		var se *stopError
		if errors.As(err, &se) {
			return nil, se.err
		}
		var ae *APIError
		if errors.As(err, &ae) || ctx.Err() != nil || attempt >= maxEventReconnects {
			return nil, err
		}
		if last != "" {
			lastID = last
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
}

// followOnce reads one connection of the event stream. It returns the
// final event, or the error that ended the stream with the id of the last
// event read.
func (c *Client) followOnce(ctx context.Context, id, lastID string, fn func(JobEvent) error) (*JobEvent, string, error) {
	h := http.Header{"Accept": {"text/event-stream"}}
	if lastID != "" {
		h.Set("Last-Event-ID", lastID)
	}
	resp, err := c.send(ctx, request{method: http.MethodGet, path: "/jobs/" + seg(id) + "/events", header: h})
	if err != nil {
		return nil, lastID, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var data strings.Builder
	evID := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			var ev JobEvent
			if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
				return nil, lastID, fmt.Errorf("job %s events: decode: %w", id, err)
			}
			data.Reset()
			if evID != "" {
				lastID = evID
			}
			if err := fn(ev); err != nil {
				return nil, lastID, &stopError{err: err}
			}
			if ev.Final() {
				return &ev, lastID, nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id:"):
			evID = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, lastID, fmt.Errorf("job %s events: %w", id, err)
	}
	return nil, lastID, fmt.Errorf("job %s events: the stream ended before the job did", id)
}
