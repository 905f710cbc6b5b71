package broker

import (
	"fmt"
	"time"
)

// Action is what a Consumer does with a message once its handler returns.
type Action uint8

const (
	// ActionAck acknowledges the message: it is done and leaves the queue.
	ActionAck Action = iota
	// ActionNak hands the message back for redelivery after a delay; on its
	// last allowed delivery (Config.MaxDeliver) it is left unsettled
	// instead, for the server's max-deliveries advisory.
	ActionNak
	// ActionTerm removes the message without redelivery: the work failed
	// for good.
	ActionTerm
)

// String returns "ack", "nak" or "term".
func (a Action) String() string {
	switch a {
	case ActionAck:
		return "ack"
	case ActionNak:
		return "nak"
	case ActionTerm:
		return "term"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Outcome is a handler's verdict on a message. The zero Outcome acks.
// Build one with Ack, Nak or Term.
type Outcome struct {
	// Action is what to do with the message.
	Action Action
	// Delay is how long a nak'd message waits before redelivery; zero means
	// the Config.Backoff step for the message's delivery count.
	Delay time.Duration
	// Reason says why a message is nak'd or terminated; a term's reason is
	// recorded in the server's termination advisory.
	Reason string
}

// Ack returns the Outcome of a message whose work is done and saved.
func Ack() Outcome { return Outcome{Action: ActionAck} }

// Nak returns the Outcome of a message to retry after delay (zero: the
// configured backoff step). reason is logged.
func Nak(delay time.Duration, reason string) Outcome {
	return Outcome{Action: ActionNak, Delay: delay, Reason: reason}
}

// Term returns the Outcome of a message that must never be redelivered.
func Term(reason string) Outcome { return Outcome{Action: ActionTerm, Reason: reason} }

// String describes o for logs.
func (o Outcome) String() string {
	s := o.Action.String()
	if o.Action == ActionNak && o.Delay > 0 {
		s += " after " + o.Delay.String()
	}
	if o.Reason != "" {
		s += ": " + o.Reason
	}
	return s
}
