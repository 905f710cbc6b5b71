package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// defaultSSEHeartbeat is how often an idle event stream sends a comment,
// which keeps proxies from closing it and notices a client that left.
const defaultSSEHeartbeat = 15 * time.Second

// sseState is the server's bookkeeping of its event streams.
type sseState struct {
	heartbeat atomic.Int64 // nanoseconds; 0 means defaultSSEHeartbeat
	open      atomic.Int64 // streams being served
}

func (st *sseState) interval() time.Duration {
	if d := time.Duration(st.heartbeat.Load()); d > 0 {
		return d
	}
	return defaultSSEHeartbeat
}

// jobEvents streams a job's events as Server-Sent Events: every event
// from the job's first one (or, with a Last-Event-ID header, from the one
// after it), then new ones as they are published, until the job's final
// event (completed, failed or canceled). Each message is
//
//	id: <stream sequence>
//	event: <type>
//	data: <the event's JSON>
//
// and a comment line is sent every 15 seconds while nothing happens. The
// stream stops when the client goes away or the server shuts down. A job
// that ended so long ago that its events expired, or a finished job's
// stream resumed with a Last-Event-ID at or past its last stored event,
// gets one final event built from its record, without an id, and ends at
// once.
func (s *Server) jobEvents(c *fiber.Ctx) error {
	if err := s.jobsReady(); err != nil {
		return err
	}
	id, err := jobID(c)
	if err != nil {
		return err
	}
	// after is the last event the client saw (0: none); the stream
	// resumes with the next one.
	var after uint64
	from := broker.FromFirst()
	if v := c.Get("Last-Event-ID"); v != "" {
		after, err = strconv.ParseUint(v, 10, 64)
		if err != nil || after == math.MaxUint64 {
			return badRequest("Last-Event-ID %q is not an event id", v)
		}
		from = broker.FromSequence(after + 1)
	}
	ctx := c.UserContext()
	j, err := s.jobs.Get(ctx, id)
	if err != nil {
		return err
	}
	subject, err := broker.EventSubject(j.Repo, string(j.Kind), j.ID)
	if err != nil {
		return fmt.Errorf("job %s events: %w", id, err)
	}
	// A finished job's stream ends with the last event stored for it.
	var endSeq uint64
	if j.State.Terminal() {
		if endSeq, err = s.lastEventSeq(ctx, subject); err != nil {
			return err
		}
	}
	var es *broker.EventStream
	if !j.State.Terminal() || endSeq > after {
		if es, err = s.broker.SubscribeEvents(ctx, subject, from); err != nil {
			return fmt.Errorf("job %s events: %w", id, err)
		}
	}
	c.Set(fiber.HeaderContentType, "text/event-stream; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no") // no proxy buffering
	c.Status(fiber.StatusOK)
	if es == nil {
		// Nothing stored is left to send (the events expired, or the
		// client saw them all and reconnected): end at once with the
		// final event built from the job's record.
		return s.sendFinal(&sseWriter{w: bufio.NewWriter(c)}, j)
	}
	reqID := requestID(c)
	s.sse.open.Add(1)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.sse.open.Add(-1)
		defer es.Stop()
		sw := &sseWriter{w: w}
		if err := s.streamJobEvents(s.baseCtx, sw, es, j, subject, after, endSeq); err != nil {
			s.log.DebugContext(ctx, "event stream ended", "job_id", id, "request_id", reqID, "reason", err.Error())
		}
	})
	return nil
}

// errClientGone ends a stream whose client went away.
var errClientGone = errors.New("client went away")

// sseWriter writes Server-Sent Events, flushing each one.
type sseWriter struct {
	w *bufio.Writer
}

// event writes one event (id omitted when 0) and flushes it.
func (sw *sseWriter) event(id uint64, typ string, data []byte) error {
	if id > 0 {
		fmt.Fprintf(sw.w, "id: %d\n", id)
	}
	fmt.Fprintf(sw.w, "event: %s\n", typ)
	for _, line := range bytes.Split(data, []byte("\n")) {
		sw.w.WriteString("data: ")
		sw.w.Write(line)
		sw.w.WriteByte('\n')
	}
	sw.w.WriteByte('\n')
	return sw.flush()
}

// comment writes a comment line and flushes it.
func (sw *sseWriter) comment(text string) error {
	sw.w.WriteString(": " + text + "\n\n")
	return sw.flush()
}

func (sw *sseWriter) flush() error {
	if err := sw.w.Flush(); err != nil {
		return fmt.Errorf("%w: %v", errClientGone, err)
	}
	return nil
}

// streamJobEvents copies the events of job j from es to sw until the
// job's final event, an error, or ctx's end. after is the last event the
// client saw before (0: none), where es starts from; endSeq, when not 0,
// is the last event stored for a job that had ended already.
func (s *Server) streamJobEvents(ctx context.Context, sw *sseWriter, es *broker.EventStream, j *jobs.Job, subject string, after, endSeq uint64) error {
	if err := sw.comment("events of job " + string(j.ID)); err != nil {
		return err
	}
	lastSeq := after
	// The highest revision sent; on a resumed stream, at least that of
	// the last event the client saw.
	revision := s.eventRevision(ctx, subject, after)
	for {
		nctx, cancel := context.WithTimeout(ctx, s.sse.interval())
		ev, err := es.Next(nctx)
		cancel()
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			if err := sw.comment("heartbeat"); err != nil {
				return err
			}
			if ended, err := s.endIfFinished(ctx, sw, j.ID, subject, lastSeq); ended || err != nil {
				return err
			}
			continue
		default:
			return err
		}
		typ := "message"
		var head struct {
			Type     jobs.EventType `json:"type"`
			Revision uint64         `json:"revision"`
		}
		if json.Unmarshal(ev.Data, &head) == nil && head.Type != "" {
			typ = string(head.Type)
		}
		lastSeq = ev.Seq
		// A progress event stored after a newer state of the job was
		// sent (tasks on several workers publish at once) is left out:
		// its counters are stale.
		if head.Type != jobs.EventProgress || head.Revision >= revision {
			revision = max(revision, head.Revision)
			if err := sw.event(ev.Seq, typ, ev.Data); err != nil {
				return err
			}
			if head.Type.Final() {
				return nil
			}
		}
		if endSeq > 0 && ev.Seq >= endSeq {
			// The job had ended, but its final event is not in the
			// stream (it could not be published): end with its record.
			return s.sendFinal(sw, j)
		}
	}
}

// endIfFinished ends the stream of a job that has ended while no final
// event came: it sends one built from the job's record, once every event
// stored for the job has been sent.
func (s *Server) endIfFinished(ctx context.Context, sw *sseWriter, id store.JobID, subject string, lastSeq uint64) (bool, error) {
	j, err := s.jobs.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil // expired meanwhile
	}
	if err != nil || !j.State.Terminal() {
		return false, nil
	}
	last, err := s.lastEventSeq(ctx, subject)
	if err != nil || last > lastSeq {
		return false, nil
	}
	return true, s.sendFinal(sw, j)
}

// sendFinal sends the final event of finished job j, built from its record.
func (s *Server) sendFinal(sw *sseWriter, j *jobs.Job) error {
	typ := jobs.FinalEventType(j.State)
	data, err := json.Marshal(jobs.NewEvent(j, typ, j.FinishedAt))
	if err != nil {
		return err
	}
	return sw.event(0, string(typ), data)
}

// eventRevision returns the job revision of the event stored at seq on
// subject, or 0 when there is none (seq 0, expired, another subject's).
func (s *Server) eventRevision(ctx context.Context, subject string, seq uint64) uint64 {
	if seq == 0 {
		return 0
	}
	st, err := s.broker.JetStream().Stream(ctx, broker.StreamEvents)
	if err != nil {
		return 0
	}
	msg, err := st.GetMsg(ctx, seq)
	if err != nil || msg.Subject != subject {
		return 0
	}
	var ev struct {
		Revision uint64 `json:"revision"`
	}
	if json.Unmarshal(msg.Data, &ev) != nil {
		return 0
	}
	return ev.Revision
}

// lastEventSeq returns the stream sequence of the last event on subject,
// or 0 when there is none.
func (s *Server) lastEventSeq(ctx context.Context, subject string) (uint64, error) {
	st, err := s.broker.JetStream().Stream(ctx, broker.StreamEvents)
	if err != nil {
		return 0, fmt.Errorf("events stream: %w", err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last event of %s: %w", subject, err)
	}
	return msg.Sequence, nil
}
