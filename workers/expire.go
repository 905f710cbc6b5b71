package workers

import (
	"context"
	"math/rand/v2"
	"time"
)

// expirer deletes expired jobs periodically. Every worker runs one; no
// leader is needed, as deleting a finished job is idempotent.
type expirer struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startExpirer starts r's expiry loop: a first pass at a random point of
// the first Config.ExpireInterval, then one pass per interval.
func startExpirer(ctx context.Context, r *Runner) *expirer {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &expirer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		wait := rand.N(r.cfg.ExpireInterval) + time.Millisecond
		for {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if _, err := r.Expire(ctx); err != nil && ctx.Err() == nil {
				r.log.WarnContext(ctx, "expire finished jobs; trying again at the next interval", "error", err)
			}
			wait = r.cfg.ExpireInterval
		}
	}()
	return e
}

// stop ends the loop and waits for a pass under way.
func (e *expirer) stop() {
	e.cancel()
	<-e.done
}

// Expire deletes the jobs that finished more than Config.ExpireAfter ago
// (their state and task ledger) and returns how many it deleted. Workers
// run it periodically; it is idempotent and safe to run from several
// workers at once. With expiry disabled (negative ExpireAfter) it deletes
// nothing.
func (r *Runner) Expire(ctx context.Context) (int, error) {
	if r.cfg.ExpireAfter <= 0 {
		return 0, nil
	}
	cutoff := r.cfg.Now().Add(-r.cfg.ExpireAfter)
	n, err := r.deps.Jobs.Expire(ctx, cutoff)
	if n > 0 {
		r.log.InfoContext(ctx, "expired finished jobs", "jobs", n, "finished_before", cutoff)
	}
	return n, err
}
