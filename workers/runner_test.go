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
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/workers"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  workers.Config
		ok   bool
	}{
		{"Zero", workers.Config{}, true},
		{"Full", workers.Config{WorkerID: "w1", Concurrency: 8, TaskConcurrency: 16, Kinds: []jobs.Kind{jobs.KindImport, jobs.KindExport},
			ExpireAfter: time.Hour, ExpireInterval: time.Minute, ProgressInterval: time.Second, FetchMaxWait: time.Second}, true},
		{"ExpiryOff", workers.Config{ExpireAfter: -1}, true},
		{"NegativeConcurrency", workers.Config{Concurrency: -1}, false},
		{"NegativeTaskConcurrency", workers.Config{TaskConcurrency: -2}, false},
		{"BadKind", workers.Config{Kinds: []jobs.Kind{"Import!"}}, false},
		{"DuplicateKind", workers.Config{Kinds: []jobs.Kind{jobs.KindGC, jobs.KindGC}}, false},
		{"NegativeExpireInterval", workers.Config{ExpireInterval: -time.Second}, false},
		{"NegativeProgressInterval", workers.Config{ProgressInterval: -time.Second}, false},
		{"ShortFetch", workers.Config{FetchMaxWait: time.Millisecond}, false},
		{"NegativePublishConcurrency", workers.Config{PublishConcurrency: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.ok && !errors.Is(err, workers.ErrInvalidConfig) {
				t.Fatalf("Validate: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad request")
	err := fmt.Errorf("run: %w", workers.Permanent(base))
	if !workers.IsPermanent(err) || !errors.Is(err, base) || err.Error() != "run: bad request" {
		t.Fatalf("Permanent: %v (permanent %v)", err, workers.IsPermanent(err))
	}
	if workers.IsPermanent(base) || workers.Permanent(nil) != nil {
		t.Fatal("IsPermanent of a plain error, or Permanent(nil) non-nil")
	}
}

func TestRegisterAndStart(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	noop := func(context.Context, *workers.Run) error { return nil }
	newRunner := func(cfg workers.Config) *workers.Runner {
		r, err := workers.New(cfg, workers.Deps{Broker: e.b, Jobs: e.jobs, Logger: e.log})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	t.Run("MissingDeps", func(t *testing.T) {
		if _, err := workers.New(workers.Config{}, workers.Deps{Jobs: e.jobs}); !errors.Is(err, workers.ErrInvalidConfig) {
			t.Fatalf("New without a broker: %v", err)
		}
	})
	t.Run("Duplicate", func(t *testing.T) {
		r := newRunner(runnerConfig("w"))
		if err := r.Register(&jobHandler{kind: "test-a", run: noop}); err != nil {
			t.Fatal(err)
		}
		if err := r.Register(&jobHandler{kind: "test-a", run: noop}); !errors.Is(err, workers.ErrInvalidConfig) {
			t.Fatalf("second Register: %v", err)
		}
		if err := r.Register(&jobHandler{kind: "Bad Kind", run: noop}); !errors.Is(err, workers.ErrInvalidConfig) {
			t.Fatalf("Register of a bad kind: %v", err)
		}
	})
	t.Run("NoHandlers", func(t *testing.T) {
		if err := newRunner(runnerConfig("w")).Start(t.Context()); !errors.Is(err, workers.ErrInvalidConfig) {
			t.Fatalf("Start without handlers: %v", err)
		}
	})
	t.Run("KindWithoutHandler", func(t *testing.T) {
		cfg := runnerConfig("w")
		cfg.Kinds = []jobs.Kind{"test-a", "test-b"}
		r := newRunner(cfg)
		_ = r.Register(&jobHandler{kind: "test-a", run: noop})
		if err := r.Start(t.Context()); !errors.Is(err, workers.ErrInvalidConfig) {
			t.Fatalf("Start with an unregistered kind: %v", err)
		}
	})
	t.Run("SubsetOfKinds", func(t *testing.T) {
		cfg := runnerConfig("w")
		cfg.Kinds = []jobs.Kind{"test-b"}
		r := newRunner(cfg)
		_ = r.Register(&jobHandler{kind: "test-a", run: noop})
		_ = r.Register(&fanHandler{jobHandler: jobHandler{kind: "test-b", run: noop}})
		if got := r.Kinds(); len(got) != 1 || got[0] != "test-b" {
			t.Fatalf("Kinds = %v", got)
		}
		if err := r.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer r.Stop(context.WithoutCancel(t.Context()))
		if err := r.Start(t.Context()); !errors.Is(err, workers.ErrAlreadyStarted) {
			t.Fatalf("second Start: %v", err)
		}
		if err := r.Register(&jobHandler{kind: "test-c", run: noop}); !errors.Is(err, workers.ErrAlreadyStarted) {
			t.Fatalf("Register after Start: %v", err)
		}
		// One durable per (queue, kind) served: jobs and tasks of test-b.
		for _, name := range []string{"jobs-test-b", "tasks-test-b"} {
			stream := broker.StreamJobs
			if strings.HasPrefix(name, "tasks") {
				stream = broker.StreamTasks
			}
			if _, err := e.b.JetStream().Consumer(t.Context(), stream, name); err != nil {
				t.Errorf("consumer %s: %v", name, err)
			}
		}
		if _, err := e.b.JetStream().Consumer(t.Context(), broker.StreamJobs, "jobs-test-a"); err == nil {
			t.Error("a consumer of an unserved kind exists")
		}
	})
}

// outcomeRequest tells the outcome handler what to do.
type outcomeRequest struct {
	// Mode: ok, result, none, permanent, retry-once, retry-always,
	// cancel, panic-once.
	Mode string `json:"mode"`
}

// TestOutcomes checks how each result of a handler maps to the job's
// state, its attempts and its message's fate.
func TestOutcomes(t *testing.T) {
	tests := []struct {
		mode      string
		state     jobs.State
		attempts  int
		errSubstr string
		result    string
		final     jobs.EventType
	}{
		{"result", jobs.StateCompleted, 1, "", `{"answer":42}`, jobs.EventCompleted},
		{"none", jobs.StateCompleted, 1, "", "", jobs.EventCompleted},
		{"permanent", jobs.StateFailed, 1, "bad input", "", jobs.EventFailed},
		{"retry-once", jobs.StateCompleted, 2, "", `{"answer":42}`, jobs.EventCompleted},
		{"retry-always", jobs.StateFailed, 3, "gave up after 3 attempts: storage unavailable", "", jobs.EventFailed},
		{"cancel", jobs.StateCanceled, 1, "canceled", "", jobs.EventCanceled},
		{"panic-once", jobs.StateCompleted, 2, "", `{"answer":42}`, jobs.EventCompleted},
	}
	forEachBackend(t, func(t *testing.T, e *env) {
		var mu sync.Mutex
		calls := map[store.JobID][]time.Time{}
		h := &jobHandler{kind: "test-outcome", run: func(ctx context.Context, rt *workers.Run) error {
			var req outcomeRequest
			if err := json.Unmarshal(rt.Job().Request, &req); err != nil {
				return workers.Permanent(err)
			}
			mu.Lock()
			calls[rt.Job().ID] = append(calls[rt.Job().ID], time.Now())
			n := len(calls[rt.Job().ID])
			mu.Unlock()
			switch req.Mode {
			case "result":
				return rt.Complete(ctx, map[string]int{"answer": 42})
			case "none":
				return nil
			case "permanent":
				return workers.Permanent(errors.New("bad input"))
			case "retry-once":
				if n == 1 {
					return errors.New("storage unavailable")
				}
				return rt.Complete(ctx, map[string]int{"answer": 42})
			case "retry-always":
				return errors.New("storage unavailable")
			case "cancel":
				return workers.ErrCanceled
			case "panic-once":
				if n == 1 {
					panic("boom")
				}
				return rt.Complete(ctx, map[string]int{"answer": 42})
			}
			return fmt.Errorf("unknown mode %q", req.Mode)
		}}
		e.startRunner(runnerConfig("w1"), h)
		submitted := map[string]*jobs.Job{}
		for _, tc := range tests {
			submitted[tc.mode] = e.submit("test-outcome", outcomeRequest{Mode: tc.mode})
		}
		for _, tc := range tests {
			t.Run(tc.mode, func(t *testing.T) {
				id := submitted[tc.mode].ID
				j := e.waitDone(id, 20*time.Second)
				if j.State != tc.state || j.Attempts != tc.attempts || j.Worker != "w1" {
					t.Fatalf("job: state %s, attempts %d, worker %q; want %s, %d, w1", j.State, j.Attempts, j.Worker, tc.state, tc.attempts)
				}
				if !strings.Contains(j.Error, tc.errSubstr) || (tc.errSubstr == "" && j.Error != "") {
					t.Fatalf("job error %q, want it to contain %q", j.Error, tc.errSubstr)
				}
				if string(j.Result) != tc.result {
					t.Fatalf("job result %s, want %s", j.Result, tc.result)
				}
				if j.StartedAt.IsZero() || j.FinishedAt.Before(j.StartedAt) {
					t.Fatalf("timestamps: started %s, finished %s", j.StartedAt, j.FinishedAt)
				}
				mu.Lock()
				times := calls[id]
				mu.Unlock()
				if len(times) != tc.attempts {
					t.Fatalf("handler called %d times, want %d", len(times), tc.attempts)
				}
				for i := 1; i < len(times); i++ {
					if gap := times[i].Sub(times[i-1]); gap < 90*time.Millisecond {
						t.Fatalf("retry %d after %s, want the backoff (100ms)", i, gap)
					}
				}
				evs := e.events(id, true, 10*time.Second)
				if last := evs[len(evs)-1]; last.Type != tc.final || last.State != tc.state {
					t.Fatalf("last event %s (%s), want %s", last.Type, last.State, tc.final)
				}
				if n := countEvents(evs, jobs.EventStarted); n != tc.attempts {
					t.Fatalf("%d started events, want %d: %v", n, tc.attempts, eventTypes(evs))
				}
				if n := countEvents(evs, workers.EventRetrying); tc.mode == "retry-once" && n != 1 {
					t.Fatalf("%d retrying events, want 1: %v", n, eventTypes(evs))
				}
			})
		}
		// Acked, terminated: no message is left in the work queue, none is
		// pending on the consumer.
		e.waitFor(5*time.Second, "an empty job queue", func() bool { return e.streamMsgs(broker.StreamJobs) == 0 })
	})
}

// TestConcurrencyBound runs 8 jobs on a runner with 2 slots: never more
// than 2 run at once, and all complete.
func TestConcurrencyBound(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	var inFlight, peak atomic.Int32
	h := &jobHandler{kind: "test-sleep", run: func(ctx context.Context, rt *workers.Run) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if err := sleepCtx(ctx, 150*time.Millisecond); err != nil {
			return err
		}
		return rt.Complete(ctx, nil)
	}}
	cfg := runnerConfig("w1")
	cfg.Concurrency = 2
	e.startRunner(cfg, h)
	var ids []store.JobID
	for range 8 {
		ids = append(ids, e.submit("test-sleep", nil).ID)
	}
	for _, id := range ids {
		if j := e.waitDone(id, 20*time.Second); j.State != jobs.StateCompleted {
			t.Fatalf("job %s: %s", id, j.State)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrency %d, want 2", p)
	}
}

// TestStopDrains stops a runner while a job runs: Stop stops fetching at
// once, waits for the job to finish and settle, and the next job stays
// queued for another worker.
func TestStopDrains(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	started := make(chan struct{}, 1)
	var runs atomic.Int32
	h := &jobHandler{kind: "test-sleep", run: func(ctx context.Context, rt *workers.Run) error {
		runs.Add(1)
		started <- struct{}{}
		if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
			return err
		}
		return rt.Complete(ctx, "done")
	}}
	cfg := runnerConfig("w1")
	cfg.Concurrency = 1
	r := e.startRunner(cfg, h)
	first := e.submit("test-sleep", nil)
	<-started
	stopped := make(chan error, 1)
	go func() { stopped <- r.Stop(context.WithoutCancel(t.Context())) }()
	time.Sleep(50 * time.Millisecond)
	second := e.submit("test-sleep", nil)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if j := e.get(first.ID); j.State != jobs.StateCompleted {
		t.Fatalf("job in flight at Stop: %s, want COMPLETED", j.State)
	}
	time.Sleep(300 * time.Millisecond)
	if j := e.get(second.ID); j.State != jobs.StateSubmitted || runs.Load() != 1 {
		t.Fatalf("job submitted during Stop: %s after %d runs; want it left queued", j.State, runs.Load())
	}
	if n := e.streamMsgs(broker.StreamJobs); n != 1 {
		t.Fatalf("%d messages queued, want the second job's", n)
	}
	// Another worker takes it.
	e.startRunner(cfg, h)
	<-started
	if j := e.waitDone(second.ID, 10*time.Second); j.State != jobs.StateCompleted {
		t.Fatalf("second job: %s", j.State)
	}
}

// TestStopKeepsHandlerVerdict stops a runner whose grace runs out while
// handlers still run. One handler returns a plain error on the canceled
// context, and its job is left for redelivery; another finds a permanent
// failure of its own as it stops, and its job fails with it rather than
// being redelivered as interrupted (its handler may have dropped its
// working state with that result).
func TestStopKeepsHandlerVerdict(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	var started sync.WaitGroup
	started.Add(2)
	h := &jobHandler{kind: "test-verdict", run: func(ctx context.Context, rt *workers.Run) error {
		started.Done()
		<-ctx.Done()
		var req string
		_ = json.Unmarshal(rt.Job().Request, &req)
		if req == "permanent" {
			return workers.Permanent(errors.New("source gone"))
		}
		return ctx.Err()
	}}
	r := e.startRunner(runnerConfig("w1"), h)
	interrupted := e.submit("test-verdict", "interrupted")
	failed := e.submit("test-verdict", "permanent")
	started.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := r.Stop(ctx); err == nil {
		t.Fatal("Stop returned nil with handlers running past the grace")
	}
	e.waitFor(10*time.Second, "the handlers to settle", func() bool {
		return e.get(failed.ID).State.Terminal()
	})
	if j := e.get(failed.ID); j.State != jobs.StateFailed || !strings.Contains(j.Error, "source gone") {
		t.Fatalf("job whose handler failed for good: %s %q, want FAILED with its error", j.State, j.Error)
	}
	if j := e.get(interrupted.ID); j.State != jobs.StateInProgress {
		t.Fatalf("interrupted job: %s, want IN_PROGRESS until redelivered", j.State)
	}
}

// TestCheckpointResume fails a job after it saved a checkpoint: the
// redelivered job sees the checkpoint and resumes from it.
func TestCheckpointResume(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		type point struct {
			Next int `json:"next"`
		}
		var starts []int
		var mu sync.Mutex
		h := &jobHandler{kind: "test-resume", run: func(ctx context.Context, rt *workers.Run) error {
			var cp point
			if raw := rt.Job().Checkpoint; raw != nil {
				if err := json.Unmarshal(raw, &cp); err != nil {
					return workers.Permanent(err)
				}
			}
			mu.Lock()
			starts = append(starts, cp.Next)
			mu.Unlock()
			for i := cp.Next; i < 6; i++ {
				rt.Progress(ctx, func(p *jobs.Progress) { p.Done++; p.Total = 6 })
				if err := rt.Checkpoint(ctx, point{Next: i + 1}); err != nil {
					return err
				}
				if i == 2 && cp.Next == 0 {
					return errors.New("connection reset")
				}
			}
			return rt.Complete(ctx, point{Next: 6})
		}}
		e.startRunner(runnerConfig("w1"), h)
		j := e.waitDone(e.submit("test-resume", nil).ID, 20*time.Second)
		if j.State != jobs.StateCompleted || j.Attempts != 2 {
			t.Fatalf("job %s after %d attempts", j.State, j.Attempts)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(starts) != 2 || starts[0] != 0 || starts[1] != 3 {
			t.Fatalf("attempts started at %v, want [0 3]", starts)
		}
		if j.Progress.Done != 6 || j.Progress.Total != 6 || string(j.Checkpoint) != `{"next":6}` {
			t.Fatalf("progress %+v, checkpoint %s", j.Progress, j.Checkpoint)
		}
	})
}

// TestFinishedJobRedeliveredIsNoop delivers the message of a finished job
// again: the handler is not called and nothing changes.
func TestFinishedJobRedeliveredIsNoop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var runs, finals atomic.Int32
		h := &fanHandler{
			jobHandler: jobHandler{kind: "test-once", run: func(ctx context.Context, rt *workers.Run) error {
				runs.Add(1)
				return rt.FanOut(ctx, []workers.Task{{ID: "only"}})
			}},
			runTask: func(context.Context, *workers.Run, workers.Task) error { return nil },
			finalize: func(ctx context.Context, rt *workers.Run) error {
				finals.Add(1)
				return rt.Complete(ctx, "ok")
			},
		}
		e.startRunner(runnerConfig("w1"), h)
		j := e.submit("test-once", nil)
		done := e.waitDone(j.ID, 20*time.Second)
		if done.State != jobs.StateCompleted {
			t.Fatalf("job %s", done.State)
		}
		before := e.events(j.ID, false, 300*time.Millisecond)

		// The same job and finalize messages again, under new message ids
		// (as a redelivery after the duplicate window would be).
		if _, err := e.b.PublishJob(t.Context(), "test-once", j.ID+"-again", jobs.EncodeMessage(j.ID)); err != nil {
			t.Fatal(err)
		}
		msg := natsMsg(t, "lakeq.jobs.test-once", jobs.EncodeMessage(j.ID))
		msg.Header.Set(jobs.PhaseHeader, jobs.PhaseFinalize)
		if _, err := e.b.JetStream().PublishMsg(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
		if _, err := e.b.PublishTask(t.Context(), "test-once", string(j.ID)+".only-again",
			[]byte(fmt.Sprintf(`{"job_id":%q,"task_id":"only","index":0,"total":1}`, j.ID))); err != nil {
			t.Fatal(err)
		}
		e.waitFor(10*time.Second, "the queues to empty", func() bool {
			return e.streamMsgs(broker.StreamJobs) == 0 && e.streamMsgs(broker.StreamTasks) == 0
		})
		after := e.get(j.ID)
		if runs.Load() != 1 || finals.Load() != 1 || !after.UpdatedAt.Equal(done.UpdatedAt) || after.Attempts != 1 {
			t.Fatalf("after redelivery: %d runs, %d finalizes, attempts %d, updated %s (was %s)",
				runs.Load(), finals.Load(), after.Attempts, after.UpdatedAt, done.UpdatedAt)
		}
		if evs := e.events(j.ID, false, 300*time.Millisecond); len(evs) != len(before) {
			t.Fatalf("redelivery published events: %v after %v", eventTypes(evs), eventTypes(before))
		}
	})
}

// TestMalformedMessagesTerminated puts messages no worker can use on the
// queues: they are terminated, not retried forever.
func TestMalformedMessagesTerminated(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	var runs atomic.Int32
	h := &fanHandler{
		jobHandler: jobHandler{kind: "test-bad", run: func(context.Context, *workers.Run) error { runs.Add(1); return nil }},
		runTask:    func(context.Context, *workers.Run, workers.Task) error { runs.Add(1); return nil },
		finalize:   func(context.Context, *workers.Run) error { runs.Add(1); return nil },
	}
	e.startRunner(runnerConfig("w1"), h)
	unknown := jobs.NewID(time.Now())
	for _, payload := range []string{`not json`, `{"job_id":"nope"}`, string(jobs.EncodeMessage(unknown))} {
		if _, err := e.b.PublishJob(t.Context(), "test-bad", jobs.NewID(time.Now()), []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	for i, payload := range []string{`[]`, `{"job_id":"` + string(unknown) + `","task_id":"a","index":3,"total":2}`,
		`{"job_id":"` + string(unknown) + `","task_id":"a","index":0,"total":2}`} {
		if _, err := e.b.PublishTask(t.Context(), "test-bad", fmt.Sprintf("bad-%d", i), []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor(10*time.Second, "the queues to empty", func() bool {
		return e.streamMsgs(broker.StreamJobs) == 0 && e.streamMsgs(broker.StreamTasks) == 0
	})
	if runs.Load() != 0 {
		t.Fatalf("handler ran %d times on malformed messages", runs.Load())
	}
}

// TestExpiry runs two runners that expire jobs: old finished jobs go, the
// rest stay.
func TestExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		finished := func(state jobs.State) *jobs.Job {
			j, err := e.jobs.Create(ctx, &jobs.Job{ID: jobs.NewID(time.Now()), Kind: "test-x", Repo: "repo-a"})
			if err != nil {
				t.Fatal(err)
			}
			if state != jobs.StateSubmitted {
				if _, err := e.jobs.Update(ctx, j.ID, func(j *jobs.Job) error { j.State = state; return nil }); err != nil {
					t.Fatal(err)
				}
			}
			return j
		}
		old := []*jobs.Job{finished(jobs.StateCompleted), finished(jobs.StateFailed), finished(jobs.StateCanceled)}
		running := finished(jobs.StateInProgress)
		queued := finished(jobs.StateSubmitted)
		e.clock.Advance(3 * time.Hour)
		recent := finished(jobs.StateCompleted)

		noop := &jobHandler{kind: "test-x", run: func(context.Context, *workers.Run) error { return nil }}
		for _, id := range []string{"w1", "w2"} {
			cfg := runnerConfig(id)
			cfg.ExpireAfter = 2 * time.Hour
			cfg.ExpireInterval = 30 * time.Millisecond
			cfg.Now = func() time.Time { return e.clock.Now().Add(time.Hour) } // 4h after the old jobs
			e.startRunner(cfg, noop)
		}
		e.waitFor(10*time.Second, "old jobs to expire", func() bool {
			for _, j := range old {
				if _, err := e.jobs.Get(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
					return false
				}
			}
			return true
		})
		time.Sleep(100 * time.Millisecond) // a few more passes
		for _, j := range []*jobs.Job{running, queued, recent} {
			if _, err := e.jobs.Get(ctx, j.ID); err != nil {
				t.Fatalf("job %s was expired: %v", j.ID, err)
			}
		}
	})
}
