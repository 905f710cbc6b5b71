// Package workers runs lakeq's jobs: the Runner consumes job and task
// messages from NATS JetStream (package broker), keeps each job's state in
// the metadata KV (store/jobs) and calls the Handler registered for the
// job's kind. Handlers live in sub-packages (workers/importer, …).
//
// The Runner is the one place that maps a handler's result to the fate of
// its message:
//
//   - nil: the message is acked once the job's state is saved (COMPLETED,
//     or IN_PROGRESS waiting for its tasks after a fan-out);
//   - Permanent(err): the job is FAILED and the message terminated;
//   - ErrCanceled: the job is CANCELED (it commits nothing) and the
//     message acked;
//   - any other error: the message is nak'd and redelivered with the
//     broker's backoff, and on its last allowed delivery the job is FAILED.
//
// A message for a job that is already finished is acked without calling
// the handler, so a redelivered finished job is a no-op. While a handler
// runs, the broker keeps its message alive with in-progress heartbeats;
// progress is saved to the KV and published as an event at most once per
// Config.ProgressInterval.
//
// A large job fans out: its Run publishes tasks (lakeq.tasks.<kind>), which
// any worker serving the kind runs. Each finished task is recorded exactly
// once in the job's task ledger (jobs.Store.MarkTaskDone); the task that
// completes the ledger publishes the job's finalize message, and the
// worker that receives it calls the handler's Finalize.
//
// Cancellation is taken until a job begins committing its result: the
// handler calls Run.BeginCommit right before the change that makes it
// visible (an import's branch commit), which fails with ErrCanceled when
// a cancellation came first and otherwise marks the job committing. From
// then on a cancel request is refused and no task or redelivery of the job
// can move it to CANCELED, so a job whose result is visible never ends
// CANCELED.
//
// Events go to lakeq.events.<repo>.<kind>.<job-id> as JSON jobs.Event
// payloads (see README.md, "Events").
package workers
