package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakeq/lakeq/api"
	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/auth"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers"
	"github.com/lakeq/lakeq/workers/importer"
)

// importEnv is an API server with jobs (embedded NATS, embedded KV), S3
// storage on a real MinIO, an allowed local import root, and an import
// worker that can be started.
type importEnv struct {
	*env
	jobs     *jobs.Store
	broker   *broker.Broker
	kv       *bolt.Store
	minio    *miniotest.Server
	allowed  string // an allowed local import root
	natsURL  string
	started  bool
	resolver *block.Resolver
}

func newImportEnv(t *testing.T) *importEnv {
	t.Helper()
	ms := miniotest.Start(t)
	ms.MakeBucket(t, "lake")
	ms.MakeBucket(t, "source")
	dir := t.TempDir()
	kvs, err := bolt.Open(filepath.Join(dir, "kv.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kvs.Close() })
	dataDir := filepath.Join(dir, "data")
	allowed := filepath.Join(dir, "allowed")
	for _, d := range []string{filepath.Join(dataDir, testBucket), allowed} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := local.New(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ls.Close() })
	res, err := block.NewResolver(block.ResolverConfig{
		Local: ls, S3: ms.NewStore(t), AllowedRoots: []string{allowed, dataDir},
		OpenLocal: func(dir string) (block.Store, error) { return local.New(dir) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Close() })
	trees, err := tree.NewManager(tree.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New(kvs, trees, res, graph.Config{})
	as := auth.New(kvs)
	keyID, secret, err := as.CreateCredentials(context.Background(), "tester")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := ns.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Stop(context.Background()) })
	b, err := broker.Connect(ctx, broker.Config{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	js := jobs.NewStore(kvs, nil)
	logs := &lockedWriter{}
	srv, err := api.New(api.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))},
		api.Deps{Graph: g, Auth: as, Registry: prometheus.NewRegistry(), Jobs: js, Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	e := &env{t: t, srv: srv, graph: g, auth: as, keyID: keyID, secret: secret, logs: logs}
	return &importEnv{env: e, jobs: js, broker: b, kv: kvs, minio: ms, allowed: allowed, natsURL: ns.ClientURL(), resolver: res}
}

// startWorker starts an in-process import worker.
func (e *importEnv) startWorker() {
	e.t.Helper()
	t := e.t.(*testing.T)
	r, err := workers.New(workers.Config{WorkerID: "api-test", ExpireAfter: -1, FetchMaxWait: 200 * time.Millisecond,
		ProgressInterval: 100 * time.Millisecond, CancelCheckInterval: 50 * time.Millisecond},
		workers.Deps{Broker: e.broker, Jobs: e.jobs, Graph: e.graph})
	if err != nil {
		t.Fatal(err)
	}
	h, err := importer.New(importer.Config{TempDir: t.TempDir()}, importer.Deps{Graph: e.graph, KV: e.kv})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(h); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
}

// lastEvent returns the type of the last event published for job id.
func (e *importEnv) lastEvent(id store.JobID) jobs.EventType {
	e.t.Helper()
	j, err := e.jobs.Get(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	subject, err := broker.EventSubject(j.Repo, string(j.Kind), j.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := e.broker.JetStream().Stream(e.t.Context(), broker.StreamEvents)
	if err != nil {
		e.t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(e.t.Context(), subject)
	if err != nil {
		e.t.Fatalf("last event of job %s: %v", id, err)
	}
	var ev jobs.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		e.t.Fatal(err)
	}
	return ev.Type
}

// jobsQueued returns the last sequence of LAKEQ_JOBS: it moves with every
// job published.
func (e *importEnv) jobsQueued() uint64 {
	e.t.Helper()
	st, err := e.broker.JetStream().Stream(e.t.Context(), broker.StreamJobs)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.LastSeq
}

// putSource writes small objects into the source bucket.
func (e *importEnv) putSource(keys ...string) {
	e.t.Helper()
	st := e.minio.NewStore(e.t)
	for _, k := range keys {
		if _, err := st.Put(context.Background(), "source", k, bytes.NewReader([]byte(k)), int64(len(k)), block.PutOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
}

const importPath = "/api/v1/repositories/imp/branches/main/import"

type importStatus struct {
	Completed       bool      `json:"completed"`
	UpdateTime      time.Time `json:"update_time"`
	IngestedObjects int64     `json:"ingested_objects"`
	MetaRangeID     string    `json:"metarange_id"`
	Commit          *struct {
		ID          string            `json:"id"`
		Message     string            `json:"message"`
		Metadata    map[string]string `json:"metadata"`
		MetaRangeID string            `json:"meta_range_id"`
	} `json:"commit"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func prefixImport(path, dest string) map[string]any {
	return map[string]any{
		"paths":  []map[string]any{{"type": "common_prefix", "path": path, "destination": dest}},
		"commit": map[string]any{"message": "import " + path, "metadata": map[string]string{"by": "test"}},
	}
}

// TestImportAPI starts an import through the API, follows it to its
// commit, and checks that cancelling a finished import is a conflict.
func TestImportAPI(t *testing.T) {
	e := newImportEnv(t)
	e.startWorker()
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "imp", "storage_namespace": "s3://lake/imp/"}), http.StatusCreated)
	e.putSource("events/2026/a.json", "events/2026/b.json", "events/2027/c.json", "events/top")

	r := e.postJSON(importPath, prefixImport("s3://source/events/", "ev/"))
	expect(t, r, http.StatusAccepted)
	var acc struct{ ID string }
	r.json(t, &acc)
	if acc.ID == "" {
		t.Fatalf("no id in %s", r.body)
	}
	var st importStatus
	deadline := time.Now().Add(time.Minute)
	for {
		r := e.get(importPath + "?id=" + acc.ID)
		expect(t, r, http.StatusOK)
		r.json(t, &st)
		if st.Completed || st.Error != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !st.Completed || st.Error != nil || st.Commit == nil {
		t.Fatalf("status %+v", st)
	}
	if st.IngestedObjects != 4 || st.MetaRangeID == "" || st.UpdateTime.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if st.Commit.Message != "import s3://source/events/" || st.Commit.Metadata["by"] != "test" || st.Commit.Metadata[jobs.MetadataJobID] != acc.ID {
		t.Fatalf("commit %+v", st.Commit)
	}
	var obj objectJSON
	r = e.get("/api/v1/repositories/imp/refs/main/objects/stat?path=ev/2026/a.json")
	expect(t, r, http.StatusOK)
	r.json(t, &obj)
	if obj.PhysicalAddress != "s3://source/events/2026/a.json" {
		t.Fatalf("imported object's address %q", obj.PhysicalAddress)
	}
	// Reading an imported object reads its source; a source rewritten
	// with another length since is refused with a status, not served
	// short of the length the entry promises.
	r = e.get("/api/v1/repositories/imp/refs/main/objects?path=ev/2026/b.json")
	expect(t, r, http.StatusOK)
	if string(r.body) != "events/2026/b.json" {
		t.Fatalf("imported object reads %q", r.body)
	}
	st3 := e.minio.NewStore(t)
	if _, err := st3.Put(t.Context(), "source", "events/2026/b.json", strings.NewReader("rewritten"), int64(len("rewritten")), block.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r = e.get("/api/v1/repositories/imp/refs/main/objects?path=ev/2026/b.json")
	expectError(t, r, http.StatusConflict)
	if !strings.Contains(string(r.body), "changed") {
		t.Fatalf("read of a changed source: %s", r.body)
	}
	// So is a range of it, inside the new length or past it.
	for _, rng := range []string{"bytes=0-3", "bytes=12-17"} {
		r = e.do(req{method: http.MethodGet, path: "/api/v1/repositories/imp/refs/main/objects?path=ev/2026/b.json",
			header: map[string]string{"Range": rng}})
		expectError(t, r, http.StatusConflict)
	}
	expectError(t, e.del(importPath+"?id="+acc.ID), http.StatusConflict)
}

// TestImportAPICancel cancels a queued import (no worker runs): 204, its
// status reports the cancellation and its canceled event is published.
func TestImportAPICancel(t *testing.T) {
	e := newImportEnv(t)
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "imp", "storage_namespace": "s3://lake/imp/"}), http.StatusCreated)
	e.putSource("x/1")
	r := e.postJSON(importPath, prefixImport("s3://source/x/", "x/"))
	expect(t, r, http.StatusAccepted)
	var acc struct{ ID string }
	r.json(t, &acc)
	expect(t, e.del(importPath+"?id="+acc.ID), http.StatusNoContent)
	var st importStatus
	r = e.get(importPath + "?id=" + acc.ID)
	expect(t, r, http.StatusOK)
	r.json(t, &st)
	if st.Completed || st.Error == nil || !strings.Contains(st.Error.Message, "cancel") {
		t.Fatalf("status after cancel %+v", st)
	}
	// Its cancellation is published on the job's event subject, for
	// subscribers of NATS as much as of the API's stream.
	if typ := e.lastEvent(store.JobID(acc.ID)); typ != jobs.EventCanceled {
		t.Fatalf("last event of an import canceled before it started: %q, want %q", typ, jobs.EventCanceled)
	}
	expectError(t, e.del(importPath+"?id="+acc.ID), http.StatusConflict)
	// Status and cancel name the import by repository and branch too.
	expectError(t, e.get("/api/v1/repositories/imp/branches/other/import?id="+acc.ID), http.StatusNotFound)
	expectError(t, e.get(importPath+"?id=01jzzzzzzzzzzzzzzzzzzzzzzz"), http.StatusNotFound)
	expectError(t, e.get(importPath), http.StatusBadRequest)
	expectError(t, e.get(importPath+"?id=not-an-id"), http.StatusBadRequest)
}

// TestImportAPIBadInput: each bad request gets a clear 4xx and queues
// nothing.
func TestImportAPIBadInput(t *testing.T) {
	e := newImportEnv(t)
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "imp", "storage_namespace": "s3://lake/imp/"}), http.StatusCreated)
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "loc", "storage_namespace": "local://" + testBucket + "/loc/"}), http.StatusCreated)
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "other", "storage_namespace": "s3://lake/other/"}), http.StatusCreated)
	e.putSource("x/1")
	dataDir := filepath.ToSlash(filepath.Dir(e.allowed)) + "/data"
	withPath := func(typ, path, dest string) map[string]any {
		return map[string]any{"paths": []map[string]any{{"type": typ, "path": path, "destination": dest}}, "commit": map[string]any{"message": "m"}}
	}
	tests := []struct {
		name     string
		path     string
		body     any
		status   int
		contains string
	}{
		{"missing bucket", importPath, prefixImport("s3://no-such-bucket/x/", "x/"), http.StatusBadRequest, "no-such-bucket"},
		{"malformed uri", importPath, prefixImport("s3:/source/x/", "x/"), http.StatusBadRequest, "s3:/source/x/"},
		{"unknown scheme", importPath, prefixImport("ftp://source/x/", "x/"), http.StatusBadRequest, "ftp"},
		{"bad bucket name", importPath, prefixImport("s3://Bad_Bucket/x/", "x/"), http.StatusBadRequest, "Bad_Bucket"},
		{"missing branch", "/api/v1/repositories/imp/branches/nope/import", prefixImport("s3://source/x/", "x/"), http.StatusNotFound, "nope"},
		{"missing repository", "/api/v1/repositories/nope/branches/main/import", prefixImport("s3://source/x/", "x/"), http.StatusNotFound, "nope"},
		{"inside the namespace", importPath, prefixImport("s3://lake/imp/data/", "x/"), http.StatusBadRequest, "storage namespace"},
		{"holds the namespace", importPath, prefixImport("s3://lake/", "x/"), http.StatusBadRequest, "storage namespace"},
		{"local namespace by file path", "/api/v1/repositories/loc/branches/main/import", prefixImport("local://"+filepath.ToSlash(filepath.Dir(e.allowed))+"/data/"+testBucket+"/loc/x/", "x/"), http.StatusBadRequest, "storage namespace"},
		{"inside another repository's namespace", importPath, prefixImport("s3://lake/other/data/", "x/"), http.StatusBadRequest, "repository other"},
		{"inside another local namespace", importPath, prefixImport("local://"+testBucket+"/loc/x/", "x/"), http.StatusBadRequest, "repository loc"},
		{"another local namespace by file path", importPath, prefixImport("local://"+dataDir+"/"+testBucket+"/loc/x/", "x/"), http.StatusBadRequest, "repository loc"},
		{"object inside another namespace", importPath, withPath("object", "s3://lake/other/data/a", "a"), http.StatusBadRequest, "repository other"},
		{"holds another namespace", importPath, prefixImport("s3://lake/oth", "x/"), http.StatusBadRequest, "repository other"},
		{"later path inside another namespace", importPath, map[string]any{"paths": []map[string]any{
			{"type": "common_prefix", "path": "s3://source/x/", "destination": "x/"},
			{"type": "common_prefix", "path": "s3://lake/other/", "destination": "y/"}}, "commit": map[string]any{"message": "m"}},
			http.StatusBadRequest, "paths[1]"},
		{"empty prefix", importPath, prefixImport("s3://source/no-such-prefix/", "x/"), http.StatusBadRequest, "has no objects"},
		{"empty local prefix", importPath, prefixImport("local://"+filepath.ToSlash(e.allowed)+"/none/", "x/"), http.StatusBadRequest, "has no objects"},
		{"local path not allowed", importPath, prefixImport("local:///etc/", "x/"), http.StatusBadRequest, "outside"},
		{"object source missing", importPath, withPath("object", "s3://source/x/none", "none"), http.StatusBadRequest, "does not exist"},
		{"object source is a prefix", importPath, withPath("object", "s3://source/x/", "x"), http.StatusBadRequest, "one object"},
		{"object without destination", importPath, withPath("object", "s3://source/x/1", ""), http.StatusBadRequest, "destination"},
		{"unknown type", importPath, withPath("folder", "s3://source/x/", "x/"), http.StatusBadRequest, "folder"},
		{"destination too long", importPath, withPath("common_prefix", "s3://source/x/", strings.Repeat("d", 2000)), http.StatusBadRequest, "destination"},
		{"no paths", importPath, map[string]any{"paths": []any{}, "commit": map[string]any{"message": "m"}}, http.StatusBadRequest, "no paths"},
		{"no commit", importPath, map[string]any{"paths": []map[string]any{{"type": "common_prefix", "path": "s3://source/x/", "destination": "x/"}}}, http.StatusBadRequest, "commit"},
		{"reserved metadata", importPath, map[string]any{"paths": []map[string]any{{"type": "common_prefix", "path": "s3://source/x/", "destination": "x/"}},
			"commit": map[string]any{"message": "m", "metadata": map[string]string{"lakeq.job_id": "x"}}}, http.StatusBadRequest, "reserved"},
		{"not json", importPath, "{", http.StatusBadRequest, ""},
	}
	before := e.jobsQueued()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.with(t).postJSON(tc.path, tc.body)
			expectError(t, r, tc.status)
			if msg := r.message(t); !strings.Contains(msg, tc.contains) {
				t.Fatalf("message %q does not mention %q", msg, tc.contains)
			}
		})
	}
	if after := e.jobsQueued(); after != before {
		t.Fatalf("%d jobs queued by bad requests", after-before)
	}
	for _, repo := range []string{"imp", "loc", "other", "nope"} {
		js, _, err := e.jobs.List(t.Context(), store.RepoID(repo), jobs.Filter{}, "", 10)
		if err != nil || len(js) != 0 {
			t.Fatalf("jobs of %s: %d (%v)", repo, len(js), err)
		}
	}
}

// TestImportAPIEmptySource: a prefix source without objects (a mistyped
// prefix) is refused at submission, as its import would empty its
// destination, and queues nothing; a prefix with objects is accepted, as
// are raw prefixes that only some keys start with.
func TestImportAPIEmptySource(t *testing.T) {
	e := newImportEnv(t)
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "imp", "storage_namespace": "s3://lake/imp/"}), http.StatusCreated)
	e.putSource("events/2026/a.json")
	before := e.jobsQueued()
	for _, src := range []string{"s3://source/evnts/", "s3://source/events/2027/", "s3://source/events/2026/a.json/"} {
		r := e.postJSON(importPath, prefixImport(src, "ev/"))
		expectError(t, r, http.StatusBadRequest)
		if msg := r.message(t); !strings.Contains(msg, "has no objects") || !strings.Contains(msg, src) {
			t.Fatalf("%s: message %q", src, msg)
		}
	}
	if e.jobsQueued() != before {
		t.Fatal("an import of an empty source was queued")
	}
	for i, src := range []string{"s3://source/events/", "s3://source/ev", "s3://source/"} {
		expect(t, e.postJSON(importPath, prefixImport(src, "ev/")), http.StatusAccepted)
		if got := e.jobsQueued(); got != before+uint64(i)+1 {
			t.Fatalf("%s: %d jobs queued, want %d", src, got-before, i+1)
		}
	}
}

// TestImportAPIDirtyBranch: uncommitted changes stop an import (409)
// unless it is forced.
func TestImportAPIDirtyBranch(t *testing.T) {
	e := newImportEnv(t)
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "imp", "storage_namespace": "s3://lake/imp/"}), http.StatusCreated)
	e.putSource("x/1")
	e.upload("imp", "main", "staged.txt", "uncommitted")
	before := e.jobsQueued()
	r := e.postJSON(importPath, prefixImport("s3://source/x/", "x/"))
	expectError(t, r, http.StatusConflict)
	if !strings.Contains(r.message(t), "uncommitted") {
		t.Fatalf("message %q", r.message(t))
	}
	if e.jobsQueued() != before {
		t.Fatal("a refused import was queued")
	}
	body := prefixImport("s3://source/x/", "x/")
	body["force"] = true
	expect(t, e.postJSON(importPath, body), http.StatusAccepted)
	if e.jobsQueued() != before+1 {
		t.Fatal("the forced import was not queued")
	}
}

// TestImportAPILocalSource imports from an allowed local directory.
func TestImportAPILocalSource(t *testing.T) {
	e := newImportEnv(t)
	e.startWorker()
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "imp", "storage_namespace": "s3://lake/imp/"}), http.StatusCreated)
	for _, f := range []string{"in/a.txt", "in/sub/b.txt"} {
		p := filepath.Join(e.allowed, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := "local://" + e.allowed + "/in/"
	r := e.postJSON(importPath, prefixImport(src, "files/"))
	expect(t, r, http.StatusAccepted)
	var acc struct{ ID string }
	r.json(t, &acc)
	var st importStatus
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		e.get(importPath+"?id="+url.QueryEscape(acc.ID)).json(t, &st)
		if st.Completed || st.Error != nil {
			break
		}
	}
	if !st.Completed {
		t.Fatalf("status %+v", st)
	}
	var obj objectJSON
	r = e.get("/api/v1/repositories/imp/refs/main/objects/stat?path=files/sub/b.txt")
	expect(t, r, http.StatusOK)
	r.json(t, &obj)
	if want := "local://" + e.allowed + "/in/sub/b.txt"; obj.PhysicalAddress != want {
		t.Fatalf("address %q, want %q", obj.PhysicalAddress, want)
	}
	r = e.get("/api/v1/repositories/imp/refs/main/objects?path=files/a.txt")
	expect(t, r, http.StatusOK)
	if string(r.body) != "in/a.txt" {
		t.Fatalf("read %q", r.body)
	}
}
