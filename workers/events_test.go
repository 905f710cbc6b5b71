package workers_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/workers"
)

// TestProgressEvents runs a job that reports progress: events arrive on
// lakeq.events.<repo>.<kind>.<job-id> in order — started, progress with
// growing counts, completed with the result — and progress is saved while
// the job runs.
func TestProgressEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		const units = 8
		saved := make(chan jobs.Progress, units)
		h := &jobHandler{kind: "test-progress", run: func(ctx context.Context, rt *workers.Run) error {
			rt.Progress(ctx, func(p *jobs.Progress) { p.Total = units })
			for i := range units {
				rt.Progress(ctx, func(p *jobs.Progress) { p.Done++; p.Bytes += 100 })
				if err := sleepCtx(ctx, 80*time.Millisecond); err != nil {
					return err
				}
				if i == units/2 {
					rt.Event(ctx, "halfway", map[string]int{"unit": i})
				}
				j, err := e.jobs.Get(ctx, rt.Job().ID)
				if err != nil {
					return err
				}
				saved <- j.Progress
			}
			return rt.Complete(ctx, map[string]string{"status": "ok"})
		}}
		e.startRunner(runnerConfig("w1"), h)
		j := e.submit("test-progress", nil)
		evs := e.events(j.ID, true, 10*time.Second)

		// Progress is saved while the job runs, not only at its end.
		close(saved)
		var midway int64
		for p := range saved {
			if p.Done > 0 && p.Done < units {
				midway = p.Done
			}
		}
		if midway == 0 {
			t.Fatal("no progress was saved while the job ran")
		}

		if evs[0].Type != jobs.EventStarted {
			t.Fatalf("first event %s, want started: %v", evs[0].Type, eventTypes(evs))
		}
		last := evs[len(evs)-1]
		if last.Type != jobs.EventCompleted || string(last.Result) != `{"status":"ok"}` || last.Progress.Done != units ||
			last.State != jobs.StateCompleted {
			t.Fatalf("last event %+v", last)
		}
		var prev jobs.Progress
		progress, custom := 0, 0
		for _, ev := range evs {
			if ev.JobID != j.ID || ev.Kind != "test-progress" || ev.Repo != "repo-a" || ev.Time.IsZero() || ev.Worker != "w1" {
				t.Fatalf("event %+v lacks its job's identity", ev)
			}
			switch ev.Type {
			case jobs.EventProgress:
				progress++
				if ev.Progress.Done < prev.Done || ev.Progress.Bytes < prev.Bytes || ev.State != jobs.StateInProgress {
					t.Fatalf("progress went from %+v to %+v", prev, ev.Progress)
				}
				if ev.Progress.Total != units {
					t.Fatalf("progress event without the total: %+v", ev.Progress)
				}
				prev = ev.Progress
			case "halfway":
				custom++
				if string(ev.Data) != `{"unit":4}` {
					t.Fatalf("custom event data %s", ev.Data)
				}
			}
		}
		if progress < 3 || custom != 1 {
			t.Fatalf("%d progress and %d custom events: %v", progress, custom, eventTypes(evs))
		}
	})
}

// TestEventSubjectAndPayload reads a job's events straight from NATS: the
// subject names repository, kind and job, and the payload has the
// documented fields.
func TestEventSubjectAndPayload(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	h := &jobHandler{kind: "test-plain", run: func(ctx context.Context, rt *workers.Run) error {
		return workers.Permanent(errWithText("no such bucket"))
	}}
	e.startRunner(runnerConfig("w1"), h)
	j := e.submit("test-plain", nil)
	e.waitDone(j.ID, 10*time.Second)
	s, err := e.b.SubscribeEvents(t.Context(), "lakeq.events.repo-a.test-plain.>", broker.FromFirst())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	want := "lakeq.events.repo-a.test-plain." + string(j.ID)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		ev, err := s.Next(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Subject != want {
			t.Fatalf("subject %s, want %s", ev.Subject, want)
		}
		var m map[string]any
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"type", "job_id", "kind", "repository", "time", "state", "progress"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("event lacks %q: %s", k, ev.Data)
			}
		}
		if _, err := time.Parse(time.RFC3339, m["time"].(string)); err != nil {
			t.Fatalf("time %v: %v", m["time"], err)
		}
		if m["type"] == string(jobs.EventFailed) {
			if m["state"] != string(jobs.StateFailed) || !strings.Contains(m["error"].(string), "no such bucket") {
				t.Fatalf("failed event %s", ev.Data)
			}
			return
		}
	}
}

type errWithText string

func (e errWithText) Error() string { return string(e) }
