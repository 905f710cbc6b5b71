package workers

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// settleTimeout bounds the state writes that settle a message once its
// handler has returned.
const settleTimeout = 30 * time.Second

// handleJob runs one delivery of a job message: the job's Run, or its
// Finalize when the message carries the finalize phase.
func (r *Runner) handleJob(ctx context.Context, h Handler, m *broker.Msg) broker.Outcome {
	msg, err := jobs.DecodeMessage(m.Data())
	if err != nil {
		r.log.ErrorContext(ctx, "malformed job message; terminating it", "msg_id", m.ID(), "error", err)
		return broker.Term(err.Error())
	}
	p := phaseRun
	if m.Headers().Get(jobs.PhaseHeader) == jobs.PhaseFinalize {
		p = phaseFinalize
	}
	log := r.log.With("job_id", msg.JobID, "kind", h.Kind(), "phase", p.String(), "delivery", m.NumDelivered())

	j, err := r.deps.Jobs.Get(ctx, msg.JobID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.WarnContext(ctx, "message for a job that does not exist (expired?); terminating it")
		return broker.Term("job not found")
	case err != nil:
		log.WarnContext(ctx, "read job; retrying", "error", err)
		return broker.Nak(0, err.Error())
	case j.State.Terminal():
		log.DebugContext(ctx, "job already finished; nothing to do", "state", j.State)
		return broker.Ack()
	case j.Kind != h.Kind():
		log.ErrorContext(ctx, "job message on the subject of another kind; terminating it", "job_kind", j.Kind)
		return broker.Term(fmt.Sprintf("job of kind %s on the subject of %s", j.Kind, h.Kind()))
	}
	th, isTasks := h.(TaskHandler)
	if p == phaseFinalize && !isTasks {
		log.ErrorContext(ctx, "finalize message for a kind whose handler does not fan out; terminating it")
		return broker.Term("handler has no Finalize")
	}
	// A canceled job does not run. Its finalize does: the handler sees the
	// cancellation and clears its working state, or finds that the job's
	// work was committed before the cancellation came, and completes it.
	if j.CancelRequested && p == phaseRun {
		if err := r.cancelJob(ctx, j.ID, jobs.Progress{}); err != nil && !errors.Is(err, store.ErrJobCommitting) {
			log.WarnContext(ctx, "cancel job; retrying", "error", err)
			return broker.Nak(0, err.Error())
		}
		return broker.Ack()
	}
	j, err = r.begin(ctx, j.ID, p, m.StreamSeq(), m.NumDelivered() == 1)
	switch {
	case errors.Is(err, store.ErrJobFinished):
		return broker.Ack()
	case errors.Is(err, errOtherMessage):
		// A second message for the same job, published again after the
		// stream's duplicate window (see Requeue): the first one runs it.
		log.WarnContext(ctx, "second message for a job that another message began; dropping it", "state", j.State)
		return broker.Ack()
	case err != nil:
		log.WarnContext(ctx, "start job; retrying", "error", err)
		return broker.Nak(0, err.Error())
	}
	if p == phaseRun {
		r.publishEvent(ctx, j, jobs.EventStarted, nil)
	}
	log.InfoContext(ctx, "job started", "attempt", j.Attempts)

	rt := r.newRun(j, p, nil, m.NumDelivered())
	if p == phaseFinalize {
		if rt.wave, err = finalizeWave(m); err != nil {
			log.ErrorContext(ctx, "finalize message with a malformed wave; terminating it", "error", err)
			return broker.Term(err.Error())
		}
	}
	rt.startFlusher(ctx)
	defer rt.endFlusher()
	herr := protect(rt, func() error {
		if p == phaseFinalize {
			return th.Finalize(ctx, rt)
		}
		return h.Run(ctx, rt)
	})
	rt.endFlusher()
	return r.settleJob(ctx, rt, m, herr)
}

// protect calls fn, turning a panic into a (retryable) error.
func protect(rt *Run, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			rt.log.Error("handler panicked", "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", v)
		}
	}()
	return fn()
}

// settleJob maps the result of a job's Run or Finalize to the job's state
// and its message's outcome.
func (r *Runner) settleJob(ctx context.Context, rt *Run, m *broker.Msg, herr error) broker.Outcome {
	completed, fannedOut := rt.state()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	id := rt.job.ID
	switch {
	case completed:
		return broker.Ack()
	case herr == nil && fannedOut:
		if err := rt.flush(sctx); err != nil && !errors.Is(err, store.ErrJobFinished) {
			rt.log.WarnContext(ctx, "save progress", "error", err)
		}
		return broker.Ack()
	case ctx.Err() != nil && !verdict(herr):
		return r.interrupted(sctx, rt, m, herr, "")
	case herr == nil:
		_, err := r.finish(sctx, id, ending{state: jobs.StateCompleted, delta: rt.pending()})
		return r.settled(sctx, rt, err, broker.Ack())
	case errors.Is(herr, store.ErrJobFinished):
		return broker.Ack()
	case errors.Is(herr, ErrCanceled):
		err := r.cancelJob(sctx, id, rt.pending())
		if errors.Is(err, store.ErrJobCommitting) && rt.phase == phaseRun {
			// A Run delivered again while the job's Finalize commits:
			// the Finalize decides how the job ends.
			return broker.Ack()
		}
		return r.settled(sctx, rt, err, broker.Ack())
	case IsPermanent(herr):
		_, err := r.finish(sctx, id, ending{state: jobs.StateFailed, err: herr.Error(), delta: rt.pending()})
		return r.settled(sctx, rt, err, broker.Term(herr.Error()))
	default:
		return r.retryOrFail(sctx, rt, m, herr, "")
	}
}

// verdict reports whether herr, a handler's result, decides its job's
// fate even when the worker is stopping: the job was canceled, or failed
// for good, for reasons of its own rather than the shutdown's. The handler
// may have dropped its working state on such a result, so the job must not
// be redelivered as if interrupted.
func verdict(herr error) bool {
	if herr == nil || errors.Is(herr, context.Canceled) || errors.Is(herr, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(herr, ErrCanceled) || IsPermanent(herr)
}

// settled returns out once the state change it follows succeeded (or
// found the job finished already), and a nak to try again otherwise.
func (r *Runner) settled(ctx context.Context, rt *Run, err error, out broker.Outcome) broker.Outcome {
	if err == nil || errors.Is(err, store.ErrJobFinished) {
		return out
	}
	rt.log.WarnContext(ctx, "save job state; retrying", "error", err)
	return broker.Nak(0, err.Error())
}

// retryOrFail handles a retryable error: the message is nak'd for a retry
// with backoff, or, on its last allowed delivery, the job is FAILED and
// the message terminated. what names the failed part ("task x: ") in the
// job's error.
func (r *Runner) retryOrFail(ctx context.Context, rt *Run, m *broker.Msg, herr error, what string) broker.Outcome {
	if m.LastDelivery() {
		msg := fmt.Sprintf("%sgave up after %d attempts: %v", what, m.NumDelivered(), herr)
		_, err := r.finish(ctx, rt.job.ID, ending{state: jobs.StateFailed, err: msg, delta: rt.pending()})
		return r.settled(ctx, rt, err, broker.Term(msg))
	}
	if err := rt.flush(ctx); err != nil && !errors.Is(err, store.ErrJobFinished) {
		rt.log.WarnContext(ctx, "save progress", "error", err)
	}
	rt.log.WarnContext(ctx, "attempt failed; retrying with backoff", "error", herr)
	r.publishEvent(ctx, rt.Job(), EventRetrying, func(ev *jobs.Event) {
		ev.Error = what + herr.Error()
		ev.Attempt = int(m.NumDelivered())
		rt.editEvent(ev)
	})
	return broker.Nak(0, herr.Error())
}

// interrupted handles an execution cut short by the worker's shutdown
// (its grace ran out): the message goes back for another worker, leaving
// the job as it is — unless this was its last allowed delivery, which
// fails the job since no worker will get it again.
func (r *Runner) interrupted(ctx context.Context, rt *Run, m *broker.Msg, herr error, what string) broker.Outcome {
	if m.LastDelivery() {
		msg := fmt.Sprintf("%sgave up after %d attempts: the last one was interrupted by a worker shutdown", what, m.NumDelivered())
		_, err := r.finish(ctx, rt.job.ID, ending{state: jobs.StateFailed, err: msg, delta: rt.pending()})
		return r.settled(ctx, rt, err, broker.Term(msg))
	}
	rt.log.WarnContext(ctx, "interrupted by shutdown; it will be redelivered", "error", herr)
	return broker.Nak(0, "worker stopped")
}
