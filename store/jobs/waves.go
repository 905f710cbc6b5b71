package jobs

import (
	"fmt"
	"strconv"

	"context"
	"github.com/lakeq/lakeq/store"
)

// WaveHeader is the header of a finalize message that names the wave of
// tasks it follows, when that is not the first (wave 0, no header).
const WaveHeader = "Lakeq-Wave"

// MarkWaveTaskDone is MarkTaskDone for task index of total of wave of job
// id. Each wave has a ledger of its own in the job's partition (wave 0's
// is MarkTaskDone's), so that the waves of a job that fans out again from
// its Finalize are counted apart.
func (s *Store) MarkWaveTaskDone(ctx context.Context, id store.JobID, wave, index, total int) (TaskTally, error) {
	if wave < 0 {
		return TaskTally{}, fmt.Errorf("job %s: wave %d: %w", id, wave, store.ErrInvalidValue)
	}
	return s.markTaskDone(ctx, id, wavePrefix(wave), index, total)
}

// wavePrefix is the key prefix of wave's task ledger.
func wavePrefix(wave int) string {
	if wave == 0 {
		return ""
	}
	return fmt.Sprintf("w%04d/", wave)
}

// FinalizeMsgID returns the message id of the finalize message of job id
// after its tasks of wave: "<job-id>.finalize" for wave 0 and
// "<job-id>.finalize.<wave>" after.
func FinalizeMsgID(id store.JobID, wave int) string {
	if wave == 0 {
		return string(id) + "." + PhaseFinalize
	}
	return string(id) + "." + PhaseFinalize + "." + strconv.Itoa(wave)
}
