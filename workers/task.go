package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// taskMessage is the payload of a task message on lakeq.tasks.<kind>.
type taskMessage struct {
	JobID   store.JobID     `json:"job_id"`
	TaskID  string          `json:"task_id"`
	Index   int             `json:"index"`
	Total   int             `json:"total"`
	Wave    int             `json:"wave,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// decodeTask parses and checks a task message.
func decodeTask(b []byte) (*taskMessage, error) {
	var tm taskMessage
	if err := json.Unmarshal(b, &tm); err != nil {
		return nil, fmt.Errorf("task message: %w", err)
	}
	if err := jobs.ValidateID(tm.JobID); err != nil {
		return nil, fmt.Errorf("task message: job id %q: %w", tm.JobID, err)
	}
	if tm.TaskID == "" || tm.Total <= 0 || tm.Index < 0 || tm.Index >= tm.Total || tm.Wave < 0 {
		return nil, fmt.Errorf("task message: task %q, index %d of %d: %w", tm.TaskID, tm.Index, tm.Total, store.ErrInvalidValue)
	}
	return &tm, nil
}

// handleTask runs one delivery of a task message.
func (r *Runner) handleTask(ctx context.Context, h Handler, th TaskHandler, m *broker.Msg) broker.Outcome {
	tm, err := decodeTask(m.Data())
	if err != nil {
		r.log.ErrorContext(ctx, "malformed task message; terminating it", "msg_id", m.ID(), "error", err)
		return broker.Term(err.Error())
	}
	log := r.log.With("job_id", tm.JobID, "kind", h.Kind(), "task_id", tm.TaskID, "delivery", m.NumDelivered())
	j, err := r.deps.Jobs.Get(ctx, tm.JobID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.WarnContext(ctx, "task of a job that does not exist (expired?); terminating it")
		return broker.Term("job not found")
	case err != nil:
		log.WarnContext(ctx, "read job; retrying", "error", err)
		return broker.Nak(0, err.Error())
	case j.State.Terminal():
		log.DebugContext(ctx, "job already finished; task skipped", "state", j.State)
		return broker.Ack()
	case j.Kind != h.Kind():
		log.ErrorContext(ctx, "task on the subject of another kind; terminating it", "job_kind", j.Kind)
		return broker.Term(fmt.Sprintf("task of a job of kind %s on the subject of %s", j.Kind, h.Kind()))
	case j.CancelRequested:
		if err := r.cancelJob(ctx, j.ID, jobs.Progress{}); err != nil && !errors.Is(err, store.ErrJobCommitting) {
			log.WarnContext(ctx, "cancel job; retrying", "error", err)
			return broker.Nak(0, err.Error())
		}
		return broker.Ack()
	}

	rt := r.newRun(j, phaseTask, tm, m.NumDelivered())
	if m.NumDelivered() > 1 {
		// A redelivered task may have been done by a worker that died
		// before acking: then only its bookkeeping is left to finish.
		done, err := r.deps.Jobs.TaskRecorded(ctx, tm.JobID, tm.Wave, tm.Index)
		if err != nil {
			log.WarnContext(ctx, "read task ledger; retrying", "error", err)
			return broker.Nak(0, err.Error())
		}
		if done {
			log.InfoContext(ctx, "redelivered task was done already; finishing its bookkeeping")
			return r.taskDone(ctx, rt)
		}
	}
	rt.startFlusher(ctx)
	defer rt.endFlusher()
	herr := protect(rt, func() error {
		return th.RunTask(ctx, rt, Task{ID: tm.TaskID, Payload: tm.Payload})
	})
	rt.endFlusher()
	return r.settleTask(ctx, rt, m, herr)
}

// settleTask maps a task's result to its job's state and its message's
// outcome. A finished task is recorded in the job's ledger; the task that
// completes the ledger publishes the job's finalize message.
func (r *Runner) settleTask(ctx context.Context, rt *Run, m *broker.Msg, herr error) broker.Outcome {
	what := fmt.Sprintf("task %s: ", rt.task.TaskID)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if herr != nil && ctx.Err() != nil && !verdict(herr) {
		return r.interrupted(sctx, rt, m, herr, what)
	}
	id := rt.job.ID
	switch {
	case herr == nil:
		return r.taskDone(sctx, rt)
	case errors.Is(herr, store.ErrJobFinished):
		return broker.Ack()
	case errors.Is(herr, ErrCanceled):
		err := r.cancelJob(sctx, id, rt.pending())
		if errors.Is(err, store.ErrJobCommitting) {
			// The job's Finalize is committing: it decides how the
			// job ends, and this task has nothing left to do.
			return broker.Ack()
		}
		return r.settled(sctx, rt, err, broker.Ack())
	case IsPermanent(herr):
		msg := what + herr.Error()
		_, err := r.finish(sctx, id, ending{state: jobs.StateFailed, err: msg, delta: rt.pending()})
		return r.settled(sctx, rt, err, broker.Term(msg))
	default:
		return r.retryOrFail(sctx, rt, m, herr, what)
	}
}

// taskDone saves a finished task's progress, records it in the job's task
// ledger and, when it completed the ledger (or finds it complete on a
// redelivery), publishes the job's finalize message.
func (r *Runner) taskDone(ctx context.Context, rt *Run) broker.Outcome {
	tm := rt.task
	if err := rt.flush(ctx); err != nil {
		if errors.Is(err, store.ErrJobFinished) {
			return broker.Ack()
		}
		rt.log.WarnContext(ctx, "save task progress; retrying the task", "error", err)
		return broker.Nak(0, err.Error())
	}
	tally, err := r.deps.Jobs.MarkWaveTaskDone(ctx, tm.JobID, tm.Wave, tm.Index, tm.Total)
	if err != nil {
		rt.log.WarnContext(ctx, "record finished task; retrying the task", "error", err)
		return broker.Nak(0, err.Error())
	}
	if tally.First {
		j, err := r.deps.Jobs.Update(ctx, tm.JobID, func(j *jobs.Job) error {
			if j.Progress.TasksOK < j.Progress.Tasks { // finalize may have set it already
				j.Progress.TasksOK++
			}
			return nil
		})
		switch {
		case err == nil:
			r.publishEvent(ctx, j, jobs.EventTaskDone, rt.editEvent)
		case errors.Is(err, store.ErrJobFinished):
			// Finalize completed the job while this task was being
			// counted: the task is still done once, and says so.
			r.publishEvent(ctx, j, jobs.EventTaskDone, rt.editEvent)
			return broker.Ack()
		default:
			// The ledger has the task; only the counter shown to users
			// lags (it is set right when the job completes).
			rt.log.WarnContext(ctx, "count finished task", "error", err)
		}
	}
	if tally.AllDone {
		if err := r.publishFinalize(ctx, rt.job.Kind, tm.JobID, tm.Wave); err != nil {
			rt.log.WarnContext(ctx, "publish finalize; retrying the task", "error", err)
			return broker.Nak(0, err.Error())
		}
		rt.log.InfoContext(ctx, "all tasks done; finalize requested", "tasks", tm.Total)
	}
	return broker.Ack()
}
