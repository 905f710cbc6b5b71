package broker

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lakeq/lakeq/store"
)

func TestConnectDeclaresStreamsIdempotently(t *testing.T) {
	s := startServer(t)
	cfg := testConfig(t, s.ClientURL())
	b1 := connect(t, cfg)
	// The server announces each stream update.
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	updates, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.UPDATED.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	b2 := connect(t, cfg) // same declarations again: no error, no change

	want := map[string]struct {
		subject   string
		retention jetstream.RetentionPolicy
		dups      time.Duration
		maxAge    time.Duration
	}{
		StreamJobs:   {"lakeq.jobs.>", jetstream.WorkQueuePolicy, DefaultDuplicateWindow, 0},
		StreamTasks:  {"lakeq.tasks.>", jetstream.WorkQueuePolicy, DefaultDuplicateWindow, 0},
		StreamEvents: {"lakeq.events.>", jetstream.LimitsPolicy, 2 * time.Minute, DefaultEventsMaxAge},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			st, err := b2.JetStream().Stream(t.Context(), name)
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			sc := st.CachedInfo().Config
			if len(sc.Subjects) != 1 || sc.Subjects[0] != w.subject {
				t.Errorf("subjects = %v, want [%s]", sc.Subjects, w.subject)
			}
			if sc.Retention != w.retention {
				t.Errorf("retention = %v, want %v", sc.Retention, w.retention)
			}
			if sc.Storage != jetstream.FileStorage {
				t.Errorf("storage = %v, want file", sc.Storage)
			}
			if sc.Replicas != 1 {
				t.Errorf("replicas = %d, want 1", sc.Replicas)
			}
			if sc.Duplicates != w.dups {
				t.Errorf("duplicate window = %s, want %s", sc.Duplicates, w.dups)
			}
			if sc.MaxAge != w.maxAge {
				t.Errorf("max age = %s, want %s", sc.MaxAge, w.maxAge)
			}
		})
	}

	// Data published through one connection is unaffected by the other's
	// declarations.
	if _, err := b1.PublishJob(t.Context(), "import", newJobID(), []byte("x")); err != nil {
		t.Fatalf("PublishJob: %v", err)
	}
	cfg.EventsMaxAge = time.Hour
	b3 := connect(t, cfg)
	st, err := b3.JetStream().Stream(t.Context(), StreamEvents)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Fatalf("events max age after update = %s, want 1h", got)
	}
	// The only update the server announced is b3's, of the events stream:
	// declaring unchanged streams updates nothing.
	msg, err := updates.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no stream update announced after a changed declaration: %v", err)
	}
	if msg.Subject != "$JS.EVENT.ADVISORY.STREAM.UPDATED."+StreamEvents {
		t.Fatalf("first stream update announced: %s, want the events stream's", msg.Subject)
	}
	if n := streamMsgs(t, b3, StreamJobs); n != 1 {
		t.Fatalf("jobs stream holds %d messages after redeclaring, want 1", n)
	}
}

func TestConnectWaitsForServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cfg := testConfig(t, "nats://127.0.0.1:"+itoa(port))

	t.Run("gives up with the context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if _, err := Connect(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Connect without a server = %v, want DeadlineExceeded", err)
		}
	})

	t.Run("connects once the server is up", func(t *testing.T) {
		type result struct {
			b   *Broker
			err error
		}
		res := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			b, err := Connect(ctx, cfg)
			res <- result{b, err}
		}()
		time.Sleep(200 * time.Millisecond) // let Connect fail its first attempts
		startServerAt(t, port, dir)
		r := <-res
		if r.err != nil {
			t.Fatalf("Connect: %v", r.err)
		}
		defer r.b.Close(t.Context())
		if err := r.b.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func TestPing(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	if err := b.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("stop server: %v", err)
	}
	pctx, pcancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer pcancel()
	if err := b.Ping(pctx); err == nil {
		t.Fatal("Ping succeeded with the server down")
	}
}

func TestPublishDeduplicates(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	ctx := t.Context()

	t.Run("jobs", func(t *testing.T) {
		id := newJobID()
		first, err := b.PublishJob(ctx, "import", id, []byte("one"))
		if err != nil {
			t.Fatalf("PublishJob: %v", err)
		}
		if first.Duplicate || first.Stream != StreamJobs {
			t.Fatalf("first publish = %+v", first)
		}
		again, err := b.PublishJob(ctx, "import", id, []byte("one, retried"))
		if err != nil {
			t.Fatalf("PublishJob again: %v", err)
		}
		if !again.Duplicate || again.Seq != first.Seq {
			t.Fatalf("second publish = %+v, want a duplicate of seq %d", again, first.Seq)
		}
		if n := streamMsgs(t, b, StreamJobs); n != 1 {
			t.Fatalf("jobs stream holds %d messages, want 1", n)
		}
		if _, err := b.PublishJob(ctx, "import", newJobID(), []byte("two")); err != nil {
			t.Fatalf("PublishJob: %v", err)
		}
		if n := streamMsgs(t, b, StreamJobs); n != 2 {
			t.Fatalf("jobs stream holds %d messages, want 2", n)
		}
	})

	t.Run("tasks", func(t *testing.T) {
		id := string(newJobID()) + "/shard-0001"
		for range 3 {
			if _, err := b.PublishTask(ctx, "import-shard", id, []byte("shard")); err != nil {
				t.Fatalf("PublishTask: %v", err)
			}
		}
		if n := streamMsgs(t, b, StreamTasks); n != 1 {
			t.Fatalf("tasks stream holds %d messages, want 1", n)
		}
	})
}

func TestPublishRejectsInvalid(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	ctx := t.Context()
	tests := []struct {
		name    string
		publish func() error
	}{
		{"job kind with dot", func() error { _, err := b.PublishJob(ctx, "im.port", newJobID(), nil); return err }},
		{"job kind wildcard", func() error { _, err := b.PublishJob(ctx, ">", newJobID(), nil); return err }},
		{"empty job id", func() error { _, err := b.PublishJob(ctx, "import", "", nil); return err }},
		{"job id with dot", func() error { _, err := b.PublishJob(ctx, "import", "a.b", nil); return err }},
		{"task id with space", func() error { _, err := b.PublishTask(ctx, "shard", "a b", nil); return err }},
		{"task kind upper case", func() error { _, err := b.PublishTask(ctx, "Shard", "a", nil); return err }},
		{"event wildcard", func() error { _, err := b.PublishEvent(ctx, "lakeq.events.repo.import.*", nil); return err }},
		{"event outside events", func() error { _, err := b.PublishEvent(ctx, "lakeq.jobs.import", nil); return err }},
		{"event short", func() error { _, err := b.PublishEvent(ctx, "lakeq.events.repo", nil); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.publish(); !errors.Is(err, ErrInvalidSubject) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("publish = %v, want ErrInvalidSubject", err)
			}
		})
	}
	for _, stream := range []string{StreamJobs, StreamTasks, StreamEvents} {
		if n := streamMsgs(t, b, stream); n != 0 {
			t.Fatalf("%s holds %d messages after rejected publishes", stream, n)
		}
	}
}
