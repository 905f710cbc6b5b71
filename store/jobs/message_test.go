package jobs_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

func TestMessageRoundTrip(t *testing.T) {
	id := jobs.NewID(time.Now())
	m, err := jobs.DecodeMessage(jobs.EncodeMessage(id))
	if err != nil || m.JobID != id {
		t.Fatalf("DecodeMessage(EncodeMessage(%s)) = %+v, %v", id, m, err)
	}
	for _, bad := range []string{``, `{}`, `{"job_id":"nope"}`, `[1]`, `{"job_id":12}`} {
		if _, err := jobs.DecodeMessage([]byte(bad)); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("DecodeMessage(%q): %v, want ErrInvalid", bad, err)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte(jobs.EncodeMessage(jobs.NewID(time.Now()))))
	f.Add([]byte(`{"job_id":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := jobs.DecodeMessage(b)
		if err != nil {
			return
		}
		if jobs.ValidateID(m.JobID) != nil {
			t.Fatalf("accepted invalid id %q", m.JobID)
		}
	})
}

func TestNewEvent(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	j := &jobs.Job{ID: jobs.NewID(now), Kind: jobs.KindImport, Repo: "repo-a", State: jobs.StateFailed,
		Error: "source vanished", Result: json.RawMessage(`{"commit":"x"}`), Attempts: 2, Worker: "w1",
		Progress: jobs.Progress{Done: 5}}
	tests := []struct {
		typ        jobs.EventType
		wantErr    string
		wantResult bool
		final      bool
	}{
		{jobs.EventProgress, "", false, false},
		{jobs.EventFailed, "source vanished", false, true},
		{jobs.EventCompleted, "", true, true},
		{jobs.EventCanceled, "source vanished", false, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.typ), func(t *testing.T) {
			ev := jobs.NewEvent(j, tc.typ, now)
			if ev.Type != tc.typ || ev.JobID != j.ID || ev.Kind != j.Kind || ev.Repo != j.Repo || !ev.Time.Equal(now) ||
				ev.State != j.State || ev.Progress != j.Progress || ev.Attempt != 2 || ev.Worker != "w1" {
				t.Fatalf("event %+v", ev)
			}
			if ev.Error != tc.wantErr || (len(ev.Result) > 0) != tc.wantResult || tc.typ.Final() != tc.final {
				t.Fatalf("event %+v: error/result/final wrong", ev)
			}
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"type", "job_id", "kind", "repository", "time", "state", "progress"} {
				if _, ok := m[k]; !ok {
					t.Errorf("event JSON lacks %q: %s", k, b)
				}
			}
			if ts, _ := m["time"].(string); ts != "2026-01-02T03:04:05Z" {
				t.Errorf("time %q, want RFC 3339", ts)
			}
		})
	}
	for s, want := range map[jobs.State]jobs.EventType{jobs.StateCompleted: jobs.EventCompleted, jobs.StateFailed: jobs.EventFailed,
		jobs.StateCanceled: jobs.EventCanceled, jobs.StateInProgress: "", jobs.StateSubmitted: ""} {
		if got := jobs.FinalEventType(s); got != want {
			t.Errorf("FinalEventType(%s) = %q, want %q", s, got, want)
		}
	}
}
