package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// eventsInactiveThreshold is how long the server keeps an event reader's
// consumer after the reader stops asking for events.
const eventsInactiveThreshold = 30 * time.Second

// DeliverFrom says where in LAKEQ_EVENTS an EventStream starts. Build one
// with FromFirst, FromNew, FromSequence or FromTime.
type DeliverFrom struct {
	policy jetstream.DeliverPolicy
	seq    uint64
	time   time.Time
}

// FromFirst starts at the first stored event that matches the filter (the
// default: the zero DeliverFrom).
func FromFirst() DeliverFrom { return DeliverFrom{policy: jetstream.DeliverAllPolicy} }

// FromNew starts with the first event published after the subscription.
func FromNew() DeliverFrom { return DeliverFrom{policy: jetstream.DeliverNewPolicy} }

// FromSequence starts at stream sequence seq (an Event's Seq), inclusive:
// a reader that saw event n resumes with FromSequence(n+1).
func FromSequence(seq uint64) DeliverFrom {
	return DeliverFrom{policy: jetstream.DeliverByStartSequencePolicy, seq: seq}
}

// FromTime starts at the first event stored at or after t.
func FromTime(t time.Time) DeliverFrom {
	return DeliverFrom{policy: jetstream.DeliverByStartTimePolicy, time: t}
}

// Event is one message of LAKEQ_EVENTS.
type Event struct {
	// Subject is lakeq.events.<repo>.<kind>.<job-id>.
	Subject string
	// Data is the event payload.
	Data []byte
	// Headers are the message headers (nil if none).
	Headers nats.Header
	// Seq is the event's stream sequence, for resuming with FromSequence.
	Seq uint64
	// Time is when the event was stored.
	Time time.Time
}

// EventStream reads events in stream order: first the stored ones from its
// start point, then new ones as they are published. It survives reconnects
// without losing or repeating events. It is for one reader goroutine.
type EventStream struct {
	it jetstream.MessagesContext
}

// SubscribeEvents opens an EventStream over the events matching filter (an
// event subject, or a filter as EventFilter builds or ValidateEventFilter
// accepts) from the start point from. Stop it when done.
func (b *Broker) SubscribeEvents(ctx context.Context, filter string, from DeliverFrom) (*EventStream, error) {
	if err := ValidateEventFilter(filter); err != nil {
		return nil, fmt.Errorf("subscribe to events: %w", err)
	}
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{filter},
		DeliverPolicy:     from.policy,
		InactiveThreshold: eventsInactiveThreshold,
	}
	switch from.policy {
	case jetstream.DeliverByStartSequencePolicy:
		cfg.OptStartSeq = max(from.seq, 1)
	case jetstream.DeliverByStartTimePolicy:
		t := from.time
		cfg.OptStartTime = &t
	}
	cons, err := b.js.OrderedConsumer(ctx, StreamEvents, cfg)
	if err != nil {
		return nil, fmt.Errorf("subscribe to events %s: %w", filter, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("subscribe to events %s: %w", filter, err)
	}
	return &EventStream{it: it}, nil
}

// Next returns the next event, waiting for one to be published as long as
// ctx allows (then it returns ctx's error). After Stop it returns
// ErrStopped.
func (s *EventStream) Next(ctx context.Context) (Event, error) {
	msg, err := s.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return Event{}, fmt.Errorf("next event: %w", ErrStopped)
		}
		if ctx.Err() != nil {
			return Event{}, fmt.Errorf("next event: %w", ctx.Err())
		}
		return Event{}, fmt.Errorf("next event: %w", err)
	}
	ev := Event{Subject: msg.Subject(), Data: msg.Data(), Headers: msg.Headers()}
	if meta, err := msg.Metadata(); err == nil {
		ev.Seq = meta.Sequence.Stream
		ev.Time = meta.Timestamp
	}
	return ev, nil
}

// Stop ends the stream; a Next in progress returns ErrStopped. It is
// idempotent.
func (s *EventStream) Stop() { s.it.Stop() }
