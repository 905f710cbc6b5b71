package jobs_test

import (
	"errors"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// TestMarkWaveTaskDone checks that each wave of a job has a ledger of its
// own: completing one wave does not complete another, and each completes
// exactly once.
func TestMarkWaveTaskDone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *jobs.Store, _ *clock) {
		ctx := t.Context()
		j := mustCreate(t, s, jobs.KindExport, "repo1")
		sizes := map[int]int{0: 3, 1: 2, 7: 1}
		completed := map[int]int{}
		for round := range 2 { // the second pass is a redelivery of every task
			for wave, n := range sizes {
				for i := range n {
					tally, err := s.MarkWaveTaskDone(ctx, j.ID, wave, i, n)
					if err != nil {
						t.Fatal(err)
					}
					if tally.First != (round == 0) {
						t.Fatalf("wave %d task %d pass %d: First = %v", wave, i, round, tally.First)
					}
					if tally.AllDone != (i == n-1 || round == 1) {
						t.Fatalf("wave %d task %d pass %d: AllDone = %v", wave, i, round, tally.AllDone)
					}
					if tally.Completed {
						completed[wave]++
					}
				}
			}
		}
		for wave := range sizes {
			if completed[wave] != 1 {
				t.Fatalf("wave %d completed %d times", wave, completed[wave])
			}
		}
		// Wave 0 is MarkTaskDone's ledger.
		if n, err := s.TasksDone(ctx, j.ID, 3); err != nil || n != 3 {
			t.Fatalf("TasksDone = %d, %v", n, err)
		}
		if _, err := s.MarkWaveTaskDone(ctx, j.ID, -1, 0, 1); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("negative wave: %v", err)
		}
		if got := jobs.FinalizeMsgID(j.ID, 0); got != string(j.ID)+".finalize" {
			t.Fatalf("FinalizeMsgID(0) = %s", got)
		}
		if got := jobs.FinalizeMsgID(j.ID, 2); got != string(j.ID)+".finalize.2" {
			t.Fatalf("FinalizeMsgID(2) = %s", got)
		}
	})
}
