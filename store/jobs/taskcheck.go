package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// TaskRecorded reports whether task index of wave of job id is recorded
// as done in the job's task ledger, so that a worker given a task again
// (a redelivery after its worker died) can skip the work.
func (s *Store) TaskRecorded(ctx context.Context, id store.JobID, wave, index int) (bool, error) {
	if wave < 0 || index < 0 {
		return false, fmt.Errorf("job %s: wave %d task %d: %w", id, wave, index, store.ErrInvalidValue)
	}
	raw, err := s.kv.Get(ctx, tasksPartition(id), wavePrefix(wave)+shardKey(index/TaskShardSize))
	if errors.Is(err, kv.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("job %s: read task ledger: %w", id, err)
	}
	i := index % TaskShardSize
	return i/8 < len(raw) && raw[i/8]&(1<<(i%8)) != 0, nil
}
