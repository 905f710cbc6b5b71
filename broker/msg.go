package broker

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Msg is one delivery of a job or task to a Handler. The Consumer settles it
// from the handler's Outcome; the handler only reads it.
type Msg struct {
	raw        jetstream.Msg
	meta       *jetstream.MsgMetadata
	kind       string
	maxDeliver int
}

// Data returns the message payload. The handler must not modify it.
func (m *Msg) Data() []byte { return m.raw.Data() }

// Subject returns the subject the message was published on.
func (m *Msg) Subject() string { return m.raw.Subject() }

// Kind returns the kind of work, the last token of Subject.
func (m *Msg) Kind() string { return m.kind }

// Headers returns the message headers (nil if it has none).
func (m *Msg) Headers() nats.Header { return m.raw.Headers() }

// ID returns the message's Nats-Msg-Id: the job or task id it was published
// with.
func (m *Msg) ID() string { return m.raw.Headers().Get(jetstream.MsgIDHeader) }

// NumDelivered returns how many times the message has been delivered,
// this delivery included (1 on the first).
func (m *Msg) NumDelivered() uint64 { return m.meta.NumDelivered }

// LastDelivery reports whether this is the last delivery Config.MaxDeliver
// allows: a Nak outcome now leaves the message to the max-deliveries
// advisory.
func (m *Msg) LastDelivery() bool { return m.meta.NumDelivered >= uint64(m.maxDeliver) }

// StreamSeq returns the message's sequence number in its stream.
func (m *Msg) StreamSeq() uint64 { return m.meta.Sequence.Stream }

// Published returns when the message was stored.
func (m *Msg) Published() time.Time { return m.meta.Timestamp }
