package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// eventsDuplicateWindow is LAKEQ_EVENTS' de-duplication window (capped by its
// max age).
const eventsDuplicateWindow = 2 * time.Minute

// streamConfigs returns the declarations of lakeq's three streams.
func (b *Broker) streamConfigs() []jetstream.StreamConfig {
	c := b.cfg
	return []jetstream.StreamConfig{
		{
			Name:        StreamJobs,
			Description: "lakeq jobs: one message per job, removed once acked or terminated",
			Subjects:    []string{Jobs.wildcard()},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Discard:     jetstream.DiscardOld,
			Replicas:    c.Replicas,
			Duplicates:  c.DuplicateWindow,
		},
		{
			Name:        StreamTasks,
			Description: "lakeq tasks: the parts large jobs fan out into",
			Subjects:    []string{Tasks.wildcard()},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Discard:     jetstream.DiscardOld,
			Replicas:    c.Replicas,
			Duplicates:  c.DuplicateWindow,
		},
		{
			Name:        StreamEvents,
			Description: "lakeq job lifecycle and progress events",
			Subjects:    []string{eventsAll},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Discard:     jetstream.DiscardOld,
			Replicas:    c.Replicas,
			MaxAge:      c.EventsMaxAge,
			Duplicates:  min(eventsDuplicateWindow, c.EventsMaxAge),
		},
	}
}

// declareStreams creates lakeq's streams, or updates them to the current
// configuration.
func (b *Broker) declareStreams(ctx context.Context) error {
	for _, sc := range b.streamConfigs() {
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("declare stream %s: %w", sc.Name, err)
		}
	}
	return nil
}
