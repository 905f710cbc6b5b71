package broker

import (
	"context"
	"errors"
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
