package broker

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lakeq/lakeq/store"
)

// terminations collects the reasons of the server's termination advisories
// for one durable consumer.
func terminations(t *testing.T, b *Broker, stream, durable string) <-chan string {
	t.Helper()
	ch := make(chan string, 16)
	sub, err := b.nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED."+stream+"."+durable, func(m *nats.Msg) {
		var adv struct {
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal(m.Data, &adv); err != nil {
			t.Errorf("advisory: %v", err)
			return
		}
		ch <- adv.Reason
	})
	if err != nil {
		t.Fatalf("subscribe to advisories: %v", err)
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

func waitReason(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no termination advisory")
		return ""
	}
}

// settled waits until the consumer has nothing pending or unacknowledged.
func settled(t *testing.T, c *Consumer) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	waitFor(t, 10*time.Second, "consumer to settle", func() bool {
		var err error
		info, err = c.Info(t.Context())
		if err != nil {
			t.Fatalf("consumer info: %v", err)
		}
		return info.NumPending == 0 && info.NumAckPending == 0
	})
	return info
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func TestNewConsumerValidates(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	ok := func(context.Context, *Msg) Outcome { return Ack() }
	tests := []struct {
		name string
		cfg  ConsumerConfig
	}{
		{"no queue", ConsumerConfig{Kind: "import", Handler: ok}},
		{"bad queue", ConsumerConfig{Queue: "events", Kind: "import", Handler: ok}},
		{"bad kind", ConsumerConfig{Queue: Jobs, Kind: "im.port", Handler: ok}},
		{"no handler", ConsumerConfig{Queue: Jobs, Kind: "import"}},
		{"negative concurrency", ConsumerConfig{Queue: Jobs, Kind: "import", Handler: ok, Concurrency: -1}},
		{"concurrency over max ack pending", ConsumerConfig{Queue: Jobs, Kind: "import", Handler: ok, Concurrency: DefaultMaxAckPending + 1}},
		{"fetch wait too short", ConsumerConfig{Queue: Jobs, Kind: "import", Handler: ok, FetchMaxWait: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.NewConsumer(tt.cfg); !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("NewConsumer = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestConsumerNeverFetchesMoreThanFreeSlots(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	const concurrency, jobs = 2, 10
	var inFlight, maxInFlight atomic.Int32
	rec := newRecord()
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "bounded", Concurrency: concurrency,
		Handler: func(ctx context.Context, m *Msg) Outcome {
			n := inFlight.Add(1)
			for {
				old := maxInFlight.Load()
				if n <= old || maxInFlight.CompareAndSwap(old, n) {
					break
				}
			}
			rec.saw(m)
			sleepCtx(ctx, 150*time.Millisecond)
			inFlight.Add(-1)
			return Ack()
		},
	})
	ids := publishJobs(t, b, "bounded", jobs)

	var maxAckPending, samples int
	waitFor(t, 30*time.Second, "all jobs handled and acked", func() bool {
		info, err := c.Info(t.Context())
		if err != nil {
			t.Fatalf("Info: %v", err)
		}
		samples++
		maxAckPending = max(maxAckPending, info.NumAckPending)
		return rec.total() >= jobs && info.NumAckPending == 0 && info.NumPending == 0
	})
	if got := maxInFlight.Load(); got != concurrency {
		t.Errorf("max handlers in flight = %d, want %d", got, concurrency)
	}
	if maxAckPending > concurrency {
		t.Errorf("server saw %d unacknowledged messages, more than the %d slots", maxAckPending, concurrency)
	}
	if maxAckPending == 0 {
		t.Errorf("no sample saw a message in flight (%d samples)", samples)
	}
	for _, id := range ids {
		if d := rec.deliveries(string(id)); len(d) != 1 || d[0] != 1 {
			t.Errorf("job %s deliveries = %v, want [1]", id, d)
		}
	}
	if n := streamMsgs(t, b, StreamJobs); n != 0 {
		t.Errorf("jobs stream still holds %d messages", n)
	}
}

func TestConsumerHeartbeatsKeepLongWork(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL())) // AckWait 1s
	const work = 3 * time.Second

	t.Run("control: without heartbeats the message comes back", func(t *testing.T) {
		c, err := b.NewConsumer(ConsumerConfig{Queue: Jobs, Kind: "control", Handler: func(context.Context, *Msg) Outcome { return Ack() }})
		if err != nil {
			t.Fatalf("NewConsumer: %v", err)
		}
		cons, err := c.declare(t.Context())
		if err != nil {
			t.Fatalf("declare: %v", err)
		}
		publishJobs(t, b, "control", 1)
		first, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("first fetch: %v", err)
		}
		start := time.Now()
		again, err := cons.Next(jetstream.FetchMaxWait(work))
		if err != nil {
			t.Fatalf("no redelivery within %s: %v", work, err)
		}
		meta, _ := again.Metadata()
		if meta.NumDelivered != 2 || string(again.Data()) != string(first.Data()) {
			t.Fatalf("redelivery = %q delivered %d times", again.Data(), meta.NumDelivered)
		}
		t.Logf("unacknowledged message redelivered after %s", time.Since(start).Round(time.Millisecond))
		if err := again.DoubleAck(t.Context()); err != nil {
			t.Fatalf("ack: %v", err)
		}
	})

	t.Run("handler working 3x the ack wait", func(t *testing.T) {
		rec := newRecord()
		done := make(chan struct{})
		c := startConsumer(t, b, ConsumerConfig{
			Queue: Jobs, Kind: "long",
			Handler: func(ctx context.Context, m *Msg) Outcome {
				rec.saw(m)
				sleepCtx(ctx, work)
				close(done)
				return Ack()
			},
		})
		ids := publishJobs(t, b, "long", 1)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("handler did not finish")
		}
		info := settled(t, c)
		if d := rec.deliveries(string(ids[0])); len(d) != 1 {
			t.Fatalf("deliveries = %v, want one", d)
		}
		if info.NumRedelivered != 0 || info.Delivered.Consumer != 1 {
			t.Fatalf("consumer redelivered %d, delivered %d; want 0 and 1", info.NumRedelivered, info.Delivered.Consumer)
		}
	})
}

func TestConsumerNak(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL())) // Backoff [100ms], AckWait 1s
	tests := []struct {
		name     string
		kind     string
		delay    time.Duration
		minDelay time.Duration
	}{
		{"explicit delay", "nak-delay", 600 * time.Millisecond, 550 * time.Millisecond},
		{"backoff step", "nak-backoff", 0, 90 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecord()
			c := startConsumer(t, b, ConsumerConfig{
				Queue: Jobs, Kind: tt.kind,
				Handler: func(_ context.Context, m *Msg) Outcome {
					rec.saw(m)
					if m.NumDelivered() == 1 {
						return Nak(tt.delay, "not yet")
					}
					return Ack()
				},
			})
			id := string(publishJobs(t, b, tt.kind, 1)[0])
			waitFor(t, 10*time.Second, "redelivery", func() bool { return len(rec.deliveries(id)) == 2 })
			settled(t, c)
			if d := rec.deliveries(id); d[0] != 1 || d[1] != 2 {
				t.Fatalf("delivery counts = %v, want [1 2]", d)
			}
			times := rec.deliveryTimes(id)
			gap := times[1].Sub(times[0])
			if gap < tt.minDelay {
				t.Fatalf("redelivered after %s, before the %s delay", gap, tt.minDelay)
			}
			// Redelivery came from the nak, not from the ack wait (1.1s).
			if gap >= time.Second {
				t.Fatalf("redelivered after %s: the nak was not honoured", gap)
			}
			if n := streamMsgs(t, b, StreamJobs); n != 0 {
				t.Fatalf("jobs stream still holds %d messages", n)
			}
		})
	}
}

// TestConsumerNakLaterStep naks a second delivery, whose backoff step is
// longer than the first: the message comes back after that step, not
// after twice it less the first (the server counts a nak's delay from the
// first step's ack wait, and waits the current step).
func TestConsumerNakLaterStep(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t, s.ClientURL())
	cfg.Backoff = []time.Duration{100 * time.Millisecond, 2 * time.Second}
	b := connect(t, cfg)
	rec := newRecord()
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "nak-steps",
		Handler: func(_ context.Context, m *Msg) Outcome {
			rec.saw(m)
			if m.NumDelivered() < 3 {
				return Nak(0, "not yet")
			}
			return Ack()
		},
	})
	id := string(publishJobs(t, b, "nak-steps", 1)[0])
	waitFor(t, 20*time.Second, "two redeliveries", func() bool { return len(rec.deliveries(id)) == 3 })
	settled(t, c)
	times := rec.deliveryTimes(id)
	// The old delay, 2 × 2s − 100ms, was 3.9s.
	if gap := times[2].Sub(times[1]); gap < 1900*time.Millisecond || gap > 3*time.Second {
		t.Fatalf("third delivery %s after the second, want the 2s step", gap)
	}
}

func TestConsumerTermNeverRedelivers(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	reasons := terminations(t, b, StreamJobs, "jobs-doomed")
	rec := newRecord()
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "doomed",
		Handler: func(_ context.Context, m *Msg) Outcome {
			rec.saw(m)
			return Term("bad payload")
		},
	})
	id := string(publishJobs(t, b, "doomed", 1)[0])
	if r := waitReason(t, reasons); r != "bad payload" {
		t.Fatalf("termination reason = %q", r)
	}
	settled(t, c)
	// Past the ack wait and backoff (1.1s) nothing comes back, and the
	// work queue no longer holds the message.
	time.Sleep(1300 * time.Millisecond)
	if d := rec.deliveries(id); len(d) != 1 {
		t.Fatalf("deliveries = %v, want one", d)
	}
	if n := streamMsgs(t, b, StreamJobs); n != 0 {
		t.Fatalf("jobs stream still holds %d messages", n)
	}
}

// TestConsumerLeavesLastNakToAdvisory naks every delivery: the last one is
// left unsettled, so that the server gives the message up with a
// max-deliveries advisory (which a runner turns into a failed job) instead
// of a term nobody hears of.
func TestConsumerLeavesLastNakToAdvisory(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL())) // MaxDeliver 3
	reasons := terminations(t, b, StreamTasks, "tasks-flaky")
	advisories := make(chan *nats.Msg, 4)
	sub, err := b.nc.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+StreamTasks+".tasks-flaky", advisories)
	if err != nil {
		t.Fatalf("subscribe to advisories: %v", err)
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	var mu sync.Mutex
	var last []bool
	rec := newRecord()
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Tasks, Kind: "flaky",
		Handler: func(_ context.Context, m *Msg) Outcome {
			rec.saw(m)
			mu.Lock()
			last = append(last, m.LastDelivery())
			mu.Unlock()
			return Nak(10*time.Millisecond, "still failing")
		},
	})
	pub, err := b.PublishTask(t.Context(), "flaky", "task-1", []byte("x"))
	if err != nil {
		t.Fatalf("PublishTask: %v", err)
	}
	select {
	case m := <-advisories:
		var ev maxDeliveriesEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.StreamSeq != pub.Seq || ev.Deliveries != 3 {
			t.Fatalf("advisory %s (%v), want seq %d after 3 deliveries", m.Data, err, pub.Seq)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no max-deliveries advisory")
	}
	settled(t, c)
	if d := rec.deliveries("task-1"); len(d) != 3 || d[0] != 1 || d[1] != 2 || d[2] != 3 {
		t.Fatalf("delivery counts = %v, want [1 2 3]", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(last) != 3 || last[0] || last[1] || !last[2] {
		t.Fatalf("LastDelivery per delivery = %v, want [false false true]", last)
	}
	select {
	case r := <-reasons:
		t.Fatalf("the message was terminated (%q)", r)
	default:
	}
}

func TestConsumerRecoversFromPanic(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	rec := newRecord()
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "panicky",
		Handler: func(_ context.Context, m *Msg) Outcome {
			rec.saw(m)
			if m.NumDelivered() == 1 {
				panic("boom")
			}
			return Ack()
		},
	})
	id := string(publishJobs(t, b, "panicky", 1)[0])
	waitFor(t, 10*time.Second, "redelivery after the panic", func() bool { return len(rec.deliveries(id)) == 2 })
	settled(t, c)
}

func TestConsumersShareDurable(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t, s.ClientURL())
	brokers := []*Broker{connect(t, cfg), connect(t, cfg)}
	rec := newRecord()
	var perConsumer [2]atomic.Int32
	for i, b := range brokers {
		startConsumer(t, b, ConsumerConfig{
			Queue: Tasks, Kind: "shared", Concurrency: 2,
			Handler: func(ctx context.Context, m *Msg) Outcome {
				rec.saw(m)
				perConsumer[i].Add(1)
				sleepCtx(ctx, 50*time.Millisecond)
				return Ack()
			},
		})
	}
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = string(newJobID())
		if _, err := brokers[i%2].PublishTask(t.Context(), "shared", ids[i], nil); err != nil {
			t.Fatalf("PublishTask: %v", err)
		}
	}
	waitFor(t, 30*time.Second, "all tasks handled", func() bool { return rec.total() >= n })
	waitFor(t, 10*time.Second, "tasks stream to empty", func() bool { return streamMsgs(t, brokers[0], StreamTasks) == 0 })
	for _, id := range ids {
		if d := rec.deliveries(id); len(d) != 1 {
			t.Errorf("task %s deliveries = %v, want one", id, d)
		}
	}
	a, b := perConsumer[0].Load(), perConsumer[1].Load()
	if a == 0 || b == 0 || a+b != n {
		t.Fatalf("consumers handled %d and %d of %d tasks; want both some, none twice", a, b, n)
	}
}
