package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakeq/lakeq/api"
	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/auth"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers"
)

// jobAPIEnv is an API server with a job store and a broker over an embedded
// NATS server, a bolt KV and a local blockstore.
type jobAPIEnv struct {
	*env
	jobs   *jobs.Store
	broker *broker.Broker
	nats   *natsserver.Server
	graph  *graph.Graph
}

// testJobKind is the kind of the jobs the test route submits.
const testJobKind = "test-job"

// newJobAPIEnv builds a jobAPIEnv; its server also has POST
// /api/v1/repositories/:repository/test-jobs, which submits a job of kind
// test-job.
func newJobAPIEnv(t *testing.T) *jobAPIEnv {
	t.Helper()
	dir := t.TempDir()
	kvs, err := bolt.Open(filepath.Join(dir, "kv.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kvs.Close() })
	if err := os.MkdirAll(filepath.Join(dir, "data", testBucket), 0o700); err != nil {
		t.Fatal(err)
	}
	ls, err := local.New(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	trees, err := tree.NewManager(tree.Config{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := block.NewResolver(block.ResolverConfig{Local: ls})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New(kvs, trees, res, graph.Config{})
	as := auth.New(kvs)
	keyID, secret, err := as.CreateCredentials(context.Background(), "tester")
	if err != nil {
		t.Fatal(err)
	}

	ns, err := natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := ns.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Stop(context.Background()) })
	logs := &lockedWriter{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	b, err := broker.Connect(ctx, broker.Config{URL: ns.ClientURL(), Logger: log, AckWait: time.Second, MaxDeliver: 3,
		Backoff: []time.Duration{100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	js := jobs.NewStore(kvs, nil)

	var srv *api.Server
	extra := func(r fiber.Router) {
		r.Post("/repositories/:repository/test-jobs", api.SubmitJobHandler(func() *api.Server { return srv }, testJobKind))
	}
	srv, err = api.New(api.Config{Listen: "127.0.0.1:0", Logger: log},
		api.Deps{Graph: g, Auth: as, Registry: prometheus.NewRegistry(), Jobs: js, Broker: b, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	e := &env{t: t, srv: srv, graph: g, auth: as, keyID: keyID, secret: secret, logs: logs}
	return &jobAPIEnv{env: e, jobs: js, broker: b, nats: ns, graph: g}
}

// newJob stores a job of kind in repo and moves it to state.
func (e *jobAPIEnv) newJob(kind jobs.Kind, repo string, state jobs.State) *jobs.Job {
	e.t.Helper()
	ctx := context.Background()
	j, err := e.jobs.Create(ctx, &jobs.Job{ID: jobs.NewID(time.Now()), Kind: kind, Repo: store.RepoID(repo),
		Request: json.RawMessage(`{"source":"s3://b/p/"}`)})
	if err != nil {
		e.t.Fatal(err)
	}
	if state != jobs.StateSubmitted {
		if j, err = e.jobs.Update(ctx, j.ID, func(j *jobs.Job) error {
			j.State = state
			if state == jobs.StateCompleted {
				j.Result = json.RawMessage(`{"commit_id":"abc"}`)
				j.Progress = jobs.Progress{Done: 7, Total: 7}
			}
			return nil
		}); err != nil {
			e.t.Fatal(err)
		}
	}
	return j
}

// publishEvent publishes an event of type typ about j as a worker would,
// and returns its stream sequence.
func (e *jobAPIEnv) publishEvent(j *jobs.Job, typ jobs.EventType, edit func(*jobs.Event)) uint64 {
	e.t.Helper()
	ev := jobs.NewEvent(j, typ, time.Now())
	if edit != nil {
		edit(&ev)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		e.t.Fatal(err)
	}
	subject, err := broker.EventSubject(j.Repo, string(j.Kind), j.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.broker.PublishEvent(context.Background(), subject, data)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Seq
}

// jobJSON is the part of the job JSON the tests read.
type jobJSON struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	Repository      string          `json:"repository"`
	State           string          `json:"state"`
	Request         json.RawMessage `json:"request"`
	Progress        jobs.Progress   `json:"progress"`
	Result          json.RawMessage `json:"result"`
	Error           string          `json:"error"`
	CancelRequested bool            `json:"cancel_requested"`
	CreatedAt       *time.Time      `json:"created_at"`
	FinishedAt      *time.Time      `json:"finished_at"`
	Checkpoint      json.RawMessage `json:"checkpoint"`
}

func TestJobsUnavailableWithoutQueue(t *testing.T) {
	e := newEnv(t)
	id := jobs.NewID(time.Now())
	for _, r := range []response{
		e.get("/api/v1/jobs/" + string(id)),
		e.del("/api/v1/jobs/" + string(id)),
		e.get("/api/v1/repositories/repo-a/jobs"),
	} {
		expectError(t, r, http.StatusServiceUnavailable)
	}
}

func TestGetJob(t *testing.T) {
	e := newJobAPIEnv(t)
	e.createRepo("repo-a")
	j := e.newJob(jobs.KindImport, "repo-a", jobs.StateCompleted)
	if _, err := e.jobs.Update(context.Background(), j.ID, func(*jobs.Job) error { return nil }); err == nil {
		t.Fatal("a completed job changed")
	}
	r := e.get("/api/v1/jobs/" + string(j.ID))
	expect(t, r, http.StatusOK)
	var b jobJSON
	r.json(t, &b)
	if b.ID != string(j.ID) || b.Kind != "import" || b.Repository != "repo-a" || b.State != "COMPLETED" ||
		string(b.Result) != `{"commit_id":"abc"}` || b.Progress.Done != 7 || b.CreatedAt == nil || b.FinishedAt == nil ||
		string(b.Request) != `{"source":"s3://b/p/"}` || b.Checkpoint != nil {
		t.Fatalf("job body %s", r.body)
	}
	tests := []struct {
		name   string
		path   string
		status int
	}{
		{"Unknown", "/api/v1/jobs/" + string(jobs.NewID(time.Now())), http.StatusNotFound},
		{"Malformed", "/api/v1/jobs/not-a-job", http.StatusBadRequest},
		{"UpperCase", "/api/v1/jobs/" + strings.ToUpper(string(j.ID)), http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.get(tc.path), tc.status)
		})
	}
	t.Run("NoCredentials", func(t *testing.T) {
		for _, path := range []string{"/api/v1/jobs/" + string(j.ID), "/api/v1/jobs/" + string(j.ID) + "/events",
			"/api/v1/repositories/repo-a/jobs"} {
			expectError(t, e.do(req{method: http.MethodGet, path: path, noAuth: true}), http.StatusUnauthorized)
		}
		expectError(t, e.do(req{method: http.MethodDelete, path: "/api/v1/jobs/" + string(j.ID), noAuth: true}), http.StatusUnauthorized)
	})
}

func TestListJobs(t *testing.T) {
	e := newJobAPIEnv(t)
	e.createRepo("repo-a")
	e.createRepo("repo-b")
	var imports, all []string
	for i := range 7 {
		kind, state := jobs.KindExport, jobs.StateInProgress
		if i%2 == 0 {
			kind, state = jobs.KindImport, jobs.StateCompleted
		}
		j := e.newJob(kind, "repo-a", state)
		all = append(all, string(j.ID))
		if kind == jobs.KindImport {
			imports = append(imports, string(j.ID))
		}
	}
	e.newJob(jobs.KindImport, "repo-b", jobs.StateSubmitted)

	type page struct {
		Pagination struct {
			HasMore    bool   `json:"has_more"`
			NextOffset string `json:"next_offset"`
			Results    int    `json:"results"`
			MaxPerPage int    `json:"max_per_page"`
		} `json:"pagination"`
		Results []jobJSON `json:"results"`
	}
	listAll := func(query string, amount int) []string {
		t.Helper()
		var ids []string
		after := ""
		for range 20 {
			r := e.get(fmt.Sprintf("/api/v1/repositories/repo-a/jobs?amount=%d&after=%s&%s", amount, after, query))
			expect(t, r, http.StatusOK)
			var p page
			r.json(t, &p)
			if p.Pagination.Results != len(p.Results) || p.Pagination.MaxPerPage != 1000 || len(p.Results) > amount {
				t.Fatalf("page %s", r.body)
			}
			for _, j := range p.Results {
				ids = append(ids, j.ID)
			}
			if !p.Pagination.HasMore {
				return ids
			}
			after = p.Pagination.NextOffset
			if after != ids[len(ids)-1] {
				t.Fatalf("next_offset %q, want the last id", after)
			}
		}
		t.Fatal("paging does not end")
		return nil
	}
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"All", "", all},
		{"Kind", "kind=import", imports},
		{"State", "state=COMPLETED", imports},
		{"StateLowerCase", "state=completed", imports},
		{"KindAndState", "kind=export&state=COMPLETED", nil},
	}
	for _, tc := range tests {
		for _, amount := range []int{2, 100} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, amount), func(t *testing.T) {
				if got := listAll(tc.query, amount); strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Fatalf("listed %v\nwant %v", got, tc.want)
				}
			})
		}
	}
	t.Run("EmptyListIsArray", func(t *testing.T) {
		r := e.get("/api/v1/repositories/repo-a/jobs?kind=gc")
		expect(t, r, http.StatusOK)
		if !strings.Contains(string(r.body), `"results":[]`) {
			t.Fatalf("empty listing %s", r.body)
		}
	})
	bad := []struct {
		name, path string
		status     int
	}{
		{"BadKind", "/api/v1/repositories/repo-a/jobs?kind=Not%20A%20Kind", http.StatusBadRequest},
		{"BadState", "/api/v1/repositories/repo-a/jobs?state=RUNNING", http.StatusBadRequest},
		{"BadAfter", "/api/v1/repositories/repo-a/jobs?after=xyz", http.StatusBadRequest},
		{"BadAmount", "/api/v1/repositories/repo-a/jobs?amount=ten", http.StatusBadRequest},
		{"UnknownRepo", "/api/v1/repositories/repo-zzz/jobs", http.StatusNotFound},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.get(tc.path), tc.status)
		})
	}
	t.Run("UnknownKind", func(t *testing.T) {
		r := e.get("/api/v1/repositories/repo-a/jobs?kind=bogus")
		expectError(t, r, http.StatusBadRequest)
		msg := r.message(t)
		for _, want := range []string{"bogus", "import", "export", "gc", "ingest"} {
			if !strings.Contains(msg, want) {
				t.Fatalf("message %q does not mention %q", msg, want)
			}
		}
	})
}

func TestCancelJobRoute(t *testing.T) {
	e := newJobAPIEnv(t)
	queued := e.newJob(jobs.KindImport, "repo-a", jobs.StateSubmitted)
	running := e.newJob(jobs.KindImport, "repo-a", jobs.StateInProgress)
	done := e.newJob(jobs.KindImport, "repo-a", jobs.StateCompleted)
	committing := e.newJob(jobs.KindImport, "repo-a", jobs.StateInProgress)
	if _, err := e.jobs.Update(context.Background(), committing.ID, func(j *jobs.Job) error { j.Committing = true; return nil }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		id        store.JobID
		status    int
		wantState jobs.State
		flagged   bool
	}{
		{"Queued", queued.ID, http.StatusNoContent, jobs.StateCanceled, true},
		{"Running", running.ID, http.StatusNoContent, jobs.StateInProgress, true},
		{"Finished", done.ID, http.StatusConflict, jobs.StateCompleted, false},
		{"Committing", committing.ID, http.StatusConflict, jobs.StateInProgress, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.del("/api/v1/jobs/" + string(tc.id))
			if tc.status == http.StatusNoContent {
				expect(t, r, tc.status)
			} else {
				expectError(t, r, tc.status)
			}
			j, err := e.jobs.Get(context.Background(), tc.id)
			if err != nil || j.State != tc.wantState || j.CancelRequested != tc.flagged {
				t.Fatalf("after DELETE: %+v, %v", j, err)
			}
		})
	}
	t.Run("Unknown", func(t *testing.T) {
		expectError(t, e.del("/api/v1/jobs/"+string(jobs.NewID(time.Now()))), http.StatusNotFound)
	})
	t.Run("Malformed", func(t *testing.T) {
		expectError(t, e.del("/api/v1/jobs/nope"), http.StatusBadRequest)
	})
	t.Run("CanceledEvent", func(t *testing.T) {
		evs := readSSE(t, e.get("/api/v1/jobs/"+string(queued.ID)+"/events").body)
		if len(evs) != 1 || evs[0].event != "canceled" {
			t.Fatalf("events of a job canceled before it started: %+v", evs)
		}
	})
}

func TestSubmitJob(t *testing.T) {
	e := newJobAPIEnv(t)
	r := e.postJSON("/api/v1/repositories/repo-a/test-jobs", map[string]any{"source": "s3://bucket/x/"})
	expect(t, r, http.StatusAccepted)
	var acc struct {
		ID store.JobID `json:"id"`
	}
	r.json(t, &acc)
	j, err := e.jobs.Get(context.Background(), acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != jobs.StateSubmitted || j.Kind != testJobKind || j.Repo != "repo-a" || string(j.Request) != `{"source":"s3://bucket/x/"}` {
		t.Fatalf("stored job %+v", j)
	}
	// Queued on lakeq.jobs.test-job with the job id as the message id.
	st, err := e.broker.JetStream().Stream(context.Background(), broker.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(context.Background(), "lakeq.jobs."+testJobKind)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Nats-Msg-Id") != string(acc.ID) {
		t.Fatalf("message id %q, want %s", msg.Header.Get("Nats-Msg-Id"), acc.ID)
	}
	if m, err := jobs.DecodeMessage(msg.Data); err != nil || m.JobID != acc.ID {
		t.Fatalf("message %s: %v", msg.Data, err)
	}
	// The submitted event replays first.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	es, err := e.broker.SubscribeEvents(ctx, "lakeq.events.repo-a."+testJobKind+"."+string(acc.ID), broker.FromFirst())
	if err != nil {
		t.Fatal(err)
	}
	defer es.Stop()
	ev, err := es.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var je jobs.Event
	if err := json.Unmarshal(ev.Data, &je); err != nil || je.Type != jobs.EventSubmitted || je.JobID != acc.ID {
		t.Fatalf("first event %s: %v", ev.Data, err)
	}

	t.Run("QueueDown", func(t *testing.T) {
		if err := e.broker.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := e.postJSON("/api/v1/repositories/repo-a/test-jobs", map[string]any{"n": 1})
		expectError(t, r, http.StatusServiceUnavailable)
		list, _, err := e.jobs.List(context.Background(), "repo-a", jobs.Filter{}, acc.ID, 10)
		if err != nil || len(list) != 1 {
			t.Fatalf("jobs after the failed submission: %d, %v", len(list), err)
		}
		if list[0].State != jobs.StateFailed || !strings.Contains(list[0].Error, "could not be queued") {
			t.Fatalf("unqueued job %s: %q; want FAILED", list[0].State, list[0].Error)
		}
	})
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	id    string
	event string
	data  string
}

// readSSE parses a whole event-stream body.
func readSSE(t *testing.T, body []byte) []sseEvent {
	t.Helper()
	var out []sseEvent
	next := newSSEReader(strings.NewReader(string(body)))
	for {
		ev, err := next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.event != "" {
			out = append(out, ev)
		}
	}
}

// newSSEReader returns a function that reads the next event (or comment:
// an sseEvent with only data ": ...") from r.
func newSSEReader(r io.Reader) func() (sseEvent, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	return func() (sseEvent, error) {
		var ev sseEvent
		seen := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if seen {
					return ev, nil
				}
			case strings.HasPrefix(line, ":"):
				return sseEvent{data: line}, nil
			case strings.HasPrefix(line, "id: "):
				ev.id, seen = strings.TrimPrefix(line, "id: "), true
			case strings.HasPrefix(line, "event: "):
				ev.event, seen = strings.TrimPrefix(line, "event: "), true
			case strings.HasPrefix(line, "data: "):
				ev.data, seen = ev.data+strings.TrimPrefix(line, "data: "), true
			}
		}
		if err := sc.Err(); err != nil {
			return ev, err
		}
		return ev, io.EOF
	}
}

func TestJobEventsReplayFinishedJob(t *testing.T) {
	e := newJobAPIEnv(t)
	j := e.newJob(jobs.KindExport, "repo-a", jobs.StateInProgress)
	seqs := []uint64{
		e.publishEvent(j, jobs.EventStarted, nil),
		e.publishEvent(j, jobs.EventProgress, func(ev *jobs.Event) { ev.Progress.Done = 3 }),
	}
	other := e.newJob(jobs.KindExport, "repo-a", jobs.StateInProgress)
	e.publishEvent(other, jobs.EventStarted, nil) // another job's: not in this stream
	j = e.newJobState(j.ID, jobs.StateCompleted)
	seqs = append(seqs, e.publishEvent(j, jobs.EventCompleted, nil))

	r := e.get("/api/v1/jobs/" + string(j.ID) + "/events")
	expect(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	evs := readSSE(t, r.body)
	want := []string{"started", "progress", "completed"}
	if len(evs) != len(want) {
		t.Fatalf("events %+v, want %v", evs, want)
	}
	for i, ev := range evs {
		var je jobs.Event
		if err := json.Unmarshal([]byte(ev.data), &je); err != nil {
			t.Fatalf("event data %q: %v", ev.data, err)
		}
		if ev.event != want[i] || string(je.Type) != want[i] || je.JobID != j.ID || ev.id != strconv.FormatUint(seqs[i], 10) {
			t.Fatalf("event %d: %+v, want %s with id %d", i, ev, want[i], seqs[i])
		}
	}
	if evs[1].data == "" || !strings.Contains(evs[1].data, `"done":3`) {
		t.Fatalf("progress event data %s", evs[1].data)
	}

	t.Run("LastEventID", func(t *testing.T) {
		r := e.do(req{method: http.MethodGet, path: "/api/v1/jobs/" + string(j.ID) + "/events",
			header: map[string]string{"Last-Event-ID": strconv.FormatUint(seqs[0], 10)}})
		expect(t, r, http.StatusOK)
		evs := readSSE(t, r.body)
		if len(evs) != 2 || evs[0].event != "progress" || evs[1].event != "completed" {
			t.Fatalf("resumed events %+v", evs)
		}
		r = e.do(req{method: http.MethodGet, path: "/api/v1/jobs/" + string(j.ID) + "/events",
			header: map[string]string{"Last-Event-ID": "abc"}})
		expectError(t, r, http.StatusBadRequest)
	})
	t.Run("Unknown", func(t *testing.T) {
		expectError(t, e.get("/api/v1/jobs/"+string(jobs.NewID(time.Now()))+"/events"), http.StatusNotFound)
	})
}

// TestJobEventsLateProgress: a progress event stored after an event of a
// later revision of the job (tasks on two workers publishing at once) is
// left out of the stream; one of an equal or later revision is sent.
func TestJobEventsLateProgress(t *testing.T) {
	e := newJobAPIEnv(t)
	j := e.newJob(jobs.KindImport, "repo-a", jobs.StateInProgress)
	rev := func(r uint64, done int64) func(*jobs.Event) {
		return func(ev *jobs.Event) { ev.Revision, ev.Progress.Done = r, done }
	}
	e.publishEvent(j, jobs.EventStarted, rev(2, 0))
	seen := e.publishEvent(j, jobs.EventProgress, rev(4, 20))
	e.publishEvent(j, jobs.EventProgress, rev(3, 10)) // late
	e.publishEvent(j, jobs.EventTaskDone, rev(5, 30))
	e.publishEvent(j, jobs.EventProgress, rev(6, 40))
	last := e.publishEvent(j, jobs.EventProgress, rev(5, 30)) // late, and the last stored
	e.newJobState(j.ID, jobs.StateCompleted)

	var got []string
	evs := readSSE(t, e.get("/api/v1/jobs/"+string(j.ID)+"/events").body)
	for _, ev := range evs {
		var je jobs.Event
		if err := json.Unmarshal([]byte(ev.data), &je); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%d", ev.event, je.Progress.Done))
	}
	// The stream ends after the last stored event, late or not, with the
	// final event built from the job's record.
	want := []string{"started:0", "progress:20", "task_done:30", "progress:40", "completed:0"}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v (last stored: %d)", got, want, last)
	}
	// A stream resumed after an event leaves out what is late against
	// that event too.
	r := e.do(req{method: http.MethodGet, path: "/api/v1/jobs/" + string(j.ID) + "/events",
		header: map[string]string{"Last-Event-ID": strconv.FormatUint(seen, 10)}})
	expect(t, r, http.StatusOK)
	got = got[:0]
	for _, ev := range readSSE(t, r.body) {
		got = append(got, ev.event)
	}
	if want := []string{"task_done", "progress", "completed"}; !slices.Equal(got, want) {
		t.Fatalf("resumed events %v, want %v", got, want)
	}
}

// newJobState moves job id to state and returns it.
func (e *jobAPIEnv) newJobState(id store.JobID, state jobs.State) *jobs.Job {
	e.t.Helper()
	j, err := e.jobs.Update(context.Background(), id, func(j *jobs.Job) error {
		j.State = state
		if state == jobs.StateFailed {
			j.Error = "source bucket vanished"
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// TestJobEventsExpired streams a finished job whose events are gone: one
// final event built from its record, without an id.
func TestJobEventsExpired(t *testing.T) {
	e := newJobAPIEnv(t)
	j := e.newJob(jobs.KindImport, "repo-a", jobs.StateCompleted)
	evs := readSSE(t, e.get("/api/v1/jobs/"+string(j.ID)+"/events").body)
	if len(evs) != 1 || evs[0].event != "completed" || evs[0].id != "" || !strings.Contains(evs[0].data, `"commit_id":"abc"`) {
		t.Fatalf("events %+v", evs)
	}
}

// liveStream opens the event stream of job id over a real connection.
func (e *jobAPIEnv) liveStream(id store.JobID, header map[string]string) (func() (sseEvent, error), func()) {
	e.t.Helper()
	if e.srv.Addr() == "" {
		if err := e.srv.Start(context.Background()); err != nil {
			e.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.srv.Addr()+"/api/v1/jobs/"+string(id)+"/events", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	hr.SetBasicAuth(e.keyID, e.secret)
	for k, v := range header {
		hr.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		e.t.Fatalf("events: status %d", res.StatusCode)
	}
	closeFn := func() {
		cancel()
		res.Body.Close()
	}
	e.t.Cleanup(closeFn)
	return newSSEReader(res.Body), closeFn
}

// nextEvent reads events, skipping comments, failing after timeout.
func nextEvent(t *testing.T, next func() (sseEvent, error)) sseEvent {
	t.Helper()
	type result struct {
		ev  sseEvent
		err error
	}
	ch := make(chan result, 1)
	go func() {
		for {
			ev, err := next()
			if err != nil || ev.event != "" {
				ch <- result{ev, err}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("read event: %v", r.err)
		}
		return r.ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}

// TestJobEventsLive follows a running job: replayed events first, then
// live ones as they are published, and the stream ends after the final
// event; a reconnect with Last-Event-ID resumes after the last event seen.
func TestJobEventsLive(t *testing.T) {
	e := newJobAPIEnv(t)
	j := e.newJob(jobs.KindImport, "repo-a", jobs.StateInProgress)
	e.publishEvent(j, jobs.EventStarted, nil)
	next, closeFirst := e.liveStream(j.ID, nil)
	if ev := nextEvent(t, next); ev.event != "started" {
		t.Fatalf("first event %+v", ev)
	}
	var lastID string
	for i := 1; i <= 3; i++ {
		e.publishEvent(j, jobs.EventProgress, func(ev *jobs.Event) { ev.Progress.Done = int64(i) })
		ev := nextEvent(t, next)
		if ev.event != "progress" || !strings.Contains(ev.data, fmt.Sprintf(`"done":%d`, i)) {
			t.Fatalf("live event %d: %+v", i, ev)
		}
		lastID = ev.id
	}
	closeFirst()

	// Resume: what was published while disconnected comes first.
	e.publishEvent(j, jobs.EventProgress, func(ev *jobs.Event) { ev.Progress.Done = 4 })
	next, _ = e.liveStream(j.ID, map[string]string{"Last-Event-ID": lastID})
	if ev := nextEvent(t, next); ev.event != "progress" || !strings.Contains(ev.data, `"done":4`) {
		t.Fatalf("resumed stream starts with %+v", ev)
	}
	j = e.newJobState(j.ID, jobs.StateFailed)
	e.publishEvent(j, jobs.EventFailed, nil)
	if ev := nextEvent(t, next); ev.event != "failed" || !strings.Contains(ev.data, "source bucket vanished") {
		t.Fatalf("final event %+v", ev)
	}
	if _, err := next(); err != io.EOF {
		t.Fatalf("after the final event: %v, want the end of the stream", err)
	}
}

// streamEnd reads the rest of a stream, comments left out, and fails the
// test unless it ends within timeout.
func streamEnd(t *testing.T, next func() (sseEvent, error), timeout time.Duration) []sseEvent {
	t.Helper()
	type result struct {
		evs []sseEvent
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var evs []sseEvent
		for {
			ev, err := next()
			if err != nil {
				ch <- result{evs, err}
				return
			}
			if ev.event != "" {
				evs = append(evs, ev)
			}
		}
	}()
	select {
	case r := <-ch:
		if r.err != io.EOF {
			t.Fatalf("read stream: %v", r.err)
		}
		return r.evs
	case <-time.After(timeout):
		t.Fatalf("the stream did not end within %s", timeout)
	}
	return nil
}

// TestJobEventsResumeAtEnd reconnects to a job's stream with the
// Last-Event-ID of its last event, or past it, as EventSource does after
// the stream closed: the stream ends at once with the job's final state,
// and, for a job running at the reconnect, as soon as the job ends.
func TestJobEventsResumeAtEnd(t *testing.T) {
	e := newJobAPIEnv(t)
	j := e.newJob(jobs.KindExport, "repo-a", jobs.StateInProgress)
	e.publishEvent(j, jobs.EventStarted, nil)
	j = e.newJobState(j.ID, jobs.StateCompleted)
	final := e.publishEvent(j, jobs.EventCompleted, nil)

	for _, tc := range []struct{ name, lastID string }{
		{"FinalEvent", strconv.FormatUint(final, 10)},
		{"PastTheEnd", "9999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, _ := e.liveStream(j.ID, map[string]string{"Last-Event-ID": tc.lastID})
			evs := streamEnd(t, next, 5*time.Second)
			if len(evs) != 1 || evs[0].event != "completed" || evs[0].id != "" {
				t.Fatalf("events %+v, want one completed event without an id", evs)
			}
		})
	}
	t.Run("RunningPastTheEnd", func(t *testing.T) {
		api.SetSSEHeartbeat(e.srv, 100*time.Millisecond)
		t.Cleanup(func() { api.SetSSEHeartbeat(e.srv, 0) })
		j := e.newJob(jobs.KindImport, "repo-a", jobs.StateInProgress)
		e.publishEvent(j, jobs.EventStarted, nil)
		next, _ := e.liveStream(j.ID, map[string]string{"Last-Event-ID": "9999"})
		e.newJobState(j.ID, jobs.StateFailed) // its events all precede 9999
		evs := streamEnd(t, next, 5*time.Second)
		if len(evs) != 1 || evs[0].event != "failed" || evs[0].id != "" {
			t.Fatalf("events %+v, want one failed event without an id", evs)
		}
	})
}

// TestJobEventsHeartbeatAndEnd checks the heartbeat comments, the end of
// the stream of a job that ended without a final event, and that a client
// going away ends its stream on the server.
func TestJobEventsHeartbeatAndEnd(t *testing.T) {
	e := newJobAPIEnv(t)
	api.SetSSEHeartbeat(e.srv, 100*time.Millisecond)

	t.Run("EndedWithoutFinalEvent", func(t *testing.T) {
		j := e.newJob(jobs.KindImport, "repo-a", jobs.StateInProgress)
		next, _ := e.liveStream(j.ID, nil)
		sawHeartbeat := false
		for !sawHeartbeat {
			ev, err := next()
			if err != nil {
				t.Fatal(err)
			}
			sawHeartbeat = ev.data == ": heartbeat"
		}
		e.newJobState(j.ID, jobs.StateFailed) // no event published
		if ev := nextEvent(t, next); ev.event != "failed" || ev.id != "" {
			t.Fatalf("final event %+v", ev)
		}
		if _, err := next(); err != io.EOF {
			t.Fatalf("after the final event: %v", err)
		}
	})
	t.Run("ClientGone", func(t *testing.T) {
		j := e.newJob(jobs.KindImport, "repo-a", jobs.StateInProgress)
		_, closeStream := e.liveStream(j.ID, nil)
		deadline := time.Now().Add(5 * time.Second)
		for api.OpenEventStreams(e.srv) != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("%d open streams, want 1", api.OpenEventStreams(e.srv))
			}
			time.Sleep(10 * time.Millisecond)
		}
		closeStream()
		for api.OpenEventStreams(e.srv) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the stream outlived its client: %d open", api.OpenEventStreams(e.srv))
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestJobEndToEnd submits a job through the API, has a real worker run it,
// follows it with the event stream and reads its final state.
func TestJobEndToEnd(t *testing.T) {
	e := newJobAPIEnv(t)
	r, err := workers.New(workers.Config{WorkerID: "w1", ProgressInterval: 20 * time.Millisecond, FetchMaxWait: 200 * time.Millisecond},
		workers.Deps{Broker: e.broker, Jobs: e.jobs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	if err := r.Register(&e2eHandler{release: release}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })

	res := e.postJSON("/api/v1/repositories/repo-a/test-jobs", map[string]any{"units": 5})
	expect(t, res, http.StatusAccepted)
	var acc struct {
		ID store.JobID `json:"id"`
	}
	res.json(t, &acc)
	next, _ := e.liveStream(acc.ID, nil)
	close(release)
	var types []string
	for {
		ev := nextEvent(t, next)
		types = append(types, ev.event)
		if ev.event == "completed" || ev.event == "failed" {
			break
		}
	}
	if types[0] != "submitted" || types[1] != "started" || types[len(types)-1] != "completed" {
		t.Fatalf("event types %v", types)
	}
	got := e.get("/api/v1/jobs/" + string(acc.ID))
	expect(t, got, http.StatusOK)
	var b jobJSON
	got.json(t, &b)
	if b.State != "COMPLETED" || b.Progress.Done != 5 || string(b.Result) != `{"units":5}` {
		t.Fatalf("job %s", got.body)
	}
}

// e2eHandler counts the units its request asks for, then completes.
type e2eHandler struct{ release chan struct{} }

func (h *e2eHandler) Kind() jobs.Kind { return testJobKind }

func (h *e2eHandler) Run(ctx context.Context, rt *workers.Run) error {
	<-h.release
	var req struct {
		Units int64 `json:"units"`
	}
	if err := json.Unmarshal(rt.Job().Request, &req); err != nil {
		return workers.Permanent(err)
	}
	for range req.Units {
		rt.Progress(ctx, func(p *jobs.Progress) { p.Done++ })
		time.Sleep(30 * time.Millisecond)
	}
	return rt.Complete(ctx, req)
}
