package jobs_test

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// TestMarkTaskDoneConcurrent records every task of a job spanning two
// ledger shards twice, from 16 goroutines in random order: each task is
// first recorded once, and exactly one call completes the ledger.
func TestMarkTaskDoneConcurrent(t *testing.T) {
	const total = jobs.TaskShardSize + 300
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		j := mustCreate(t, s, jobs.KindImport, "repo-a")
		order := make([]int, 0, 2*total)
		for i := range total {
			order = append(order, i, i)
		}
		rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		work := make(chan int)
		var firsts, completed atomic.Int64
		firstOf := make([]atomic.Int32, total)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					tally, err := s.MarkTaskDone(t.Context(), j.ID, i, total)
					if err != nil {
						t.Errorf("MarkTaskDone(%d): %v", i, err)
						continue
					}
					if tally.First {
						firsts.Add(1)
						firstOf[i].Add(1)
					}
					if tally.Completed {
						completed.Add(1)
						if !tally.AllDone {
							t.Errorf("Completed without AllDone")
						}
					}
				}
			}()
		}
		for _, i := range order {
			work <- i
		}
		close(work)
		wg.Wait()
		if firsts.Load() != total || completed.Load() != 1 {
			t.Fatalf("first recordings %d (want %d), completions %d (want 1)", firsts.Load(), total, completed.Load())
		}
		for i := range firstOf {
			if n := firstOf[i].Load(); n != 1 {
				t.Fatalf("task %d recorded first %d times", i, n)
			}
		}
		done, err := s.TasksDone(t.Context(), j.ID, total)
		if err != nil || done != total {
			t.Fatalf("TasksDone = %d, %v; want %d", done, err, total)
		}
		// A redelivered task sees the ledger complete, without completing
		// it a second time.
		tally, err := s.MarkTaskDone(t.Context(), j.ID, 7, total)
		if err != nil || tally.First || !tally.AllDone || tally.Completed {
			t.Fatalf("redelivered task: %+v, %v", tally, err)
		}
	})
}

func TestMarkTaskDoneSingle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		j := mustCreate(t, s, jobs.KindExport, "repo-a")
		steps := []struct {
			index int
			want  jobs.TaskTally
		}{
			{1, jobs.TaskTally{First: true}},
			{1, jobs.TaskTally{}},
			{0, jobs.TaskTally{First: true}},
			{2, jobs.TaskTally{First: true, AllDone: true, Completed: true}},
			{0, jobs.TaskTally{AllDone: true}},
		}
		for _, st := range steps {
			got, err := s.MarkTaskDone(t.Context(), j.ID, st.index, 3)
			if err != nil || got != st.want {
				t.Fatalf("MarkTaskDone(%d) = %+v, %v; want %+v", st.index, got, err, st.want)
			}
		}
	})
}

func TestMarkTaskDoneInvalid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		j := mustCreate(t, s, jobs.KindExport, "repo-a")
		tests := []struct {
			name         string
			index, total int
		}{
			{"NegativeIndex", -1, 3},
			{"IndexPastEnd", 3, 3},
			{"NoTasks", 0, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.MarkTaskDone(t.Context(), j.ID, tc.index, tc.total); !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("MarkTaskDone(%d, %d): %v, want ErrInvalid", tc.index, tc.total, err)
				}
			})
		}
		t.Run("TotalChanged", func(t *testing.T) {
			if _, err := s.MarkTaskDone(t.Context(), j.ID, 0, 20); err != nil {
				t.Fatal(err)
			}
			if _, err := s.MarkTaskDone(t.Context(), j.ID, 1, 3); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("MarkTaskDone with another total: %v, want ErrInvalid", err)
			}
		})
	})
}
