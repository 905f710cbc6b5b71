package jobs

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

// Task ledger: which tasks of a fanned-out job are done.
//
// The ledger is a set of bitmaps in the job's own partition: one record per
// shard of TaskShardSize tasks (bit i set: task shard*TaskShardSize+i is
// done) and a summary record with one bit per full shard. Every change sets
// a bit by compare-and-swap, and setting a bit is idempotent, so a worker
// that dies anywhere between the two writes leaves a ledger that the
// redelivered task completes: no task is counted twice, none is lost, and
// exactly one first-time write observes the ledger becoming complete.

// TaskShardSize is how many tasks one ledger record covers.
const TaskShardSize = 1024

// maxTaskCASAttempts bounds the compare-and-swap retries of one bit.
const maxTaskCASAttempts = 1000

const summaryKey = "all"

func tasksPartition(id store.JobID) string { return "job-tasks/" + string(id) }

func shardKey(shard int) string { return fmt.Sprintf("shard/%08d", shard) }

// TaskTally is what MarkTaskDone found.
type TaskTally struct {
	// First reports that this call recorded the task; false means it was
	// recorded before (a redelivered task).
	First bool
	// AllDone reports that every task of the job is recorded.
	AllDone bool
	// Completed reports that this call is the one that completed the
	// ledger: exactly one call per job returns it.
	Completed bool
}

// MarkTaskDone records that task index (0 ≤ index < total) of job id is
// done. It is idempotent and safe for concurrent use across processes;
// total must be the same in every call for one job. A redelivered task
// calls it again and gets First false, and AllDone true once the whole
// ledger is complete, so that it can finish what a dead worker left undone.
func (s *Store) MarkTaskDone(ctx context.Context, id store.JobID, index, total int) (TaskTally, error) {
	return s.markTaskDone(ctx, id, "", index, total)
}

// markTaskDone is MarkTaskDone over the ledger whose keys start with
// prefix ("" for a job's first wave of tasks).
func (s *Store) markTaskDone(ctx context.Context, id store.JobID, prefix string, index, total int) (TaskTally, error) {
	if total <= 0 || index < 0 || index >= total {
		return TaskTally{}, fmt.Errorf("job %s: task %d of %d: %w", id, index, total, store.ErrInvalidValue)
	}
	part := tasksPartition(id)
	shard := index / TaskShardSize
	shardLen := min(TaskShardSize, total-shard*TaskShardSize)
	first, shardFull, err := s.setBit(ctx, part, prefix+shardKey(shard), shardLen, index%TaskShardSize)
	if err != nil {
		return TaskTally{}, fmt.Errorf("job %s: record task %d: %w", id, index, err)
	}
	if !shardFull {
		return TaskTally{First: first}, nil
	}
	shards := (total + TaskShardSize - 1) / TaskShardSize
	newShard, allDone, err := s.setBit(ctx, part, prefix+summaryKey, shards, shard)
	if err != nil {
		return TaskTally{}, fmt.Errorf("job %s: record shard %d: %w", id, shard, err)
	}
	return TaskTally{First: first, AllDone: allDone, Completed: newShard && allDone}, nil
}

// TasksDone counts the recorded tasks of job id, out of total.
func (s *Store) TasksDone(ctx context.Context, id store.JobID, total int) (int, error) {
	if total <= 0 {
		return 0, nil
	}
	n := 0
	for shard := 0; shard*TaskShardSize < total; shard++ {
		raw, err := s.kv.Get(ctx, tasksPartition(id), shardKey(shard))
		if errors.Is(err, kv.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("job %s: count tasks: %w", id, err)
		}
		n += popcount(raw)
	}
	return n, nil
}

// setBit sets bit i of the n-bit bitmap at key by compare-and-swap. It
// reports whether the bit was clear before and whether the bitmap is full
// afterwards.
func (s *Store) setBit(ctx context.Context, part, key string, n, i int) (first, full bool, err error) {
	size := (n + 7) / 8
	backoff := time.Millisecond
	for range maxTaskCASAttempts {
		raw, err := s.kv.Get(ctx, part, key)
		var pred []byte
		switch {
		case errors.Is(err, kv.ErrNotFound):
			raw = make([]byte, size)
		case err != nil:
			return false, false, err
		case len(raw) != size:
			return false, false, fmt.Errorf("task ledger %s holds %d bytes, want %d: %w", key, len(raw), size, store.ErrInvalidValue)
		default:
			pred = raw
		}
		if raw[i/8]&(1<<(i%8)) != 0 {
			return false, popcount(raw) == n, nil
		}
		next := append([]byte(nil), raw...)
		next[i/8] |= 1 << (i % 8)
		err = s.kv.SetIf(ctx, part, key, next, pred)
		if err == nil {
			return true, popcount(next) == n, nil
		}
		if !errors.Is(err, kv.ErrPredicateFailed) {
			return false, false, err
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, false, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 20*time.Millisecond)
	}
	return false, false, store.ErrTooManyRetries
}

func popcount(b []byte) int {
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}
