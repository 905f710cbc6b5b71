package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// dispatch runs the message's handler in a goroutine the Consumer waits for
// on Stop; the goroutine frees the message's slot when it is done.
func (c *Consumer) dispatch(ctx context.Context, raw jetstream.Msg) {
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		defer c.release(1)
		c.handle(ctx, raw)
	}()
}

// handle runs the handler with heartbeats, then settles the message.
func (c *Consumer) handle(ctx context.Context, raw jetstream.Msg) {
	meta, err := raw.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing sensible can be done with it.
		c.log.ErrorContext(ctx, "message without delivery metadata; terminating", "subject", raw.Subject(), "error", err)
		if err := raw.TermWithReason("no delivery metadata"); err != nil {
			c.log.WarnContext(ctx, "terminate message", "subject", raw.Subject(), "error", err)
		}
		return
	}
	m := &Msg{raw: raw, meta: meta, kind: c.cfg.Kind, maxDeliver: c.b.cfg.MaxDeliver}

	hbCtx, stopHeartbeats := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		c.heartbeat(hbCtx, m)
	}()
	out := c.invoke(ctx, m)
	stopHeartbeats()
	<-hbDone

	c.settle(ctx, m, out)
}

// heartbeat tells the server every AckWait/3 that m is still being worked
// on, until ctx is done.
func (c *Consumer) heartbeat(ctx context.Context, m *Msg) {
	t := time.NewTicker(c.b.cfg.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.raw.InProgress(); err != nil {
				c.log.WarnContext(ctx, "send in-progress heartbeat", "msg_id", m.ID(), "stream_seq", m.StreamSeq(), "error", err)
			}
		}
	}
}

// invoke calls the handler, turning a panic into a nak.
func (c *Consumer) invoke(ctx context.Context, m *Msg) (out Outcome) {
	defer func() {
		if r := recover(); r != nil {
			c.log.ErrorContext(ctx, "handler panicked", "msg_id", m.ID(), "stream_seq", m.StreamSeq(),
				"delivered", m.NumDelivered(), "panic", r, "stack", string(debug.Stack()))
			out = Nak(0, fmt.Sprintf("handler panicked: %v", r))
		}
	}()
	return c.cfg.Handler(ctx, m)
}

// settle carries out the Outcome. An ack waits for the server's
// confirmation, so the slot it frees is really free; a failed settle is
// logged and the message comes back after the ack wait.
func (c *Consumer) settle(ctx context.Context, m *Msg, out Outcome) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.b.cfg.AckWait)
	defer cancel()
	log := c.log.With("msg_id", m.ID(), "stream_seq", m.StreamSeq(), "delivered", m.NumDelivered())
	var err error
	switch out.Action {
	case ActionAck:
		err = m.raw.DoubleAck(ctx)
	case ActionTerm:
		reason := out.Reason
		if reason == "" {
			reason = "terminated by handler"
		}
		log.InfoContext(ctx, "message terminated", "reason", reason)
		err = m.raw.TermWithReason(reason)
	case ActionNak:
		if m.LastDelivery() {
			// Left unsettled: once its ack wait has passed, the server
			// gives the message up with a max-deliveries advisory, which
			// whoever owns the work (a runner fails the job) acts on. A
			// term would end it silently: the handler asking to retry
			// has not recorded an end of its own.
			log.WarnContext(ctx, "message reached max deliveries; left to the max-deliveries advisory",
				"max_deliver", c.b.cfg.MaxDeliver, "reason", out.Reason)
			return
		}
		delay := out.Delay
		if delay <= 0 {
			delay = c.b.cfg.backoff(m.NumDelivered())
		}
		log.DebugContext(ctx, "message nak'd", "delay", delay, "reason", out.Reason)
		err = m.raw.NakWithDelay(c.b.cfg.nakDelay(m.NumDelivered(), delay))
	default:
		log.ErrorContext(ctx, "handler returned an unknown action; retrying the message", "action", out.Action.String())
		n := m.NumDelivered()
		err = m.raw.NakWithDelay(c.b.cfg.nakDelay(n, c.b.cfg.backoff(n)))
	}
	if err != nil {
		log.WarnContext(ctx, "settle message failed; it will be redelivered after the ack wait", "outcome", out.String(), "error", err)
	}
}

// maxDeliveriesEvent is the part of the server's max-deliveries advisory
// that lakeq logs.
type maxDeliveriesEvent struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// onMaxDeliveries logs a message whose last delivery was never settled (its
// worker died or lost the connection, or its handler asked to retry it):
// the server will not deliver it again and it stays in the stream for an
// operator to inspect.
func (c *Consumer) onMaxDeliveries(msg *nats.Msg) {
	var ev maxDeliveriesEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		c.log.Error("malformed max-deliveries advisory", "error", err)
		return
	}
	c.log.Error("message ran out of deliveries without being settled; it stays in the stream",
		"stream", ev.Stream, "stream_seq", ev.StreamSeq, "deliveries", ev.Deliveries)
}
