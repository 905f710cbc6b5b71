package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// maxDeliveriesSubject prefixes the subject of the server's advisory about
// a message whose last allowed delivery was never settled.
const maxDeliveriesSubject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."

// abandonedQueue is the queue group the runners share for those
// advisories, so that one of them handles each.
const abandonedQueue = "lakeq-workers-abandoned"

// abandonedTimeout bounds the handling of one advisory.
const abandonedTimeout = 30 * time.Second

// abandonedWatch fails the jobs whose message ran out of deliveries
// without ever being settled: every worker that took it died (or lost its
// connection) before it could ack, nak or fail it, or the last one asked
// to retry it, not having been able to record an end (the job's state
// could not be read or saved). Without it, such a job would stay
// IN_PROGRESS forever.
type abandonedWatch struct {
	r        *Runner
	subs     []*nats.Subscription
	inflight sync.WaitGroup
}

// maxDeliveriesAdvisory is the part of the advisory the watch reads.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// startAbandonedWatch subscribes to the advisories of the durables the
// runner serves.
func startAbandonedWatch(r *Runner, consumers []served) (*abandonedWatch, error) {
	w := &abandonedWatch{r: r}
	nc := r.deps.Broker.JetStream().Conn()
	for _, c := range consumers {
		durable := c.consumer.Durable()
		sub, err := nc.QueueSubscribe(maxDeliveriesSubject+c.queue.Stream()+"."+durable, abandonedQueue, w.handle)
		if err != nil {
			w.stop()
			return nil, fmt.Errorf("watch abandoned messages of %s: %w", durable, err)
		}
		w.subs = append(w.subs, sub)
	}
	return w, nil
}

// stop unsubscribes and waits for the advisory being handled, if any.
func (w *abandonedWatch) stop() {
	for _, s := range w.subs {
		if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			w.r.log.Warn("unsubscribe from max-deliveries advisories", "error", err)
		}
	}
	w.inflight.Wait()
}

// handle fails the job of the message an advisory names.
func (w *abandonedWatch) handle(m *nats.Msg) {
	w.inflight.Add(1)
	defer w.inflight.Done()
	ctx, cancel := context.WithTimeout(context.Background(), abandonedTimeout)
	defer cancel()
	if err := w.r.failAbandoned(ctx, m.Data); err != nil {
		w.r.log.WarnContext(ctx, "fail the job of an abandoned message", "error", err)
	}
}

// failAbandoned reads the message an advisory names and fails its job.
func (r *Runner) failAbandoned(ctx context.Context, advisory []byte) error {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(advisory, &adv); err != nil {
		return fmt.Errorf("malformed advisory: %w", err)
	}
	st, err := r.deps.Broker.JetStream().Stream(ctx, adv.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", adv.Stream, err)
	}
	msg, err := st.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		return fmt.Errorf("message %d of %s: %w", adv.StreamSeq, adv.Stream, err)
	}
	var id store.JobID
	what := ""
	switch adv.Stream {
	case broker.StreamJobs:
		jm, err := jobs.DecodeMessage(msg.Data)
		if err != nil {
			return err
		}
		id = jm.JobID
	case broker.StreamTasks:
		tm, err := decodeTask(msg.Data)
		if err != nil {
			return err
		}
		id, what = tm.JobID, fmt.Sprintf("task %s: ", tm.TaskID)
	default:
		return fmt.Errorf("advisory of stream %s", adv.Stream)
	}
	reason := fmt.Sprintf("%sgave up after %d deliveries, none of which finished it: see the workers' logs", what, adv.Deliveries)
	_, err = r.finish(ctx, id, ending{state: jobs.StateFailed, err: reason})
	if errors.Is(err, store.ErrJobFinished) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
