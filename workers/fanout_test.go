package workers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/workers"
)

// fanOutRecord collects what the fan-out handlers of several runners did.
type fanOutRecord struct {
	mu        sync.Mutex
	byRunner  map[string]int    // runner → tasks it ran
	taskRuns  map[string]int    // task id → runs
	payloads  map[string]string // task id → payload seen
	finalizes atomic.Int32
	finalJob  atomic.Pointer[jobs.Job]
}

func newFanOutRecord() *fanOutRecord {
	return &fanOutRecord{byRunner: map[string]int{}, taskRuns: map[string]int{}, payloads: map[string]string{}}
}

// fanOutHandler returns a handler for runner name that fans out n tasks
// named task-000…, each of which counts one unit of progress after a
// short sleep; Finalize completes with the number of tasks it found.
// failRunOnce makes the first Run fail after fanning out (as a worker dying
// right after publishing the tasks would); the tasks then wait for the
// second Run.
func fanOutHandler(rec *fanOutRecord, name string, n int, failRunOnce *atomic.Bool) *fanHandler {
	secondRun := make(chan struct{})
	if failRunOnce == nil {
		close(secondRun)
	}
	var runs atomic.Int32
	return &fanHandler{
		jobHandler: jobHandler{kind: "test-fanout", run: func(ctx context.Context, rt *workers.Run) error {
			tasks := make([]workers.Task, n)
			for i := range tasks {
				tasks[i] = workers.Task{ID: fmt.Sprintf("task-%03d", i), Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
			}
			if runs.Add(1) == 2 {
				defer close(secondRun)
			}
			if err := rt.FanOut(ctx, tasks); err != nil {
				return err
			}
			if failRunOnce != nil && failRunOnce.CompareAndSwap(true, false) {
				return errors.New("lost the connection after fanning out")
			}
			return nil
		}},
		runTask: func(ctx context.Context, rt *workers.Run, task workers.Task) error {
			select {
			case <-secondRun:
			case <-ctx.Done():
				return ctx.Err()
			}
			if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
				return err
			}
			rt.Progress(ctx, func(p *jobs.Progress) { p.Done++; p.Bytes += 10 })
			rec.mu.Lock()
			rec.byRunner[name]++
			rec.taskRuns[task.ID]++
			rec.payloads[task.ID] = string(task.Payload)
			rec.mu.Unlock()
			return nil
		},
		finalize: func(ctx context.Context, rt *workers.Run) error {
			rec.finalizes.Add(1)
			rec.finalJob.Store(rt.Job())
			return rt.Complete(ctx, map[string]int64{"tasks": rt.Job().Progress.TasksOK})
		},
	}
}

// TestFanOutTwoRunners fans a job out into 50 tasks over two runners: both
// run tasks, every task is accounted once, and the job is finalized
// exactly once.
func TestFanOutTwoRunners(t *testing.T) {
	const n = 50
	forEachBackend(t, func(t *testing.T, e *env) {
		rec := newFanOutRecord()
		for _, name := range []string{"w1", "w2"} {
			cfg := runnerConfig(name)
			cfg.TaskConcurrency = 3
			e.startRunner(cfg, fanOutHandler(rec, name, n, nil))
		}
		j := e.submit("test-fanout", nil)
		done := e.waitDone(j.ID, 60*time.Second)
		if done.State != jobs.StateCompleted {
			t.Fatalf("job %s: %s", done.State, done.Error)
		}
		// Give a stray second finalize the time to show up.
		e.waitFor(10*time.Second, "empty queues", func() bool {
			return e.streamMsgs(broker.StreamJobs) == 0 && e.streamMsgs(broker.StreamTasks) == 0
		})
		time.Sleep(200 * time.Millisecond)
		if f := rec.finalizes.Load(); f != 1 {
			t.Fatalf("Finalize called %d times, want 1", f)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.taskRuns) != n {
			t.Fatalf("%d distinct tasks ran, want %d", len(rec.taskRuns), n)
		}
		for i := range n {
			id := fmt.Sprintf("task-%03d", i)
			// Delivery is at least once: a task may run again when its
			// message outlived the ack wait; it is still counted once.
			if rec.taskRuns[id] < 1 || rec.payloads[id] != fmt.Sprintf(`{"n":%d}`, i) {
				t.Fatalf("task %s ran %d times with payload %s", id, rec.taskRuns[id], rec.payloads[id])
			}
			if rec.taskRuns[id] > 1 {
				t.Logf("task %s was redelivered and ran %d times", id, rec.taskRuns[id])
			}
		}
		if rec.byRunner["w1"] == 0 || rec.byRunner["w2"] == 0 {
			t.Fatalf("tasks per runner %v: want both runners to have run some", rec.byRunner)
		}
		if fj := rec.finalJob.Load(); fj.Progress.TasksOK != n || fj.Progress.Tasks != n {
			t.Fatalf("Finalize saw progress %+v, want all %d tasks done", fj.Progress, n)
		}
		p := done.Progress
		if p.Tasks != n || p.TasksOK != n || p.Done < n || p.Bytes != 10*p.Done {
			t.Fatalf("final progress %+v", p)
		}
		if string(done.Result) != fmt.Sprintf(`{"tasks":%d}`, n) {
			t.Fatalf("result %s", done.Result)
		}
		tally, err := e.jobs.TasksDone(t.Context(), j.ID, n)
		if err != nil || tally != n {
			t.Fatalf("task ledger: %d done, %v", tally, err)
		}
		// All events, also a task_done that lost the race with the completion.
		evs := e.events(j.ID, false, 500*time.Millisecond)
		if got := countEvents(evs, jobs.EventTaskDone); got != n {
			t.Fatalf("%d task_done events, want %d", got, n)
		}
		if got := countEvents(evs, jobs.EventCompleted); got != 1 {
			t.Fatalf("%d completed events, want 1", got)
		}
		var lastOK int64
		for _, ev := range evs {
			if ev.Type == jobs.EventTaskDone {
				if ev.TaskID == "" {
					t.Fatal("task_done event without task_id")
				}
				lastOK = max(lastOK, ev.Progress.TasksOK)
			}
		}
		if lastOK != n {
			t.Fatalf("task_done events reach tasks_ok %d, want %d", lastOK, n)
		}
	})
}

// TestFanOutRedeliveredRun fails the job's Run right after it fanned out:
// the redelivered Run fans out the same tasks again, which are stored
// once, and the job is finalized once.
func TestFanOutRedeliveredRun(t *testing.T) {
	const n = 12
	forEachBackend(t, func(t *testing.T, e *env) {
		rec := newFanOutRecord()
		var failOnce atomic.Bool
		failOnce.Store(true)
		e.startRunner(runnerConfig("w1"), fanOutHandler(rec, "w1", n, &failOnce))
		j := e.submit("test-fanout", nil)
		done := e.waitDone(j.ID, 30*time.Second)
		if done.State != jobs.StateCompleted || done.Attempts != 2 {
			t.Fatalf("job %s after %d attempts: %s", done.State, done.Attempts, done.Error)
		}
		e.waitFor(10*time.Second, "empty queues", func() bool {
			return e.streamMsgs(broker.StreamJobs) == 0 && e.streamMsgs(broker.StreamTasks) == 0
		})
		time.Sleep(200 * time.Millisecond)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if f := rec.finalizes.Load(); f != 1 {
			t.Fatalf("Finalize called %d times, want 1", f)
		}
		for id, runs := range rec.taskRuns {
			if runs != 1 {
				t.Fatalf("task %s ran %d times: the second fan-out was not de-duplicated", id, runs)
			}
		}
		if len(rec.taskRuns) != n || done.Progress.TasksOK != n || done.Progress.Tasks != n || done.Progress.Done != n {
			t.Fatalf("%d tasks ran; progress %+v", len(rec.taskRuns), done.Progress)
		}
	})
}

// TestFanOutNoTasks finalizes a job that fans out into nothing.
func TestFanOutNoTasks(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	rec := newFanOutRecord()
	e.startRunner(runnerConfig("w1"), fanOutHandler(rec, "w1", 0, nil))
	done := e.waitDone(e.submit("test-fanout", nil).ID, 20*time.Second)
	if done.State != jobs.StateCompleted || rec.finalizes.Load() != 1 || string(done.Result) != `{"tasks":0}` {
		t.Fatalf("job %s, %d finalizes, result %s", done.State, rec.finalizes.Load(), done.Result)
	}
}

// TestTaskFailures checks a failing task's effect on its job.
func TestTaskFailures(t *testing.T) {
	tests := []struct {
		name      string
		taskErr   error
		wantState jobs.State
		wantErr   string
	}{
		{"Permanent", workers.Permanent(errors.New("corrupt range")), jobs.StateFailed, "task task-003: corrupt range"},
		{"RetriesExhausted", errors.New("timeout"), jobs.StateFailed, "task task-003: gave up after 3 attempts: timeout"},
		{"Canceled", workers.ErrCanceled, jobs.StateCanceled, "canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, backends[1].open(t))
			var finals atomic.Int32
			h := &fanHandler{
				jobHandler: jobHandler{kind: "test-fail", run: func(ctx context.Context, rt *workers.Run) error {
					tasks := make([]workers.Task, 6)
					for i := range tasks {
						tasks[i] = workers.Task{ID: fmt.Sprintf("task-%03d", i)}
					}
					return rt.FanOut(ctx, tasks)
				}},
				runTask: func(ctx context.Context, rt *workers.Run, task workers.Task) error {
					if task.ID == "task-003" {
						return tc.taskErr
					}
					return nil
				},
				finalize: func(ctx context.Context, rt *workers.Run) error {
					finals.Add(1)
					return rt.Complete(ctx, nil)
				},
			}
			e.startRunner(runnerConfig("w1"), h)
			done := e.waitDone(e.submit("test-fail", nil).ID, 30*time.Second)
			if done.State != tc.wantState || done.Error == "" || !strings.Contains(done.Error, tc.wantErr) {
				t.Fatalf("job %s with error %q; want %s with %q", done.State, done.Error, tc.wantState, tc.wantErr)
			}
			e.waitFor(10*time.Second, "empty queues", func() bool {
				return e.streamMsgs(broker.StreamJobs) == 0 && e.streamMsgs(broker.StreamTasks) == 0
			})
			if finals.Load() != 0 {
				t.Fatalf("Finalize ran %d times for a %s job", finals.Load(), done.State)
			}
		})
	}
}

// TestFanOutPhaseErrors checks the Run methods that belong to other
// phases.
func TestFanOutPhaseErrors(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	errs := make(chan error, 8)
	h := &fanHandler{
		jobHandler: jobHandler{kind: "test-phase", run: func(ctx context.Context, rt *workers.Run) error {
			errs <- rt.FanOut(ctx, []workers.Task{{ID: "a"}, {ID: "a"}})
			errs <- rt.FanOut(ctx, []workers.Task{{ID: "has space"}})
			return rt.FanOut(ctx, []workers.Task{{ID: "a"}})
		}},
		runTask: func(ctx context.Context, rt *workers.Run, task workers.Task) error {
			errs <- rt.Complete(ctx, nil)
			errs <- rt.Checkpoint(ctx, 1)
			errs <- rt.FanOut(ctx, nil)
			return nil
		},
		finalize: func(ctx context.Context, rt *workers.Run) error {
			// Allowed: Finalize may fan out another wave (wave_test.go).
			errs <- rt.FanOut(ctx, nil)
			return rt.Complete(ctx, nil)
		},
	}
	e.startRunner(runnerConfig("w1"), h)
	if j := e.waitDone(e.submit("test-phase", nil).ID, 20*time.Second); j.State != jobs.StateCompleted {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	want := []error{workers.ErrInvalidTask, workers.ErrInvalidTask, workers.ErrWrongPhase, workers.ErrWrongPhase,
		workers.ErrWrongPhase, nil}
	for i, w := range want {
		if err := <-errs; !errors.Is(err, w) {
			t.Fatalf("call %d: %v, want %v", i, err, w)
		}
	}
}

// TestRedeliveredDoneTaskSkipped redelivers a task whose work was recorded
// before its worker failed to ack: the handler does not run again, and the
// bookkeeping it left undone (the finalize request) is finished.
func TestRedeliveredDoneTaskSkipped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var runs, finals atomic.Int32
		h := &fanHandler{
			jobHandler: jobHandler{kind: "test-skip", run: func(ctx context.Context, rt *workers.Run) error {
				return rt.FanOut(ctx, []workers.Task{{ID: "a"}, {ID: "b"}})
			}},
			runTask: func(ctx context.Context, rt *workers.Run, task workers.Task) error {
				runs.Add(1)
				index := map[string]int{"a": 0, "b": 1}[task.ID]
				// Record the task as the runner would, then fail as a
				// worker losing its connection before the ack would.
				if _, err := e.jobs.MarkTaskDone(ctx, rt.Job().ID, index, 2); err != nil {
					return err
				}
				return errors.New("connection lost before the ack")
			},
			finalize: func(ctx context.Context, rt *workers.Run) error {
				finals.Add(1)
				return rt.Complete(ctx, nil)
			},
		}
		e.startRunner(runnerConfig("w1"), h)
		j := e.waitDone(e.submit("test-skip", nil).ID, 20*time.Second)
		if j.State != jobs.StateCompleted || runs.Load() != 2 || finals.Load() != 1 {
			t.Fatalf("job %s (%s); task runs %d, want 2; finalizes %d, want 1", j.State, j.Error, runs.Load(), finals.Load())
		}
	})
}
