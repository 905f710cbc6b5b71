package workers_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/workers"
)

// TestRequeueUnqueuedJob stores a job without publishing its message, as an
// API process that died between the two would: a worker queues it once it
// is older than RequeueAfter, and it runs exactly once.
func TestRequeueUnqueuedJob(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var runs atomic.Int32
		h := &jobHandler{kind: "test-requeue", run: func(ctx context.Context, rt *workers.Run) error {
			runs.Add(1)
			return rt.Complete(ctx, "ok")
		}}
		cfg := runnerConfig("w1")
		cfg.RequeueAfter, cfg.RequeueInterval = 300*time.Millisecond, 100*time.Millisecond
		e.startRunner(cfg, h)
		raw, _ := json.Marshal(map[string]string{})
		lost, err := e.jobs.Create(t.Context(), &jobs.Job{ID: jobs.NewID(time.Now()), Kind: "test-requeue", Repo: "repo-a", Request: raw})
		if err != nil {
			t.Fatal(err)
		}
		// A job its creator queued (and marked) runs once too, without a
		// second message.
		queued := e.submit("test-requeue", nil)
		if err := e.jobs.MarkQueued(t.Context(), queued.ID); err != nil {
			t.Fatal(err)
		}
		for _, id := range []store.JobID{lost.ID, queued.ID} {
			if j := e.waitDone(id, 20*time.Second); j.State != jobs.StateCompleted {
				t.Fatalf("job %s: %s", id, j.State)
			}
		}
		// Several more passes find nothing to queue.
		time.Sleep(500 * time.Millisecond)
		if n := runs.Load(); n != 2 {
			t.Fatalf("%d runs, want 2", n)
		}
		if n, err := e.jobs.Requeue(t.Context(), time.Now().Add(time.Hour), func(context.Context, *jobs.Job) error { return nil }); err != nil || n != 0 {
			t.Fatalf("jobs left to requeue: %d, %v", n, err)
		}
	})
}

// TestSecondJobMessageDropped publishes a second message for a job that a
// worker is running (as a requeue after the duplicate window would): it is
// acknowledged without running the job again.
func TestSecondJobMessageDropped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var runs atomic.Int32
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		h := &jobHandler{kind: "test-dup", run: func(ctx context.Context, rt *workers.Run) error {
			runs.Add(1)
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return rt.Complete(ctx, "ok")
		}}
		e.startRunner(runnerConfig("w1"), h)
		j := e.submit("test-dup", nil)
		<-started
		if _, err := e.b.PublishJob(t.Context(), "test-dup", j.ID+"-again", jobs.EncodeMessage(j.ID)); err != nil {
			t.Fatal(err)
		}
		// The first message stays in the stream until its job ends.
		e.waitFor(10*time.Second, "the second message to be settled", func() bool {
			return e.streamMsgs(broker.StreamJobs) == 1
		})
		close(release)
		if done := e.waitDone(j.ID, 20*time.Second); done.State != jobs.StateCompleted || done.Attempts != 1 {
			t.Fatalf("job %s after %d attempts", done.State, done.Attempts)
		}
		if n := runs.Load(); n != 1 {
			t.Fatalf("%d runs, want 1", n)
		}
	})
}

// TestRunAfterConsumerRedeclared: a job's message whose consumer was
// deleted while a worker ran it is delivered anew, as a first delivery, by
// the consumer the next worker declares: it runs the job, which would
// otherwise stay IN_PROGRESS for ever.
func TestRunAfterConsumerRedeclared(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	started := make(chan struct{})
	release := make(chan struct{})
	first := &jobHandler{kind: "test-redeclare", run: func(ctx context.Context, rt *workers.Run) error {
		close(started)
		<-release
		return errors.New("worker lost its consumer")
	}}
	w1 := e.startRunner(runnerConfig("w1"), first)
	j := e.submit("test-redeclare", nil)
	<-started
	durable, err := broker.Jobs.Durable("test-redeclare")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.b.JetStream().DeleteConsumer(t.Context(), broker.StreamJobs, durable); err != nil {
		t.Fatal(err)
	}
	close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := w1.Stop(ctx); err != nil {
		t.Logf("stop w1: %v", err)
	}
	if got := e.get(j.ID); got.State != jobs.StateInProgress || got.Attempts != 1 {
		t.Fatalf("job %s after %d attempts, want IN_PROGRESS after 1", got.State, got.Attempts)
	}

	second := &jobHandler{kind: "test-redeclare", run: func(ctx context.Context, rt *workers.Run) error {
		return rt.Complete(ctx, "ok")
	}}
	e.startRunner(runnerConfig("w2"), second)
	if done := e.waitDone(j.ID, 20*time.Second); done.State != jobs.StateCompleted || done.Attempts != 2 {
		t.Fatalf("job %s after %d attempts, want COMPLETED after 2", done.State, done.Attempts)
	}
}

// TestSecondMessageOfLegacyJobDropped: a job begun before jobs recorded
// the message that began them (no RunSeq) is not begun again by a first
// delivery, which can only be another message's.
func TestSecondMessageOfLegacyJobDropped(t *testing.T) {
	e := newEnv(t, backends[1].open(t))
	var runs atomic.Int32
	h := &jobHandler{kind: "test-legacy", run: func(ctx context.Context, rt *workers.Run) error {
		runs.Add(1)
		return rt.Complete(ctx, "ok")
	}}
	j := e.submit("test-legacy", nil)
	if _, err := e.jobs.Update(t.Context(), j.ID, func(j *jobs.Job) error {
		j.State, j.RunSeq = jobs.StateInProgress, 0
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.startRunner(runnerConfig("w1"), h)
	e.waitFor(10*time.Second, "the message to be settled", func() bool { return e.streamMsgs(broker.StreamJobs) == 0 })
	if got := e.get(j.ID); got.State != jobs.StateInProgress || runs.Load() != 0 {
		t.Fatalf("job %s after %d runs, want IN_PROGRESS and none", got.State, runs.Load())
	}
}
