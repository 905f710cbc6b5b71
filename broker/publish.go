package broker

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// Published is the server's receipt for a stored message.
type Published struct {
	// Stream is the stream that stored the message.
	Stream string
	// Seq is the message's sequence number in Stream.
	Seq uint64
	// Duplicate reports that a message with the same id was already stored
	// within the duplicate window; nothing new was stored and Seq is the
	// earlier message's.
	Duplicate bool
}

// PublishJob stores payload on lakeq.jobs.<kind> with id as its Nats-Msg-Id,
// and returns once the server has stored it. Publishing the same id again
// within Config.DuplicateWindow stores nothing and reports Duplicate, so a
// retried submission is not run twice.
func (b *Broker) PublishJob(ctx context.Context, kind string, id store.JobID, payload []byte) (Published, error) {
	subject, err := JobSubject(kind)
	if err != nil {
		return Published{}, fmt.Errorf("publish job %s: %w", id, err)
	}
	if err := validateToken("job id", string(id)); err != nil {
		return Published{}, fmt.Errorf("publish job: %w", err)
	}
	return b.publish(ctx, StreamJobs, subject, string(id), payload)
}

// QueueJob publishes job j's message (jobs.EncodeMessage) on the jobs
// stream, as PublishJob does; it is a jobs.Publish.
func (b *Broker) QueueJob(ctx context.Context, j *jobs.Job) error {
	_, err := b.PublishJob(ctx, string(j.Kind), j.ID, jobs.EncodeMessage(j.ID))
	return err
}

// PublishTask stores payload on lakeq.tasks.<kind> with taskID as its
// Nats-Msg-Id, with the same de-duplication as PublishJob. A task id is 1-256
// bytes of printable ASCII without spaces.
func (b *Broker) PublishTask(ctx context.Context, kind, taskID string, payload []byte) (Published, error) {
	subject, err := TaskSubject(kind)
	if err != nil {
		return Published{}, fmt.Errorf("publish task %s: %w", taskID, err)
	}
	if err := validateMsgID(taskID); err != nil {
		return Published{}, fmt.Errorf("publish task: %w", err)
	}
	return b.publish(ctx, StreamTasks, subject, taskID, payload)
}

// PublishEvent stores payload on subject, which must be a concrete event
// subject as EventSubject builds. Events are not de-duplicated.
func (b *Broker) PublishEvent(ctx context.Context, subject string, payload []byte) (Published, error) {
	if err := ValidateEventSubject(subject); err != nil {
		return Published{}, fmt.Errorf("publish event: %w", err)
	}
	return b.publish(ctx, StreamEvents, subject, "", payload)
}

func (b *Broker) publish(ctx context.Context, stream, subject, msgID string, payload []byte) (Published, error) {
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(stream)}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := b.js.Publish(ctx, subject, payload, opts...)
	if err != nil {
		return Published{}, fmt.Errorf("publish %s: %w", subject, err)
	}
	return Published{Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}
