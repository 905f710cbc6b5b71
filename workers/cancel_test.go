package workers_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/workers"
)

// TestCancelBeforeStart cancels a queued job: the handler never runs.
func TestCancelBeforeStart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var runs atomic.Int32
		h := &jobHandler{kind: "test-sleep", run: func(ctx context.Context, rt *workers.Run) error {
			runs.Add(1)
			return rt.Complete(ctx, nil)
		}}
		j, err := e.jobs.Create(t.Context(), &jobs.Job{ID: jobs.NewID(time.Now()), Kind: "test-sleep", Repo: "repo-a"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.jobs.RequestCancel(t.Context(), j.ID); err != nil {
			t.Fatal(err)
		}
		e.publish(j)
		e.startRunner(runnerConfig("w1"), h)
		e.waitFor(10*time.Second, "the job queue to empty", func() bool { return e.streamMsgs(broker.StreamJobs) == 0 })
		if got := e.get(j.ID); got.State != jobs.StateCanceled || runs.Load() != 0 || got.Attempts != 0 {
			t.Fatalf("job %s, attempts %d, handler runs %d; want CANCELED without a run", got.State, got.Attempts, runs.Load())
		}
	})
}

// TestCancelRequestedBeforeRedelivery flags a job IN_PROGRESS for
// cancellation while no worker holds it (its worker died): the next
// delivery cancels it without running the handler.
func TestCancelRequestedBeforeRedelivery(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	var runs atomic.Int32
	h := &jobHandler{kind: "test-sleep", run: func(ctx context.Context, rt *workers.Run) error {
		runs.Add(1)
		return rt.Complete(ctx, nil)
	}}
	j, err := e.jobs.Create(t.Context(), &jobs.Job{ID: jobs.NewID(time.Now()), Kind: "test-sleep", Repo: "repo-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.jobs.Update(t.Context(), j.ID, func(j *jobs.Job) error { j.State = jobs.StateInProgress; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.jobs.RequestCancel(t.Context(), j.ID); err != nil {
		t.Fatal(err)
	}
	e.publish(j)
	e.startRunner(runnerConfig("w1"), h)
	if got := e.waitDone(j.ID, 10*time.Second); got.State != jobs.StateCanceled || runs.Load() != 0 {
		t.Fatalf("job %s after %d runs", got.State, runs.Load())
	}
	evs := e.events(j.ID, true, 5*time.Second)
	if evs[len(evs)-1].Type != jobs.EventCanceled {
		t.Fatalf("events %v", eventTypes(evs))
	}
}

// TestCancelMidJob cancels a running job: the handler sees Canceled
// between units, stops, and the job is CANCELED with nothing completed.
func TestCancelMidJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var units, completes atomic.Int32
		h := &jobHandler{kind: "test-units", run: func(ctx context.Context, rt *workers.Run) error {
			for range 1000 {
				if rt.Canceled(ctx) {
					return workers.ErrCanceled
				}
				units.Add(1)
				rt.Progress(ctx, func(p *jobs.Progress) { p.Done++ })
				if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
					return err
				}
			}
			completes.Add(1)
			return rt.Complete(ctx, "everything")
		}}
		e.startRunner(runnerConfig("w1"), h)
		j := e.submit("test-units", nil)
		e.waitFor(10*time.Second, "a few units", func() bool { return units.Load() >= 5 })
		if _, err := e.jobs.RequestCancel(t.Context(), j.ID); err != nil {
			t.Fatal(err)
		}
		at := units.Load()
		done := e.waitDone(j.ID, 10*time.Second)
		if done.State != jobs.StateCanceled || completes.Load() != 0 || done.Result != nil {
			t.Fatalf("job %s, result %s, completes %d", done.State, done.Result, completes.Load())
		}
		// The handler stopped within a cancel-check interval or so.
		if extra := units.Load() - at; extra > 10 {
			t.Fatalf("%d units ran after the cancel request", extra)
		}
		if done.Progress.Done != int64(units.Load()) {
			t.Fatalf("saved progress %d, want the %d units done", done.Progress.Done, units.Load())
		}
		evs := e.events(j.ID, true, 5*time.Second)
		if last := evs[len(evs)-1]; last.Type != jobs.EventCanceled || countEvents(evs, jobs.EventCompleted) != 0 {
			t.Fatalf("events %v", eventTypes(evs))
		}
	})
}

// TestCancelFannedOutJob cancels a job while its tasks run: the job is
// CANCELED, the remaining tasks are skipped, and Finalize never runs.
func TestCancelFannedOutJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var started, finals atomic.Int32
		h := &fanHandler{
			jobHandler: jobHandler{kind: "test-fanout", run: func(ctx context.Context, rt *workers.Run) error {
				tasks := make([]workers.Task, 40)
				for i := range tasks {
					tasks[i] = workers.Task{ID: fmt.Sprintf("t%02d", i)}
				}
				return rt.FanOut(ctx, tasks)
			}},
			runTask: func(ctx context.Context, rt *workers.Run, task workers.Task) error {
				started.Add(1)
				for range 20 {
					if rt.Canceled(ctx) {
						return workers.ErrCanceled
					}
					if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
						return err
					}
				}
				return nil
			},
			finalize: func(ctx context.Context, rt *workers.Run) error {
				finals.Add(1)
				return rt.Complete(ctx, nil)
			},
		}
		cfg := runnerConfig("w1")
		cfg.TaskConcurrency = 2
		e.startRunner(cfg, h)
		j := e.submit("test-fanout", nil)
		e.waitFor(10*time.Second, "tasks to start", func() bool { return started.Load() >= 3 })
		if _, err := e.jobs.RequestCancel(t.Context(), j.ID); err != nil {
			t.Fatal(err)
		}
		done := e.waitDone(j.ID, 10*time.Second)
		if done.State != jobs.StateCanceled {
			t.Fatalf("job %s", done.State)
		}
		e.waitFor(20*time.Second, "the task queue to empty", func() bool { return e.streamMsgs(broker.StreamTasks) == 0 })
		time.Sleep(200 * time.Millisecond)
		if finals.Load() != 0 {
			t.Fatalf("Finalize ran %d times for a canceled job", finals.Load())
		}
		if s := started.Load(); s >= 40 {
			t.Fatalf("all %d tasks ran despite the cancel", s)
		}
		if got := e.get(j.ID); got.State != jobs.StateCanceled || got.Progress.TasksOK >= 40 {
			t.Fatalf("job after the queue drained: %s, %+v", got.State, got.Progress)
		}
	})
}
