package workers_test

import (
	"context"
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

// TestKilledRunnerJobRedelivered kills a runner in the middle of a job:
// its shutdown grace is already over and its connection goes away, so it
// neither acks nor naks. The job is redelivered to the other runner and
// completes exactly once.
func TestKilledRunnerJobRedelivered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		release := make(chan struct{})
		var mu sync.Mutex
		var runsBy []string
		var completes atomic.Int32
		handler := func(name string) *jobHandler {
			return &jobHandler{kind: "test-long", run: func(ctx context.Context, rt *workers.Run) error {
				mu.Lock()
				runsBy = append(runsBy, name)
				mu.Unlock()
				rt.Progress(ctx, func(p *jobs.Progress) { p.Done++ })
				if name == "a" {
					// Stuck: it outlives its worker's grace and only
					// returns once the test lets it, after the other
					// worker finished the job.
					<-release
					return ctx.Err()
				}
				if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
					return err
				}
				completes.Add(1)
				return rt.Complete(ctx, "done by b")
			}}
		}
		a := e.startRunner(runnerConfig("a"), handler("a"))
		j := e.submit("test-long", nil)
		e.waitFor(10*time.Second, "runner a to take the job", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(runsBy) == 1
		})
		e.startRunner(runnerConfig("b"), handler("b"))

		// Kill a: no grace, then its connection is gone.
		expired, cancel := context.WithCancel(t.Context())
		cancel()
		if err := a.Stop(expired); !errors.Is(err, context.Canceled) {
			t.Fatalf("Stop with an expired context: %v, want context.Canceled", err)
		}
		if err := a.b.Close(context.WithoutCancel(t.Context())); err != nil {
			t.Fatalf("close a's connection: %v", err)
		}

		done := e.waitDone(j.ID, 20*time.Second)
		close(release)
		if done.State != jobs.StateCompleted || done.Worker != "b" || string(done.Result) != `"done by b"` || done.Attempts != 2 {
			t.Fatalf("job %s by %q after %d attempts, result %s", done.State, done.Worker, done.Attempts, done.Result)
		}
		e.waitFor(10*time.Second, "the job queue to empty", func() bool { return e.streamMsgs(broker.StreamJobs) == 0 })
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		if len(runsBy) != 2 || runsBy[0] != "a" || runsBy[1] != "b" || completes.Load() != 1 {
			t.Fatalf("runs %v, completes %d; want a then b, one completion", runsBy, completes.Load())
		}
		evs := e.events(j.ID, true, 5*time.Second)
		if n := countEvents(evs, jobs.EventCompleted); n != 1 {
			t.Fatalf("%d completed events: %v", n, eventTypes(evs))
		}
	})
}

// TestStoppedRunnerTaskRedelivered stops a runner without grace while it
// runs a task that obeys its context: the task is handed back (nak) and
// another runner does it; the job is finalized once.
func TestStoppedRunnerTaskRedelivered(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	var finals atomic.Int32
	var mu sync.Mutex
	ran := map[string][]string{}
	inTask := make(chan struct{}, 1)
	handler := func(name string) *fanHandler {
		return &fanHandler{
			jobHandler: jobHandler{kind: "test-fanout", run: func(ctx context.Context, rt *workers.Run) error {
				return rt.FanOut(ctx, []workers.Task{{ID: "only"}})
			}},
			runTask: func(ctx context.Context, rt *workers.Run, task workers.Task) error {
				mu.Lock()
				ran[task.ID] = append(ran[task.ID], name)
				mu.Unlock()
				if name == "a" {
					inTask <- struct{}{}
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			},
			finalize: func(ctx context.Context, rt *workers.Run) error {
				finals.Add(1)
				return rt.Complete(ctx, nil)
			},
		}
	}
	a := e.startRunner(runnerConfig("a"), handler("a"))
	j := e.submit("test-fanout", nil)
	<-inTask
	b := e.startRunner(runnerConfig("b"), handler("b"))
	_ = b
	expired, cancel := context.WithCancel(t.Context())
	cancel()
	_ = a.Stop(expired)
	done := e.waitDone(j.ID, 20*time.Second)
	if done.State != jobs.StateCompleted || finals.Load() != 1 {
		t.Fatalf("job %s, %d finalizes", done.State, finals.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if got := ran["only"]; len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("task ran on %v, want a then b", got)
	}
}

// TestAbandonedJobFails kills every worker that takes a job, up to the
// broker's last allowed delivery (3 in these tests): the job does not stay
// IN_PROGRESS forever — a live worker fails it from the server's
// max-deliveries advisory.
func TestAbandonedJobFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var runs atomic.Int32
		stuck := make(chan struct{})
		t.Cleanup(func() { close(stuck) })
		handler := &jobHandler{kind: "test-doomed", run: func(ctx context.Context, rt *workers.Run) error {
			runs.Add(1)
			<-stuck // never returns while its worker lives
			return ctx.Err()
		}}
		j := e.submit("test-doomed", nil)
		for i := range 3 {
			r := e.startRunner(runnerConfig(fmt.Sprintf("doomed-%d", i)), handler)
			e.waitFor(20*time.Second, "the job to be taken", func() bool { return runs.Load() == int32(i+1) })
			expired, cancel := context.WithCancel(t.Context())
			cancel()
			_ = r.Stop(expired)
			if err := r.b.Close(context.WithoutCancel(t.Context())); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.get(j.ID); got.State != jobs.StateInProgress {
			t.Fatalf("job %s after its workers died", got.State)
		}
		// A worker serving the kind is alive when the advisory comes.
		watcher := &jobHandler{kind: "test-doomed", run: func(ctx context.Context, rt *workers.Run) error {
			return workers.Permanent(errors.New("the abandoned job was delivered again"))
		}}
		e.startRunner(runnerConfig("watcher"), watcher)
		done := e.waitDone(j.ID, 30*time.Second)
		if done.State != jobs.StateFailed || !strings.Contains(done.Error, "gave up after 3 deliveries") || runs.Load() != 3 {
			t.Fatalf("job %s: %q after %d runs", done.State, done.Error, runs.Load())
		}
		evs := e.events(j.ID, true, 5*time.Second)
		if last := evs[len(evs)-1]; last.Type != jobs.EventFailed || last.Worker != "watcher" {
			t.Fatalf("last event %+v", last)
		}
	})
}
