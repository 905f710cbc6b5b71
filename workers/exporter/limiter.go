package exporter

import (
	"context"
	"sync"

	"github.com/lakeq/lakeq/store"
)

// limiters bound the copies of each export on this worker: the tasks of
// one job that run here at the same time share one semaphore of the
// request's parallelism, so the worker never runs more than that many of
// the job's copies however many of its tasks it holds.
type limiters struct {
	mu sync.Mutex
	m  map[store.JobID]*limiter
}

type limiter struct {
	slots chan struct{}
	refs  int
}

func newLimiters() *limiters { return &limiters{m: map[store.JobID]*limiter{}} }

// get returns job id's semaphore, of n slots when it is made; release it
// with put.
func (l *limiters) get(id store.JobID, n int) *limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[id]
	if !ok {
		lim = &limiter{slots: make(chan struct{}, n)}
		l.m[id] = lim
	}
	lim.refs++
	return lim
}

// put releases a semaphore got from get; the last release forgets it.
func (l *limiters) put(id store.JobID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.m[id]; ok {
		if lim.refs--; lim.refs == 0 {
			delete(l.m, id)
		}
	}
}

// acquire takes a slot, or returns ctx's error.
func (lim *limiter) acquire(ctx context.Context) error {
	select {
	case lim.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release gives a slot back.
func (lim *limiter) release() { <-lim.slots }
