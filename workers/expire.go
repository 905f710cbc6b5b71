package workers

import (
	"context"
	"math/rand/v2"
	"time"
)

// loop runs a pass of housekeeping periodically. Every worker runs its
// own; no leader is needed, as every pass is idempotent.
type loop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startLoop runs pass at a random point of the first interval, then once
// per interval, until stop. Random first passes spread the passes of
// workers started together.
func startLoop(ctx context.Context, interval time.Duration, pass func(ctx context.Context)) *loop {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &loop{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		wait := rand.N(interval) + time.Millisecond
		for {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			pass(ctx)
			wait = interval
		}
	}()
	return l
}

// stop ends the loop and waits for a pass under way.
func (l *loop) stop() {
	l.cancel()
	<-l.done
}

// startExpirer starts r's expiry loop.
func startExpirer(ctx context.Context, r *Runner) *loop {
	return startLoop(ctx, r.cfg.ExpireInterval, func(ctx context.Context) {
		if _, err := r.Expire(ctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "expire finished jobs; trying again at the next interval", "error", err)
		}
	})
}

// startRequeuer starts r's loop that queues jobs their creator did not.
func startRequeuer(ctx context.Context, r *Runner) *loop {
	return startLoop(ctx, r.cfg.RequeueInterval, func(ctx context.Context) {
		if _, err := r.Requeue(ctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "queue unqueued jobs; trying again at the next interval", "error", err)
		}
	})
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

// Requeue publishes the message of every job that was created more than
// Config.RequeueAfter ago and is still waiting to be queued: its creator
// (an API process, a continuous-export watcher) stored it and died before
// it could publish it, or before it could record that it had. Publishing
// again is harmless: the message id is the job id, which the jobs stream
// drops within its duplicate window, and a worker acknowledges without
// running a first delivery of a job that has started already. Workers run
// it periodically; it returns how many jobs it queued.
func (r *Runner) Requeue(ctx context.Context) (int, error) {
	cutoff := time.Now().Add(-r.cfg.RequeueAfter)
	n, err := r.deps.Jobs.Requeue(ctx, cutoff, r.deps.Broker.QueueJob)
	if n > 0 {
		r.log.WarnContext(ctx, "queued jobs their creator had not queued", "jobs", n, "created_before", cutoff)
	}
	return n, err
}
