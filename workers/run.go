package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
)

// maxTaskIDBytes bounds a Task's ID, so that "<job-id>.<task-id>" is a
// valid message id.
const maxTaskIDBytes = 200

// Errors of Run's methods.
var (
	// ErrWrongPhase reports a Run method called where it does not apply:
	// FanOut outside a job's Run, Complete or Checkpoint in a task.
	ErrWrongPhase = fmt.Errorf("%w: not allowed in this phase of the job", store.ErrPrecondition)
	// ErrInvalidTask reports a Task FanOut cannot publish (empty, too
	// long or duplicate id).
	ErrInvalidTask = fmt.Errorf("%w task", store.ErrInvalid)
	// ErrPlanChanged reports a redelivered job whose FanOut was given a
	// different number of tasks than the first time: save the plan with
	// Checkpoint and fan out the same tasks again.
	ErrPlanChanged = fmt.Errorf("fan-out differs from the recorded one: %w", store.ErrConflict)
)

// phase is what a Run executes.
type phase uint8

const (
	phaseRun      phase = iota // the job's Run
	phaseFinalize              // the job's Finalize, after its tasks
	phaseTask                  // one task's RunTask
)

func (p phase) String() string {
	switch p {
	case phaseFinalize:
		return "finalize"
	case phaseTask:
		return "task"
	}
	return "run"
}

// Run is one execution of a job (or of one of its tasks) by a worker. Its
// methods are safe for concurrent use by the handler's goroutines.
type Run struct {
	r     *Runner
	phase phase
	task  *taskMessage // phaseTask only
	wave  int          // see Wave
	log   *slog.Logger

	mu        sync.Mutex
	job       jobs.Job
	view      jobs.Progress // what Progress's callers see
	saved     jobs.Progress // the part of view already added to the job's record
	completed bool
	fannedOut bool
	canceled  bool
	checkedAt time.Time

	// flushMu serializes saves, so that one Run's progress events go out
	// in the order of its saves.
	flushMu     sync.Mutex
	stopFlusher func()
	flusherDone chan struct{}
}

// newRun returns a Run of j in phase p. A job's Run and Finalize see the
// job's progress and change it; a task sees counts of its own, which are
// added to the job's.
func (r *Runner) newRun(j *jobs.Job, p phase, tm *taskMessage, delivery uint64) *Run {
	log := r.log.With("job_id", j.ID, "kind", j.Kind, "repository", j.Repo, "phase", p.String(), "delivery", delivery)
	if tm != nil {
		log = log.With("task_id", tm.TaskID)
	}
	rt := &Run{r: r, phase: p, task: tm, log: log, job: *j}
	if tm != nil {
		rt.wave = tm.Wave
	}
	if p != phaseTask {
		rt.view, rt.saved = j.Progress, j.Progress
	}
	return rt
}

// Job returns the job as it was when this execution started (with its
// Checkpoint as last saved by Checkpoint). The caller must not modify it.
func (rt *Run) Job() *jobs.Job {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	j := rt.job
	return &j
}

// Graph returns the versioned store of the runner's Deps (nil if none).
func (rt *Run) Graph() *graph.Graph { return rt.r.deps.Graph }

// Logger returns a logger that names the job, its kind, repository, phase
// and (for a task) the task.
func (rt *Run) Logger() *slog.Logger { return rt.log }

// Progress applies fn to an in-memory copy of the progress counters. The
// runner saves the change to the job's record and publishes it as a
// "progress" event at most once per Config.ProgressInterval, and when the
// execution ends. In a job's Run and Finalize the copy starts from the
// job's saved progress; in a task it starts from zero and what the task
// counts is added to the job's counters. Tasks and TasksOK are kept by the
// runner. fn runs under a lock: keep it short. ctx is not used for saving,
// which happens in the background.
func (rt *Run) Progress(ctx context.Context, fn func(p *jobs.Progress)) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	p := rt.view
	fn(&p)
	p.Tasks, p.TasksOK = rt.view.Tasks, rt.view.TasksOK
	rt.view = p
}

// pending returns the progress not saved yet.
func (rt *Run) pending() jobs.Progress {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return subProgress(rt.view, rt.saved)
}

// markSaved records that delta was added to the job's record.
func (rt *Run) markSaved(delta jobs.Progress) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.saved = addProgress(rt.saved, delta)
}

// flush adds the unsaved progress to the job's record and publishes a
// progress event. A job that has ended meanwhile makes Canceled true.
func (rt *Run) flush(ctx context.Context) error {
	rt.flushMu.Lock()
	defer rt.flushMu.Unlock()
	delta := rt.pending()
	if delta == (jobs.Progress{}) {
		return nil
	}
	j, err := rt.r.deps.Jobs.Update(ctx, rt.job.ID, func(j *jobs.Job) error {
		j.Progress = addProgress(j.Progress, delta)
		return nil
	})
	if errors.Is(err, store.ErrJobFinished) {
		rt.mu.Lock()
		rt.canceled = true
		rt.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	rt.markSaved(delta)
	rt.r.publishEvent(ctx, j, jobs.EventProgress, rt.editEvent)
	return nil
}

// editEvent adds the task's id to events of a task run.
func (rt *Run) editEvent(ev *jobs.Event) {
	if rt.task != nil {
		ev.TaskID = rt.task.TaskID
	}
}

// startFlusher saves progress every Config.ProgressInterval until
// endFlusher or the end of ctx. A save under way is never cut short: a
// save whose answer is lost might have been applied, and saving the same
// progress again would count it twice.
func (rt *Run) startFlusher(ctx context.Context) {
	stop := make(chan struct{})
	rt.flusherDone = make(chan struct{})
	rt.stopFlusher = sync.OnceFunc(func() { close(stop) })
	go func() {
		defer close(rt.flusherDone)
		t := time.NewTicker(rt.r.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case <-t.C:
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
				err := rt.flush(fctx)
				cancel()
				if err != nil && !errors.Is(err, store.ErrJobFinished) {
					rt.log.WarnContext(ctx, "save progress; retrying at the next interval", "error", err)
				}
			}
		}
	}()
}

// flushTimeout bounds one background save of progress.
const flushTimeout = 10 * time.Second

// endFlusher stops the background saves and waits for the one under way.
// It is idempotent.
func (rt *Run) endFlusher() {
	if rt.stopFlusher != nil {
		rt.stopFlusher()
		<-rt.flusherDone
		rt.stopFlusher = nil
	}
}

// Canceled reports whether the job should stop: its cancellation was
// requested, or it ended meanwhile (another task failed it). It re-reads
// the job at most once per Config.CancelCheckInterval; once true it stays
// true. A handler checks it between units of work and then returns
// ErrCanceled, having committed nothing.
func (rt *Run) Canceled(ctx context.Context) bool {
	rt.mu.Lock()
	if rt.canceled {
		rt.mu.Unlock()
		return true
	}
	if !rt.checkedAt.IsZero() && time.Since(rt.checkedAt) < rt.r.cfg.CancelCheckInterval {
		rt.mu.Unlock()
		return false
	}
	rt.checkedAt = time.Now()
	rt.mu.Unlock()

	j, err := rt.r.deps.Jobs.Get(ctx, rt.job.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			rt.setCanceled()
			return true
		}
		if ctx.Err() == nil {
			rt.log.WarnContext(ctx, "check for cancellation", "error", err)
		}
		return false
	}
	if j.CancelRequested || j.State.Terminal() {
		rt.setCanceled()
		return true
	}
	return false
}

// BeginCommit is called by a job's Run or Finalize right before the change
// that makes its result visible (an import's branch commit), and again
// before each retry of it. It fails with ErrCanceled when the job's
// cancellation was requested, or it has ended, reading the job afresh.
// Otherwise it marks the job as committing: from then on no cancellation
// is taken (the API answers 409), and no other task or delivery of the job
// can move it to CANCELED, so the job ends COMPLETED or FAILED whatever
// the outcome of the change. A job's outcome after a failed commit is left
// to its retries, which must find out whether the change was made (as an
// import looks for its commit). Not allowed in a task.
func (rt *Run) BeginCommit(ctx context.Context) error {
	if rt.phase == phaseTask {
		return fmt.Errorf("BeginCommit in a task: %w", ErrWrongPhase)
	}
	_, err := rt.r.deps.Jobs.Update(ctx, rt.job.ID, func(j *jobs.Job) error {
		if j.CancelRequested {
			return ErrCanceled
		}
		if j.Committing {
			return jobs.ErrKeep
		}
		j.Committing = true
		return nil
	})
	switch {
	case errors.Is(err, ErrCanceled), errors.Is(err, store.ErrJobFinished), errors.Is(err, store.ErrNotFound):
		rt.setCanceled()
		return ErrCanceled
	case err != nil:
		return fmt.Errorf("mark job %s committing: %w", rt.job.ID, err)
	}
	return nil
}

func (rt *Run) setCanceled() {
	rt.mu.Lock()
	rt.canceled = true
	rt.mu.Unlock()
}

// Checkpoint saves v, as JSON, as the job's checkpoint: a redelivered job
// finds it in Job().Checkpoint and resumes from it. Tasks have no
// checkpoint of their own (they are redone whole): in a task it fails with
// ErrWrongPhase.
func (rt *Run) Checkpoint(ctx context.Context, v any) error {
	if rt.phase == phaseTask {
		return fmt.Errorf("checkpoint: %w", ErrWrongPhase)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := rt.r.deps.Jobs.Update(ctx, rt.job.ID, func(j *jobs.Job) error {
		j.Checkpoint = raw
		return nil
	}); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	rt.mu.Lock()
	rt.job.Checkpoint = raw
	rt.mu.Unlock()
	return nil
}

// FanOut publishes tasks to lakeq.tasks.<kind>, each with message id
// "<job-id>.<task-id>", and records their number in the job's progress
// (Tasks). The handler's Run then returns nil: the job stays IN_PROGRESS
// until its tasks are done, and the runner then calls Finalize. FanOut
// with no tasks asks for Finalize at once.
//
// Called from a job's Run, FanOut starts wave 0; called from Finalize, it
// starts the next wave (Wave()+1): its tasks run only now that every task
// of the earlier waves is done, and once they are all done the runner
// calls Finalize again, whose Wave() is then the new wave. Task ids must
// be unique across a job's waves.
//
// FanOut is idempotent on redelivery when given the same tasks (tasks
// already published within the broker's duplicate window are not stored
// again; a task run twice is recorded once). A redelivered job that fans
// out a different number of tasks for the same wave fails with
// ErrPlanChanged: save the plan with Checkpoint before fanning out.
// Allowed in a job's Run and Finalize, not in a task.
func (rt *Run) FanOut(ctx context.Context, tasks []Task) error {
	wave := 0
	switch rt.phase {
	case phaseRun:
	case phaseFinalize:
		wave = rt.wave + 1
	default:
		return fmt.Errorf("fan out: %w", ErrWrongPhase)
	}
	if err := validateTasks(tasks); err != nil {
		return Permanent(err)
	}
	j := rt.Job()
	n := int64(len(tasks))
	saved, err := rt.r.deps.Jobs.Update(ctx, j.ID, func(j *jobs.Job) error {
		switch {
		case len(j.Waves) > wave && j.Waves[wave] == n:
			return jobs.ErrKeep
		case len(j.Waves) > wave:
			return Permanent(fmt.Errorf("job %s fanned out wave %d into %d tasks before, now %d: %w", j.ID, wave, j.Waves[wave], n, ErrPlanChanged))
		case len(j.Waves) < wave:
			return Permanent(fmt.Errorf("job %s fans out wave %d after %d waves: %w", j.ID, wave, len(j.Waves), ErrPlanChanged))
		}
		j.Waves = append(j.Waves, n)
		j.Progress.Tasks += n
		return nil
	})
	if err != nil {
		return fmt.Errorf("fan out: %w", err)
	}
	if len(tasks) == 0 {
		if err := rt.r.publishFinalize(ctx, j.Kind, j.ID, wave); err != nil {
			return err
		}
		rt.mu.Lock()
		rt.fannedOut = true
		rt.mu.Unlock()
		return nil
	}
	rt.mu.Lock()
	rt.view.Tasks, rt.saved.Tasks = saved.Progress.Tasks, saved.Progress.Tasks
	rt.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rt.r.cfg.PublishConcurrency)
	for i, t := range tasks {
		g.Go(func() error {
			data, err := json.Marshal(taskMessage{JobID: j.ID, TaskID: t.ID, Index: i, Total: len(tasks), Wave: wave, Payload: t.Payload})
			if err != nil {
				return Permanent(fmt.Errorf("task %s: %w", t.ID, err))
			}
			if _, err := rt.r.deps.Broker.PublishTask(gctx, string(j.Kind), string(j.ID)+"."+t.ID, data); err != nil {
				return fmt.Errorf("fan out: task %s: %w", t.ID, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	rt.mu.Lock()
	rt.fannedOut = true
	rt.mu.Unlock()
	rt.log.InfoContext(ctx, "job fanned out", "tasks", n, "wave", wave)
	rt.r.publishEvent(ctx, saved, jobs.EventProgress, nil)
	return nil
}

// validateTasks checks the ids of tasks.
func validateTasks(tasks []Task) error {
	seen := make(map[string]bool, len(tasks))
	for i, t := range tasks {
		if t.ID == "" || len(t.ID) > maxTaskIDBytes {
			return fmt.Errorf("%w %d: id %q: want 1-%d bytes", ErrInvalidTask, i, t.ID, maxTaskIDBytes)
		}
		for j := 0; j < len(t.ID); j++ {
			if c := t.ID[j]; c <= ' ' || c >= 0x7f {
				return fmt.Errorf("%w %d: id %q: printable ASCII without spaces only", ErrInvalidTask, i, t.ID)
			}
		}
		if seen[t.ID] {
			return fmt.Errorf("%w: id %q used twice", ErrInvalidTask, t.ID)
		}
		seen[t.ID] = true
	}
	return nil
}

// Complete marks the job COMPLETED with result (encoded as JSON; nil for
// none), saving the progress not saved yet, and publishes the "completed"
// event. When the job has ended meanwhile (it was canceled, or another
// worker finished it), it fails with an error wrapping
// store.ErrJobFinished and changes nothing; the handler returns that error
// and the runner acks. Allowed in a job's Run and Finalize, not in a task.
func (rt *Run) Complete(ctx context.Context, result any) error {
	if rt.phase == phaseTask {
		return fmt.Errorf("complete: %w", ErrWrongPhase)
	}
	var raw json.RawMessage
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return fmt.Errorf("complete: encode result: %w", err)
		}
		raw = b
	}
	rt.flushMu.Lock()
	defer rt.flushMu.Unlock()
	delta := rt.pending()
	if _, err := rt.r.finish(ctx, rt.job.ID, ending{state: jobs.StateCompleted, result: raw, delta: delta}); err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	rt.markSaved(delta)
	rt.mu.Lock()
	rt.completed = true
	rt.mu.Unlock()
	return nil
}

// Event publishes an event of type typ for the job, with data (encoded as
// JSON) as its "data". Events are best effort: a failure is logged.
func (rt *Run) Event(ctx context.Context, typ string, data any) {
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			rt.log.ErrorContext(ctx, "encode event data", "type", typ, "error", err)
			return
		}
		raw = b
	}
	j := rt.Job()
	if rt.phase != phaseTask {
		rt.mu.Lock()
		j.Progress = rt.view
		rt.mu.Unlock()
	}
	rt.r.publishEvent(ctx, j, jobs.EventType(typ), func(ev *jobs.Event) {
		ev.Data = raw
		rt.editEvent(ev)
	})
}

// state reports whether the execution completed the job or fanned it out.
func (rt *Run) state() (completed, fannedOut bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.completed, rt.fannedOut
}

// publishFinalize publishes the message that finalizes job id after its
// tasks of wave: on lakeq.jobs.<kind>, with the header Lakeq-Phase:
// finalize (and Lakeq-Wave after wave 0) and the message id
// jobs.FinalizeMsgID, so that it is stored once however many workers
// publish it within the broker's duplicate window.
func (r *Runner) publishFinalize(ctx context.Context, kind jobs.Kind, id store.JobID, wave int) error {
	subject, err := broker.JobSubject(string(kind))
	if err != nil {
		return Permanent(fmt.Errorf("publish finalize of job %s: %w", id, err))
	}
	msg := nats.NewMsg(subject)
	msg.Header.Set(jobs.PhaseHeader, jobs.PhaseFinalize)
	if wave > 0 {
		msg.Header.Set(jobs.WaveHeader, strconv.Itoa(wave))
	}
	msg.Data = jobs.EncodeMessage(id)
	if _, err := r.deps.Broker.JetStream().PublishMsg(ctx, msg,
		jetstream.WithMsgID(jobs.FinalizeMsgID(id, wave)),
		jetstream.WithExpectStream(broker.StreamJobs)); err != nil {
		return fmt.Errorf("publish finalize of job %s: %w", id, err)
	}
	return nil
}
