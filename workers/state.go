package workers

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// EventRetrying is the type of the event published when an attempt failed
// with a retryable error and the job will run again.
const EventRetrying jobs.EventType = "retrying"

// eventPublishTimeout bounds publishing one event.
const eventPublishTimeout = 5 * time.Second

// errOtherMessage refuses a Run delivered by another message than the one
// that began the job.
var errOtherMessage = errors.New("job begun by another message")

// begin moves job id to IN_PROGRESS on this worker for phase p. For a Run
// it counts an attempt and records seq, the stream sequence of the job
// message, as the job's (jobs.Job.RunSeq); it fails with errOtherMessage
// when another message began the job (for a job begun before jobs recorded
// it: when first, this is the message's first delivery). A job being
// finalized has all its tasks done (the ledger says so), whatever the
// counter shown to users says. It fails with store.ErrJobFinished when
// the job has ended meanwhile.
func (r *Runner) begin(ctx context.Context, id store.JobID, p phase, seq uint64, first bool) (*jobs.Job, error) {
	return r.deps.Jobs.Update(ctx, id, func(j *jobs.Job) error {
		if p == phaseRun {
			switch {
			case j.RunSeq != 0 && j.RunSeq != seq:
				return errOtherMessage
			case j.RunSeq == 0 && j.State != jobs.StateSubmitted && first:
				// Begun before jobs recorded their message: a first
				// delivery is taken for another message's.
				return errOtherMessage
			}
			j.RunSeq = seq
			j.Attempts++
		}
		if p == phaseFinalize {
			j.Progress.TasksOK = j.Progress.Tasks
		}
		j.State = jobs.StateInProgress
		j.Worker = r.cfg.WorkerID
		return nil
	})
}

// ending describes how a job ends.
type ending struct {
	state  jobs.State
	err    string          // FAILED and CANCELED
	result json.RawMessage // COMPLETED
	delta  jobs.Progress   // progress not saved yet
}

// finish moves job id to its terminal state, adding the pending progress,
// and publishes the final event. It fails with store.ErrJobFinished when
// the job had ended already (nothing is published then).
func (r *Runner) finish(ctx context.Context, id store.JobID, e ending) (*jobs.Job, error) {
	j, err := r.deps.Jobs.Update(ctx, id, func(j *jobs.Job) error {
		if e.state == jobs.StateCanceled && j.Committing {
			return store.ErrJobCommitting
		}
		j.Progress = addProgress(j.Progress, e.delta)
		j.State = e.state
		j.Worker = r.cfg.WorkerID
		switch e.state {
		case jobs.StateCompleted:
			j.Result, j.Error = e.result, ""
			if j.Progress.Tasks > 0 {
				j.Progress.TasksOK = j.Progress.Tasks
			}
		default:
			j.Error = e.err
		}
		return nil
	})
	if err != nil {
		return j, err
	}
	r.publishEvent(ctx, j, jobs.FinalEventType(j.State), nil)
	logAttrs := []any{"job_id", j.ID, "kind", j.Kind, "repository", j.Repo, "state", j.State,
		"attempts", j.Attempts, "duration", j.FinishedAt.Sub(j.StartedAt)}
	if j.Error != "" {
		logAttrs = append(logAttrs, "error", j.Error)
	}
	r.log.InfoContext(ctx, "job finished", logAttrs...)
	return j, nil
}

// cancelJob moves job id to CANCELED (if it has not ended yet). It fails
// with store.ErrJobCommitting when the job has begun committing its result
// (Run.BeginCommit): the job's Finalize then decides how it ends.
func (r *Runner) cancelJob(ctx context.Context, id store.JobID, delta jobs.Progress) error {
	_, err := r.finish(ctx, id, ending{state: jobs.StateCanceled, err: "canceled on request", delta: delta})
	if errors.Is(err, store.ErrJobFinished) {
		return nil
	}
	return err
}

// publishEvent publishes an event of type typ about j on
// lakeq.events.<repo>.<kind>.<job-id>; edit, when set, completes it.
// Events are best effort: a failure is logged, not returned.
func (r *Runner) publishEvent(ctx context.Context, j *jobs.Job, typ jobs.EventType, edit func(*jobs.Event)) {
	ev := jobs.NewEvent(j, typ, r.cfg.Now())
	ev.Worker = r.cfg.WorkerID
	if edit != nil {
		edit(&ev)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		r.log.ErrorContext(ctx, "encode event", "job_id", j.ID, "type", typ, "error", err)
		return
	}
	subject, err := broker.EventSubject(j.Repo, string(j.Kind), j.ID)
	if err != nil {
		r.log.WarnContext(ctx, "no event subject for job", "job_id", j.ID, "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, eventPublishTimeout)
	defer cancel()
	if _, err := r.deps.Broker.PublishEvent(ctx, subject, data); err != nil {
		r.log.WarnContext(ctx, "publish event", "job_id", j.ID, "type", typ, "error", err)
	}
}

// addProgress returns p plus the counts of d.
func addProgress(p, d jobs.Progress) jobs.Progress {
	p.Done += d.Done
	p.Total += d.Total
	p.Bytes += d.Bytes
	p.Failed += d.Failed
	p.Tasks += d.Tasks
	p.TasksOK += d.TasksOK
	return p
}

// subProgress returns the counts of a minus those of b.
func subProgress(a, b jobs.Progress) jobs.Progress {
	return jobs.Progress{
		Done: a.Done - b.Done, Total: a.Total - b.Total, Bytes: a.Bytes - b.Bytes,
		Failed: a.Failed - b.Failed, Tasks: a.Tasks - b.Tasks, TasksOK: a.TasksOK - b.TasksOK,
	}
}
