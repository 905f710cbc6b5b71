package workers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/workers"
)

// TestFanOutWaves fans a job out from its Run and again from two
// Finalizes: each wave's tasks start only after every task of the wave
// before is done, Finalize runs once per wave and sees the wave that just
// completed, and a Finalize redelivered after its fan-out does not fan out
// twice.
func TestFanOutWaves(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		sizes := []int{6, 3, 0} // the last wave is empty
		var (
			mu        sync.Mutex
			done      = map[int]int{} // wave → tasks done
			starts    []string        // "<wave>:<done of the wave before at start>"
			taskWaves = map[string]int{}
			finals    []int
			failOnce  atomic.Bool
			retried   = make(chan struct{}) // closed by the second Finalize of wave 0
			finals0   atomic.Int32
		)
		failOnce.Store(true)
		tasks := func(wave int) []workers.Task {
			out := make([]workers.Task, sizes[wave])
			for i := range out {
				out[i] = workers.Task{ID: fmt.Sprintf("w%d-%02d", wave, i)}
			}
			return out
		}
		h := &fanHandler{
			jobHandler: jobHandler{kind: "test-waves", run: func(ctx context.Context, rt *workers.Run) error {
				if rt.Wave() != 0 {
					return workers.Permanent(fmt.Errorf("Run sees wave %d", rt.Wave()))
				}
				return rt.FanOut(ctx, tasks(0))
			}},
			runTask: func(ctx context.Context, rt *workers.Run, task workers.Task) error {
				w := rt.Wave()
				if w == 1 {
					// Wave 1 waits for the retried Finalize of wave 0, which
					// must not publish its tasks again.
					select {
					case <-retried:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				mu.Lock()
				prev := -1
				if w > 0 {
					prev = done[w-1]
				}
				starts = append(starts, fmt.Sprintf("%d:%d", w, prev))
				taskWaves[task.ID] = w
				mu.Unlock()
				if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
					return err
				}
				mu.Lock()
				done[w]++
				mu.Unlock()
				return nil
			},
			finalize: func(ctx context.Context, rt *workers.Run) error {
				w := rt.Wave()
				mu.Lock()
				finals = append(finals, w)
				mu.Unlock()
				if w == 0 && finals0.Add(1) == 2 {
					defer close(retried)
				}
				if w+1 < len(sizes) {
					if err := rt.FanOut(ctx, tasks(w+1)); err != nil {
						return err
					}
					if w == 0 && failOnce.CompareAndSwap(true, false) {
						return errors.New("lost the connection after fanning out wave 1")
					}
					return nil
				}
				return rt.Complete(ctx, map[string]int{"waves": len(sizes)})
			},
		}
		cfg := runnerConfig("w1")
		e.startRunner(cfg, h)
		e.startRunner(runnerConfig("w2"), h)
		j := e.waitDone(e.submit("test-waves", nil).ID, 30*time.Second)
		if j.State != jobs.StateCompleted {
			t.Fatalf("job %s: %s", j.State, j.Error)
		}
		if !slices.Equal(j.Waves, []int64{6, 3, 0}) || j.Progress.Tasks != 9 || j.Progress.TasksOK != 9 {
			t.Fatalf("waves %v, progress %+v", j.Waves, j.Progress)
		}
		mu.Lock()
		defer mu.Unlock()
		// Finalize of wave 0 ran twice (the first attempt failed after
		// fanning out), then once per later wave.
		if !slices.Equal(finals, []int{0, 0, 1, 2}) {
			t.Fatalf("Finalize saw waves %v, want [0 0 1 2]", finals)
		}
		for _, s := range starts {
			var w, prev int
			fmt.Sscanf(s, "%d:%d", &w, &prev)
			if w > 0 && prev != sizes[w-1] {
				t.Fatalf("a task of wave %d started when %d of %d tasks of wave %d were done", w, prev, sizes[w-1], w-1)
			}
		}
		if len(starts) != 9 || len(taskWaves) != 9 {
			t.Fatalf("tasks ran %d times (%d distinct), want 9: the redelivered Finalize fanned out again", len(starts), len(taskWaves))
		}
		for id, w := range taskWaves {
			if want := int(id[1] - '0'); w != want {
				t.Fatalf("task %s saw wave %d", id, w)
			}
		}
	})
}

// TestFanOutWavePlanChanged checks that a Finalize fanning out the same
// wave again with another number of tasks fails the job.
func TestFanOutWavePlanChanged(t *testing.T) {
	e := newEnv(t, backends[0].open(t))
	var attempts atomic.Int32
	h := &fanHandler{
		jobHandler: jobHandler{kind: "test-waveplan", run: func(ctx context.Context, rt *workers.Run) error {
			return rt.FanOut(ctx, []workers.Task{{ID: "a"}})
		}},
		runTask: func(ctx context.Context, rt *workers.Run, task workers.Task) error {
			if rt.Wave() == 1 {
				// Hold wave 1 until the redelivered Finalize of wave 0 has
				// failed the job: finished early, wave 1 would complete it.
				for {
					j, err := e.jobs.Get(ctx, rt.Job().ID)
					if err != nil {
						return err
					}
					if j.State.Terminal() {
						return nil
					}
					if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
						return err
					}
				}
			}
			return nil
		},
		finalize: func(ctx context.Context, rt *workers.Run) error {
			if rt.Wave() > 0 {
				return rt.Complete(ctx, nil)
			}
			n := attempts.Add(1)
			tasks := []workers.Task{{ID: "b"}}
			if n > 1 {
				tasks = append(tasks, workers.Task{ID: "c"})
			}
			if err := rt.FanOut(ctx, tasks); err != nil {
				return err
			}
			return errors.New("fail after fanning out")
		},
	}
	e.startRunner(runnerConfig("w1"), h)
	j := e.waitDone(e.submit("test-waveplan", nil).ID, 20*time.Second)
	if j.State != jobs.StateFailed || !strings.Contains(j.Error, "fanned out wave 1 into 1 tasks before, now 2") {
		t.Fatalf("job %s: %q, want FAILED for a changed plan", j.State, j.Error)
	}
}
