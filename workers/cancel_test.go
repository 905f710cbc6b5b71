package workers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
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

// TestCancelWhileCommitting: once a job's Finalize has begun committing
// (Run.BeginCommit), a cancellation is refused with ErrJobCommitting, and a
// task of the job delivered again meanwhile that finds the job canceled
// does not move it to CANCELED: the job ends as its Finalize decides. A
// cancellation requested before BeginCommit cancels the job, and the
// Finalize commits nothing.
func TestCancelWhileCommitting(t *testing.T) {
	// gates step a Finalize through its commit: it waits at start for
	// toCommit, calls BeginCommit, closes committing and waits for
	// toComplete.
	type gates struct {
		started, toCommit, committing, toComplete chan struct{}
		lateRuns, completes                       atomic.Int32
	}
	start := func(t *testing.T) (*env, *gates, *jobs.Job) {
		e := newEnv(t, backends[1].open(t))
		g := &gates{started: make(chan struct{}), toCommit: make(chan struct{}),
			committing: make(chan struct{}), toComplete: make(chan struct{})}
		h := &fanHandler{
			jobHandler: jobHandler{kind: "test-commit", run: func(ctx context.Context, rt *workers.Run) error {
				return rt.FanOut(ctx, []workers.Task{{ID: "t0"}, {ID: "t1"}})
			}},
			runTask: func(ctx context.Context, rt *workers.Run, task workers.Task) error {
				if task.ID == "late" {
					// A task delivered again after its job was
					// finalized: it stops as a task that finds its
					// job canceled does.
					g.lateRuns.Add(1)
					return workers.ErrCanceled
				}
				return nil
			},
			finalize: func(ctx context.Context, rt *workers.Run) error {
				close(g.started)
				<-g.toCommit
				if err := rt.BeginCommit(ctx); err != nil {
					return err
				}
				close(g.committing)
				<-g.toComplete
				g.completes.Add(1)
				return rt.Complete(ctx, "committed")
			},
		}
		e.startRunner(runnerConfig("w1"), h)
		t.Cleanup(func() { // before the runner stops: let a held Finalize end
			for _, c := range []chan struct{}{g.toCommit, g.toComplete} {
				select {
				case <-c:
				default:
					close(c)
				}
			}
		})
		j := e.submit("test-commit", nil)
		select {
		case <-g.started:
		case <-time.After(20 * time.Second):
			t.Fatal("Finalize did not start")
		}
		return e, g, j
	}

	t.Run("Refused", func(t *testing.T) {
		e, g, j := start(t)
		close(g.toCommit)
		<-g.committing
		if _, err := e.jobs.RequestCancel(t.Context(), j.ID); !errors.Is(err, store.ErrJobCommitting) {
			t.Fatalf("cancel of a committing job: %v, want ErrJobCommitting", err)
		}
		late, _ := json.Marshal(map[string]any{"job_id": j.ID, "task_id": "late", "index": 0, "total": 2})
		if _, err := e.b.PublishTask(t.Context(), "test-commit", string(j.ID)+".late", late); err != nil {
			t.Fatal(err)
		}
		e.waitFor(10*time.Second, "the late task to settle", func() bool {
			return g.lateRuns.Load() > 0 && e.streamMsgs(broker.StreamTasks) == 0
		})
		if got := e.get(j.ID); got.State != jobs.StateInProgress || !got.Committing {
			t.Fatalf("job %s (committing %v) while its Finalize commits", got.State, got.Committing)
		}
		close(g.toComplete)
		if done := e.waitDone(j.ID, 10*time.Second); done.State != jobs.StateCompleted || string(done.Result) != `"committed"` {
			t.Fatalf("job %s, result %s", done.State, done.Result)
		}
	})

	t.Run("RequestedBefore", func(t *testing.T) {
		e, g, j := start(t)
		if _, err := e.jobs.RequestCancel(t.Context(), j.ID); err != nil {
			t.Fatal(err)
		}
		close(g.toCommit)
		if done := e.waitDone(j.ID, 10*time.Second); done.State != jobs.StateCanceled || done.Committing {
			t.Fatalf("job %s (committing %v)", done.State, done.Committing)
		}
		if g.completes.Load() != 0 {
			t.Fatal("the Finalize went on past BeginCommit")
		}
	})
}
