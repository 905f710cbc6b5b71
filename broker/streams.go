package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
		if err := b.declareStream(ctx, sc); err != nil {
			return fmt.Errorf("declare stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// declareStream creates stream sc, or updates it when it differs from sc
// in what lakeq declares. Every process declares the streams when it
// connects: an update of a stream that has not changed would only make the
// server rewrite its configuration while other processes create their
// consumers on it.
func (b *Broker) declareStream(ctx context.Context, sc jetstream.StreamConfig) error {
	st, err := b.js.Stream(ctx, sc.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		// Another process creating it meanwhile with the same
		// configuration is no error.
		_, err = b.js.CreateStream(ctx, sc)
		return err
	case err != nil:
		return err
	case declared(st.CachedInfo().Config, sc):
		return nil
	}
	_, err = b.js.UpdateStream(ctx, sc)
	return err
}

// declared reports whether have, a stream's configuration, is want in
// everything lakeq declares.
func declared(have, want jetstream.StreamConfig) bool {
	return have.Description == want.Description &&
		slices.Equal(have.Subjects, want.Subjects) &&
		have.Retention == want.Retention &&
		have.Storage == want.Storage &&
		have.Discard == want.Discard &&
		have.Replicas == want.Replicas &&
		have.Duplicates == want.Duplicates &&
		have.MaxAge == want.MaxAge
}
