package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/jobs"
)

// jsonFields returns the JSON names of struct type t's fields.
func jsonFields(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// TestJobEventFields checks that JobEvent has every field of the event
// schema the server publishes.
func TestJobEventFields(t *testing.T) {
	have := map[string]bool{}
	for _, name := range jsonFields(reflect.TypeFor[JobEvent]()) {
		have[name] = true
	}
	for _, name := range jsonFields(reflect.TypeFor[jobs.Event]()) {
		if !have[name] {
			t.Errorf("JobEvent lacks the event field %q", name)
		}
	}
}

// TestFollowJobKeepsEveryField streams events with every field of the
// schema set through FollowJob and checks that each event, encoded again,
// is the JSON the server sent.
func TestFollowJobKeepsEveryField(t *testing.T) {
	at := time.Date(2026, 11, 22, 4, 51, 31, 954e6, time.UTC)
	full := jobs.Event{
		Type: "export_status", JobID: "01m80sgps0d8bkhj4cdbe601bg", Kind: jobs.KindExport, Repo: "sales",
		Time: at, State: jobs.StateInProgress,
		Progress: jobs.Progress{Done: 3, Total: 4, Bytes: 111, Failed: 1, Tasks: 2, TasksOK: 1},
		Revision: 9, Attempt: 2, Worker: "worker-a", TaskID: "range-00001", Error: "retried",
		Result: json.RawMessage(`{"copied":3}`),
		Data:   json.RawMessage(`{"status_file":"s3://published/EXPORT_x_SUCCESS","copied":3}`),
	}
	final := jobs.Event{
		Type: jobs.EventCompleted, JobID: full.JobID, Kind: jobs.KindExport, Repo: "sales", Time: at,
		State: jobs.StateCompleted, Progress: jobs.Progress{Done: 4}, Attempt: 2, Worker: "worker-a",
		Result: json.RawMessage(`{"copied":4}`),
	}
	var sent [][]byte
	for _, ev := range []jobs.Event{full, final} {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, b)
	}
	var keys map[string]any
	if err := json.Unmarshal(sent[0], &keys); err != nil {
		t.Fatal(err)
	}
	if want := len(jsonFields(reflect.TypeFor[jobs.Event]())); len(keys) != want {
		t.Fatalf("the test event sets %d fields of %d: %s", len(keys), want, sent[0])
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/jobs/"+string(full.JobID)+"/events" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": events of the job\n\n")
		for i, b := range sent {
			fmt.Fprintf(w, "id: %d\nevent: x\ndata: %s\n\n", i+1, b)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var got []JobEvent
	last, err := c.FollowJob(context.Background(), string(full.JobID), func(ev JobEvent) error {
		got = append(got, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sent) || last.Type != "completed" {
		t.Fatalf("FollowJob read %d events ending with %+v, want %d", len(got), last, len(sent))
	}
	for i, ev := range got {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var want, have any
		if err := json.Unmarshal(sent[i], &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &have); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(have, want) {
			t.Errorf("event %d encoded again:\n%s\nwant the server's\n%s", i, b, sent[i])
		}
	}
}
