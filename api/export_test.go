package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakeq/lakeq/api"
	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/auth"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/tree"
)

// newJobsEnv is an API server with a job store and a broker (embedded
// NATS), whose resolver serves s3:// from s3s, local://lakeq/… from a
// local blockstore, and local:/// paths under root.
func newJobsEnv(t *testing.T, s3s block.Store, root string) (*env, *jobs.Store) {
	t.Helper()
	ctx := context.Background()
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
	res, err := block.NewResolver(block.ResolverConfig{Local: ls, S3: s3s, AllowedRoots: []string{root},
		OpenLocal: func(d string) (block.Store, error) { return local.New(d) }})
	if err != nil {
		t.Fatal(err)
	}
	g := graph.New(kvs, trees, res, graph.Config{})
	as := auth.New(kvs)
	keyID, secret, err := as.CreateCredentials(ctx, "tester")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Stop(context.Background()) })
	brk, err := broker.Connect(ctx, broker.Config{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = brk.Close(context.Background()) })
	js := jobs.NewStore(kvs, nil)
	logs := &lockedWriter{}
	reg := prometheus.NewRegistry()
	srv, err := api.New(api.Config{Logger: slog.New(slog.NewJSONHandler(logs, nil))},
		api.Deps{Graph: g, Auth: as, Registry: reg, Jobs: js, Broker: brk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return &env{t: t, srv: srv, graph: g, auth: as, registry: reg, keyID: keyID, secret: secret, logs: logs}, js
}

// TestExportSubmit checks what POST /repositories/{repository}/export
// accepts, and the clear 4xx of everything it refuses (nothing is queued
// then).
func TestExportSubmit(t *testing.T) {
	minio := miniotest.Start(t)
	minio.MakeBucket(t, "lake")
	minio.MakeBucket(t, "out")
	root := t.TempDir()
	e, js := newJobsEnv(t, minio.NewStore(t), root)
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "repo1", "storage_namespace": "s3://lake/repos/repo1"}), http.StatusCreated)
	expect(t, e.upload("repo1", "main", "a/_SUCCESS", "x"), http.StatusCreated)
	first := e.commit("repo1", "main", "first")
	expect(t, e.upload("repo1", "main", "a/b.csv", "y"), http.StatusCreated)
	head := e.commit("repo1", "main", "second")
	const path = "/api/v1/repositories/repo1/export"

	accepted := []struct {
		name       string
		body       map[string]any
		commit     string
		prevCommit string
	}{
		{"branch head", map[string]any{"ref": "main", "destination": "s3://out/x/"}, head, ""},
		{"commit", map[string]any{"commit_id": first, "destination": "s3://out/x"}, first, ""},
		{"ref expression", map[string]any{"ref": "main~1", "destination": "s3://out/"}, first, ""},
		{"diff", map[string]any{"ref": "main", "prev_commit_id": first, "destination": "s3://out/x/"}, head, first},
		{"local path", map[string]any{"ref": "main", "destination": "local://" + root + "/exp"}, head, ""},
		{"local bucket", map[string]any{"ref": "main", "destination": "local://" + testBucket + "/exports/"}, head, ""},
		{"rounds", map[string]any{"ref": "main", "destination": "s3://out/x/", "parallelism": 4,
			"rounds": []map[string]any{{"pattern": `\.done$`, "round": 2}}}, head, ""},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			r := e.postJSON(path, tt.body)
			expect(t, r, http.StatusAccepted)
			var out struct {
				ID string `json:"id"`
			}
			r.json(t, &out)
			j, err := js.Get(context.Background(), store.JobID(out.ID))
			if err != nil {
				t.Fatal(err)
			}
			var req jobs.ExportRequest
			if err := json.Unmarshal(j.Request, &req); err != nil {
				t.Fatal(err)
			}
			if j.Kind != jobs.KindExport || j.Repo != "repo1" || string(req.CommitID) != tt.commit ||
				string(req.PrevCommitID) != tt.prevCommit || req.Submitter != "tester" {
				t.Fatalf("job %+v request %+v", j, req)
			}
			var got struct {
				State string `json:"state"`
			}
			e.get("/api/v1/jobs/"+out.ID).json(t, &got)
			if got.State != string(jobs.StateSubmitted) {
				t.Fatalf("job state %q", got.State)
			}
		})
	}

	missing := strings.Repeat("ab", 32)
	refused := []struct {
		name   string
		path   string
		body   any
		status int
		msg    string
	}{
		{"no ref", path, map[string]any{"destination": "s3://out/"}, http.StatusBadRequest, "ref"},
		{"ref and commit", path, map[string]any{"ref": "main", "commit_id": head, "destination": "s3://out/"}, http.StatusBadRequest, "not both"},
		{"no destination", path, map[string]any{"ref": "main"}, http.StatusBadRequest, "destination"},
		{"bad scheme", path, map[string]any{"ref": "main", "destination": "gs://out/x/"}, http.StatusBadRequest, "scheme"},
		{"bad bucket name", path, map[string]any{"ref": "main", "destination": "s3://Out_/x/"}, http.StatusBadRequest, "bucket"},
		{"no such bucket", path, map[string]any{"ref": "main", "destination": "s3://no-such-bucket/x/"}, http.StatusBadRequest, "does not exist"},
		{"inside the namespace", path, map[string]any{"ref": "main", "destination": "s3://lake/repos/repo1/out/"}, http.StatusBadRequest, "namespace"},
		{"outside allowed roots", path, map[string]any{"ref": "main", "destination": "local:///etc/lakeq/"}, http.StatusBadRequest, "outside"},
		{"bad pattern", path, map[string]any{"ref": "main", "destination": "s3://out/", "rounds": []map[string]any{{"pattern": "(", "round": 1}}}, http.StatusBadRequest, "pattern"},
		{"bad parallelism", path, map[string]any{"ref": "main", "destination": "s3://out/", "parallelism": 5000}, http.StatusBadRequest, "parallelism"},
		{"not json", path, "{", http.StatusBadRequest, "invalid request body"},
		{"missing repository", "/api/v1/repositories/nope/export", map[string]any{"ref": "main", "destination": "s3://out/"}, http.StatusNotFound, "not found"},
		{"missing ref", path, map[string]any{"ref": "nope", "destination": "s3://out/"}, http.StatusNotFound, "not found"},
		{"missing commit", path, map[string]any{"commit_id": missing, "destination": "s3://out/"}, http.StatusNotFound, "not found"},
		{"missing prev commit", path, map[string]any{"ref": "main", "prev_commit_id": missing, "destination": "s3://out/"}, http.StatusNotFound, "not found"},
	}
	before, _, err := js.List(context.Background(), "repo1", jobs.Filter{}, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := e.sendJSON(http.MethodPost, tt.path, tt.body)
			expectError(t, r, tt.status)
			if msg := r.message(t); !strings.Contains(msg, tt.msg) {
				t.Fatalf("message %q, want it to mention %q", msg, tt.msg)
			}
		})
	}
	after, _, err := js.List(context.Background(), "repo1", jobs.Filter{}, "", 1000)
	if err != nil || len(after) != len(before) {
		t.Fatalf("refused exports queued jobs: %d before, %d after (%v)", len(before), len(after), err)
	}
}

// TestExportUnreachableDestination: an S3 endpoint that does not answer
// is a 400 at submission.
func TestExportUnreachableDestination(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	dead, err := s3.New(s3.Config{Endpoint: addr, AccessKeyID: "k", SecretAccessKey: "s", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newJobsEnv(t, dead, t.TempDir())
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "repo1", "storage_namespace": "local://" + testBucket + "/repo1"}), http.StatusCreated)
	r := e.postJSON("/api/v1/repositories/repo1/export", map[string]any{"ref": "main", "destination": "s3://out/x/"})
	expectError(t, r, http.StatusBadRequest)
	if msg := r.message(t); !strings.Contains(msg, "not reachable") {
		t.Fatalf("message %q", msg)
	}
}

// TestExportRuleRoutes sets, reads, replaces and deletes a branch's
// continuous-export rule.
func TestExportRuleRoutes(t *testing.T) {
	minio := miniotest.Start(t)
	minio.MakeBucket(t, "lake")
	minio.MakeBucket(t, "out")
	e, _ := newJobsEnv(t, minio.NewStore(t), t.TempDir())
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "repo1", "storage_namespace": "s3://lake/repo1"}), http.StatusCreated)
	expect(t, e.upload("repo1", "main", "a", "x"), http.StatusCreated)
	head := e.commit("repo1", "main", "first")
	const path = "/api/v1/repositories/repo1/branches/main/export_rule"

	expectError(t, e.get(path), http.StatusNotFound)
	r := e.sendJSON(http.MethodPut, path, map[string]any{"destination": "s3://out/mirror"})
	expect(t, r, http.StatusCreated)
	var rule jobs.ExportRule
	r.json(t, &rule)
	if rule.LastExported != store.CommitID(head) || rule.Destination != "s3://out/mirror" || rule.Branch != "main" {
		t.Fatalf("rule %+v", rule)
	}
	expect(t, e.upload("repo1", "main", "b", "y"), http.StatusCreated)
	e.commit("repo1", "main", "second")
	r = e.sendJSON(http.MethodPut, path, map[string]any{"destination": "s3://out/other/", "parallelism": 4})
	expect(t, r, http.StatusOK)
	r.json(t, &rule)
	if rule.LastExported != store.CommitID(head) || rule.Destination != "s3://out/other/" || rule.Parallelism != 4 {
		t.Fatalf("replaced rule %+v: it must keep its position", rule)
	}
	r = e.get(path)
	expect(t, r, http.StatusOK)

	for _, tt := range []struct {
		name, path string
		body       any
		status     int
	}{
		{"bad destination", path, map[string]any{"destination": "ftp://x/"}, http.StatusBadRequest},
		{"no such bucket", path, map[string]any{"destination": "s3://no-such-bucket/"}, http.StatusBadRequest},
		{"bad pattern", path, map[string]any{"destination": "s3://out/", "rounds": []map[string]any{{"pattern": "[", "round": 1}}}, http.StatusBadRequest},
		{"missing branch", "/api/v1/repositories/repo1/branches/nope/export_rule", map[string]any{"destination": "s3://out/"}, http.StatusNotFound},
		{"missing repository", "/api/v1/repositories/nope/branches/main/export_rule", map[string]any{"destination": "s3://out/"}, http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			expectError(t, e.sendJSON(http.MethodPut, tt.path, tt.body), tt.status)
		})
	}
	// A repository is not created inside the rule's destination, where
	// every export would write over its files, nor over it.
	for _, ns := range []string{"s3://out/other/", "s3://out/other/repo2/", "s3://out/"} {
		r := e.postJSON("/api/v1/repositories", map[string]any{"name": "repo2", "storage_namespace": ns})
		expectError(t, r, http.StatusBadRequest)
		if !strings.Contains(string(r.body), "repo1/main") {
			t.Fatalf("creating a repository at %s: %s does not name the export rule", ns, r.body)
		}
	}
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "repo2", "storage_namespace": "s3://out/others/"}), http.StatusCreated)
	expect(t, e.del(path), http.StatusNoContent)
	expectError(t, e.get(path), http.StatusNotFound)
	expectError(t, e.del(path), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/repo1/branches/nope/export_rule"), http.StatusNotFound)
}

// TestExportIntoAnyNamespace: an export never writes into a repository's
// storage namespace, its own or another's, nor over a prefix that holds
// one, whichever URI names the place (local:///path aliases included);
// the export rule is held to the same. Nothing is queued then.
func TestExportIntoAnyNamespace(t *testing.T) {
	e := newImportEnv(t)
	for name, ns := range map[string]string{
		"victim":   "local://" + testBucket + "/victim/",
		"attacker": "local://" + testBucket + "/attacker/",
		"s3victim": "s3://lake/s3victim/",
	} {
		expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": name, "storage_namespace": ns}), http.StatusCreated)
	}
	e.upload("victim", "main", "committed.csv", "victim's data")
	e.commit("victim", "main", "victim's commit")
	dataDir := filepath.ToSlash(filepath.Dir(e.allowed)) + "/data"
	const path = "/api/v1/repositories/attacker/export"
	const rulePath = "/api/v1/repositories/attacker/branches/main/export_rule"

	before := e.jobsQueued()
	for _, tt := range []struct {
		name, destination, msg string
	}{
		{"own namespace", "local://" + testBucket + "/attacker/out/", "the repository's storage namespace"},
		{"inside another's data", "local://" + testBucket + "/victim/data/", "repository victim"},
		{"another's namespace", "local://" + testBucket + "/victim", "repository victim"},
		{"another's namespace by file path", "local://" + dataDir + "/" + testBucket + "/victim/data/", "repository victim"},
		{"another's s3 namespace", "s3://lake/s3victim/data/x/", "repository s3victim"},
		{"holds another's namespace", "s3://lake/", "repository s3victim"},
		{"holds namespaces by file path", "local://" + dataDir + "/", "storage namespace"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, send := range []func() response{
				func() response { return e.postJSON(path, map[string]any{"ref": "main", "destination": tt.destination}) },
				func() response {
					return e.sendJSON(http.MethodPut, rulePath, map[string]any{"destination": tt.destination})
				},
			} {
				r := send()
				expectError(t, r, http.StatusBadRequest)
				if msg := r.message(t); !strings.Contains(msg, tt.msg) {
					t.Fatalf("message %q, want it to mention %q", msg, tt.msg)
				}
			}
		})
	}
	if after := e.jobsQueued(); after != before {
		t.Fatalf("%d refused exports queued", after-before)
	}
	expectError(t, e.get(rulePath), http.StatusNotFound)

	// Neighbours of a namespace are no part of it.
	for _, dest := range []string{"local://" + testBucket + "/victims/", "s3://lake/s3victim-out/", "s3://source/out/"} {
		expect(t, e.postJSON(path, map[string]any{"ref": "main", "destination": dest}), http.StatusAccepted)
	}
}
