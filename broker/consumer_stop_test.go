package broker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lakeq/lakeq/store"
)

func TestConsumerLifecycle(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	c, err := b.NewConsumer(ConsumerConfig{Queue: Tasks, Kind: "life", Handler: func(context.Context, *Msg) Outcome { return Ack() }})
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop before Start: %v", err)
	}
	c, _ = b.NewConsumer(ConsumerConfig{Queue: Tasks, Kind: "life", Handler: func(context.Context, *Msg) Outcome { return Ack() }})
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := c.Start(t.Context()); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Start = %v, want ErrAlreadyStarted", err)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	cc := info.Config
	if cc.Durable != "tasks-life" || cc.FilterSubject != "lakeq.tasks.life" || cc.AckPolicy != jetstream.AckExplicitPolicy ||
		cc.MaxDeliver != 3 || len(cc.BackOff) != 1 || cc.BackOff[0] != 1100*time.Millisecond || cc.AckWait != 1100*time.Millisecond ||
		cc.MaxAckPending != DefaultMaxAckPending {
		t.Fatalf("durable config = %+v", cc)
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := c.Start(t.Context()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Stop = %v, want ErrStopped", err)
	}
}

func TestConsumerStopDrains(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	started := make(chan string, 4)
	release := make(chan struct{})
	handlerCtxErr := make(chan error, 1)
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "drain", Concurrency: 1,
		Handler: func(ctx context.Context, m *Msg) Outcome {
			started <- m.ID()
			<-release
			handlerCtxErr <- ctx.Err()
			return Ack()
		},
	})
	first := string(publishJobs(t, b, "drain", 1)[0])
	if got := <-started; got != first {
		t.Fatalf("handler got %s, want %s", got, first)
	}
	// The only slot is busy: this one waits in the stream.
	second := string(publishJobs(t, b, "drain", 1)[0])

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 20*time.Second)
		defer cancel()
		stopped <- c.Stop(ctx)
	}()
	<-c.loopDone // fetching has stopped
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) before the running handler finished", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := <-handlerCtxErr; err != nil {
		t.Fatalf("handler context canceled during the drain: %v", err)
	}
	select {
	case id := <-started:
		t.Fatalf("message %s was handled after Stop began", id)
	default:
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	if info.Delivered.Consumer != 1 || info.NumAckPending != 0 || info.NumPending != 1 {
		t.Fatalf("after Stop: delivered %d, ack pending %d, pending %d; want 1, 0, 1",
			info.Delivered.Consumer, info.NumAckPending, info.NumPending)
	}
	// The first job was acked away; the second waits for the next worker.
	next := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "drain",
		Handler: func(_ context.Context, m *Msg) Outcome {
			started <- m.ID()
			return Ack()
		},
	})
	select {
	case id := <-started:
		if id != second {
			t.Fatalf("next worker got %s, want %s", id, second)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("next worker got nothing")
	}
	settled(t, next)
}

func TestConsumerStopGraceExpires(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	started := make(chan struct{})
	canceled := make(chan struct{})
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "stuck",
		Handler: func(ctx context.Context, _ *Msg) Outcome {
			close(started)
			<-ctx.Done()
			close(canceled)
			return Nak(0, "canceled")
		},
	})
	publishJobs(t, b, "stuck", 1)
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := c.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want DeadlineExceeded", err)
	}
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not canceled when the grace ran out")
	}
}

func TestConsumerResumesAfterServerRestart(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	rec := newRecord()
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "survivor", Concurrency: 2, FetchMaxWait: 300 * time.Millisecond,
		Handler: func(_ context.Context, m *Msg) Outcome {
			rec.saw(m)
			return Ack()
		},
	})
	before := publishJobs(t, b, "survivor", 3)
	waitFor(t, 10*time.Second, "jobs before the restart", func() bool { return rec.total() >= 3 })
	settled(t, c) // their acks have landed: none may come back

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("stop server: %v", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatalf("restart server: %v", err)
	}

	// Publishing retries until the connection is back; the job id makes a
	// retry safe.
	var after []store.JobID
	for range 3 {
		id := newJobID()
		for {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			_, err := b.PublishJob(pctx, "survivor", id, []byte(id))
			pcancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("publish after restart: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		after = append(after, id)
	}
	waitFor(t, 20*time.Second, "jobs after the restart", func() bool { return rec.total() >= 6 })
	settled(t, c)
	for _, id := range append(before, after...) {
		if d := rec.deliveries(string(id)); len(d) != 1 {
			t.Errorf("job %s deliveries = %v, want one", id, d)
		}
	}
	if err := b.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
}

func TestConsumerRedeclaresDeletedDurable(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	rec := newRecord()
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "phoenix",
		Handler: func(_ context.Context, m *Msg) Outcome {
			rec.saw(m)
			return Ack()
		},
	})
	publishJobs(t, b, "phoenix", 1)
	waitFor(t, 10*time.Second, "first job", func() bool { return rec.total() >= 1 })
	settled(t, c)
	if err := b.JetStream().DeleteConsumer(t.Context(), StreamJobs, c.Durable()); err != nil {
		t.Fatalf("DeleteConsumer: %v", err)
	}
	ids := publishJobs(t, b, "phoenix", 2)
	waitFor(t, 20*time.Second, "jobs after the durable was deleted", func() bool { return rec.total() >= 3 })
	settled(t, c)
	for _, id := range ids {
		if d := rec.deliveries(string(id)); len(d) != 1 {
			t.Errorf("job %s deliveries = %v, want one", id, d)
		}
	}
}

// captureHandler keeps the records logged through it.
type captureHandler struct {
	mu      *sync.Mutex
	records *[]slog.Record
}

func newCapture() captureHandler {
	return captureHandler{mu: &sync.Mutex{}, records: &[]slog.Record{}}
}

func (h captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.records = append(*h.records, r.Clone())
	return nil
}
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }

// find returns the attributes of the first record whose message starts
// with prefix.
func (h captureHandler) find(prefix string) (map[string]slog.Value, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range *h.records {
		if strings.HasPrefix(r.Message, prefix) {
			attrs := map[string]slog.Value{}
			r.Attrs(func(a slog.Attr) bool {
				attrs[a.Key] = a.Value
				return true
			})
			return attrs, true
		}
	}
	return nil, false
}

func TestConsumerLogsUnsettledMaxDeliveries(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t, s.ClientURL())
	cfg.AckWait = 200 * time.Millisecond
	cfg.Backoff = []time.Duration{50 * time.Millisecond}
	cfg.MaxDeliver = 2
	b := connect(t, cfg)
	logs := newCapture()
	hold := make(chan struct{})
	defer close(hold)
	started := make(chan struct{}, 1)
	c := startConsumer(t, b, ConsumerConfig{
		Queue: Jobs, Kind: "orphan", Concurrency: 1, Logger: slog.New(logs),
		Handler: func(context.Context, *Msg) Outcome {
			started <- struct{}{}
			<-hold // keeps the only slot busy, heartbeating
			return Ack()
		},
	})
	publishJobs(t, b, "orphan", 1)
	<-started
	// With its slot busy the Consumer fetches nothing more: the test plays
	// a worker that takes the next job and dies, twice.
	victim, err := b.PublishJob(t.Context(), "orphan", newJobID(), []byte("victim"))
	if err != nil {
		t.Fatalf("PublishJob: %v", err)
	}
	cons, err := b.JetStream().Consumer(t.Context(), StreamJobs, c.Durable())
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	for delivery := uint64(1); delivery <= 2; delivery++ {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("delivery %d: %v", delivery, err)
		}
		meta, _ := m.Metadata()
		if meta.Sequence.Stream != victim.Seq || meta.NumDelivered != delivery {
			t.Fatalf("got seq %d delivery %d, want seq %d delivery %d", meta.Sequence.Stream, meta.NumDelivered, victim.Seq, delivery)
		}
	}
	// The server notices the exhausted message when the next worker asks
	// for work, and delivers nothing.
	if m, err := cons.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
		meta, _ := m.Metadata()
		t.Fatalf("a third delivery (seq %d, delivery %d) beyond max deliver", meta.Sequence.Stream, meta.NumDelivered)
	}
	var attrs map[string]slog.Value
	waitFor(t, 10*time.Second, "max-deliveries advisory in the log", func() bool {
		var ok bool
		attrs, ok = logs.find("message ran out of deliveries")
		return ok
	})
	if got := attrs["stream_seq"].Uint64(); got != victim.Seq {
		t.Fatalf("advisory logged for seq %d, want %d", got, victim.Seq)
	}
	if n := streamMsgs(t, b, StreamJobs); n != 2 {
		t.Fatalf("jobs stream holds %d messages, want the held job and the victim", n)
	}
}

// TestConsumerStopLeavesNoPullBehind stops an idle consumer whose fetch is
// waiting on the server, then publishes: the next consumer gets the
// message on its first delivery. A pull request the stopped consumer left
// open on the server would take the message and hold it for the ack wait,
// costing it a delivery.
func TestConsumerStopLeavesNoPullBehind(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	idle, err := b.NewConsumer(ConsumerConfig{Queue: Jobs, Kind: "pull", Concurrency: 4, FetchMaxWait: 5 * time.Second,
		Handler: func(context.Context, *Msg) Outcome { return Ack() }})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the idle consumer's pull request", func() bool {
		info, err := idle.Info(t.Context())
		return err == nil && info.NumWaiting > 0
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := idle.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	id := string(publishJobs(t, b, "pull", 1)[0])
	got := make(chan uint64, 1)
	startConsumer(t, b, ConsumerConfig{Queue: Jobs, Kind: "pull", FetchMaxWait: 200 * time.Millisecond,
		Handler: func(_ context.Context, m *Msg) Outcome {
			if m.ID() == id {
				got <- m.NumDelivered()
			}
			return Ack()
		}})
	select {
	case n := <-got:
		if n != 1 {
			t.Fatalf("the next consumer got the message on delivery %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next consumer got nothing")
	}
}
