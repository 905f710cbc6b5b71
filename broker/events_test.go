package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
)

// publishEvents publishes n events for job, with payloads "<tag>-0", ...,
// returning their stream sequences.
func publishEvents(t *testing.T, b *Broker, repo store.RepoID, job store.JobID, tag string, n int) []uint64 {
	t.Helper()
	subject, err := EventSubject(repo, "import", job)
	if err != nil {
		t.Fatalf("EventSubject: %v", err)
	}
	seqs := make([]uint64, n)
	for i := range n {
		p, err := b.PublishEvent(t.Context(), subject, fmt.Appendf(nil, "%s-%d", tag, i))
		if err != nil {
			t.Fatalf("PublishEvent: %v", err)
		}
		if p.Stream != StreamEvents {
			t.Fatalf("event stored in %s", p.Stream)
		}
		seqs[i] = p.Seq
	}
	return seqs
}

// nextEvents reads n events and returns their payloads.
func nextEvents(t *testing.T, es *EventStream, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		ev, err := es.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Next after %v: %v", out, err)
		}
		if ev.Seq == 0 || ev.Time.IsZero() {
			t.Fatalf("event %q without sequence or time", ev.Data)
		}
		out = append(out, string(ev.Data))
	}
	return out
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestSubscribeEvents(t *testing.T) {
	s := startServer(t)
	b := connect(t, testConfig(t, s.ClientURL()))
	jobA, jobB := newJobID(), newJobID()
	seqs := publishEvents(t, b, "repo-a", jobA, "a", 3)
	publishEvents(t, b, "repo-b", jobB, "b", 2)
	filterA, err := EventFilter("", "", jobA)
	if err != nil {
		t.Fatalf("EventFilter: %v", err)
	}

	t.Run("replays a job from its first event, then follows", func(t *testing.T) {
		es, err := b.SubscribeEvents(t.Context(), filterA, FromFirst())
		if err != nil {
			t.Fatalf("SubscribeEvents: %v", err)
		}
		defer es.Stop()
		if got := nextEvents(t, es, 3); !equal(got, []string{"a-0", "a-1", "a-2"}) {
			t.Fatalf("replay = %v", got)
		}
		publishEvents(t, b, "repo-b", jobB, "b-live", 1)
		publishEvents(t, b, "repo-a", jobA, "a-live", 1)
		if got := nextEvents(t, es, 1); !equal(got, []string{"a-live-0"}) {
			t.Fatalf("live event = %v", got)
		}
	})

	t.Run("from a sequence", func(t *testing.T) {
		es, err := b.SubscribeEvents(t.Context(), filterA, FromSequence(seqs[1]))
		if err != nil {
			t.Fatalf("SubscribeEvents: %v", err)
		}
		defer es.Stop()
		if got := nextEvents(t, es, 2); !equal(got, []string{"a-1", "a-2"}) {
			t.Fatalf("events from seq %d = %v", seqs[1], got)
		}
	})

	t.Run("only new events", func(t *testing.T) {
		all, _ := EventFilter("", "", "")
		es, err := b.SubscribeEvents(t.Context(), all, FromNew())
		if err != nil {
			t.Fatalf("SubscribeEvents: %v", err)
		}
		defer es.Stop()
		publishEvents(t, b, "repo-b", jobB, "new", 2)
		if got := nextEvents(t, es, 2); !equal(got, []string{"new-0", "new-1"}) {
			t.Fatalf("new events = %v", got)
		}
	})

	t.Run("from a time", func(t *testing.T) {
		mark := time.Now()
		publishEvents(t, b, "repo-a", jobA, "later", 1)
		es, err := b.SubscribeEvents(t.Context(), filterA, FromTime(mark))
		if err != nil {
			t.Fatalf("SubscribeEvents: %v", err)
		}
		defer es.Stop()
		if got := nextEvents(t, es, 1); !equal(got, []string{"later-0"}) {
			t.Fatalf("events since %s = %v", mark, got)
		}
	})

	t.Run("Next honours its context and Stop", func(t *testing.T) {
		es, err := b.SubscribeEvents(t.Context(), "lakeq.events.nobody-here.>", FromFirst())
		if err != nil {
			t.Fatalf("SubscribeEvents: %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, err := es.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next with nothing to read = %v, want DeadlineExceeded", err)
		}
		es.Stop()
		if _, err := es.Next(t.Context()); !errors.Is(err, ErrStopped) {
			t.Fatalf("Next after Stop = %v, want ErrStopped", err)
		}
	})

	t.Run("rejects a bad filter", func(t *testing.T) {
		if _, err := b.SubscribeEvents(t.Context(), "lakeq.jobs.>", FromFirst()); !errors.Is(err, ErrInvalidSubject) {
			t.Fatalf("SubscribeEvents = %v, want ErrInvalidSubject", err)
		}
	})
}
