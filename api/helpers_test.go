package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakeq/lakeq/api"
	"github.com/lakeq/lakeq/store/auth"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/tree"
)

// testBucket is the local blockstore bucket the tests' repositories live
// in.
const testBucket = "lakeq"

// env is an API server over a real graph (embedded KV, local blockstore)
// with one user's credentials.
type env struct {
	t        testing.TB
	srv      *api.Server
	graph    *graph.Graph
	auth     *auth.Store
	registry *prometheus.Registry
	keyID    string
	secret   string
	logs     *lockedWriter
}

// options adjust newEnv.
type options struct {
	cfg           api.Config
	extra         func(fiber.Router)
	noCredentials bool        // leave the installation without users
	s3            block.Store // serve s3:// namespaces from this store too
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvWith(t, options{})
}

func newEnvWith(t testing.TB, o options) *env {
	t.Helper()
	dir := t.TempDir()
	kvs, err := bolt.Open(filepath.Join(dir, "kv.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatalf("open kv: %v", err)
	}
	t.Cleanup(func() { _ = kvs.Close() })
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(dataDir, testBucket), 0o700); err != nil {
		t.Fatal(err)
	}
	ls, err := local.New(dataDir)
	if err != nil {
		t.Fatalf("open local blockstore: %v", err)
	}
	trees, err := tree.NewManager(tree.Config{})
	if err != nil {
		t.Fatalf("tree manager: %v", err)
	}
	res, err := block.NewResolver(block.ResolverConfig{Local: ls, S3: o.s3})
	if err != nil {
		t.Fatalf("resolver: %v", err)
	}
	g := graph.New(kvs, trees, res, graph.Config{})
	as := auth.New(kvs)
	var keyID, secret string
	if !o.noCredentials {
		if keyID, secret, err = as.CreateCredentials(context.Background(), "tester"); err != nil {
			t.Fatalf("create credentials: %v", err)
		}
	}
	logs := &lockedWriter{}
	cfg := o.cfg
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	reg := prometheus.NewRegistry()
	srv, err := api.New(cfg, api.Deps{Graph: g, Auth: as, Registry: reg, Extra: o.extra})
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return &env{t: t, srv: srv, graph: g, auth: as, registry: reg, keyID: keyID, secret: secret, logs: logs}
}

// with returns a copy of e that reports to t (a fuzz target's inner test).
func (e *env) with(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// response is a finished exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v, failing the test when it is not JSON.
func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// message returns the {"message": ...} of an error body.
func (r response) message(t testing.TB) string {
	t.Helper()
	var e struct {
		Message *string `json:"message"`
	}
	r.json(t, &e)
	if e.Message == nil {
		t.Fatalf("error body %s has no message", r.body)
	}
	return *e.Message
}

// req is a request to send.
type req struct {
	method  string
	path    string
	body    io.Reader
	header  map[string]string
	noAuth  bool
	keyID   string // overrides the env's credentials when set
	secret  string
	chunked bool // send the body without a Content-Length
}

// do sends r through the app (in memory) with the env's credentials.
func (e *env) do(r req) response {
	e.t.Helper()
	hr := httptest.NewRequest(r.method, r.path, r.body)
	if r.body == nil {
		hr.Body = http.NoBody
		hr.ContentLength = 0
	}
	if r.chunked {
		hr.ContentLength = -1
		hr.TransferEncoding = []string{"chunked"}
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if !r.noAuth {
		id, sec := e.keyID, e.secret
		if r.keyID != "" {
			id, sec = r.keyID, r.secret
		}
		hr.SetBasicAuth(id, sec)
	}
	res, err := e.srv.App().Test(hr, -1)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// get, del and postJSON are shorthands for do.
func (e *env) get(path string) response {
	e.t.Helper()
	return e.do(req{method: http.MethodGet, path: path})
}

func (e *env) del(path string) response {
	e.t.Helper()
	return e.do(req{method: http.MethodDelete, path: path})
}

func (e *env) sendJSON(method, path string, v any) response {
	e.t.Helper()
	var body []byte
	switch b := v.(type) {
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.do(req{method: method, path: path, body: bytes.NewReader(body),
		header: map[string]string{"Content-Type": "application/json"}})
}

func (e *env) postJSON(path string, v any) response {
	e.t.Helper()
	return e.sendJSON(http.MethodPost, path, v)
}

// expect fails the test unless r has status want.
func expect(t testing.TB, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, r.body)
	}
}

// expectError fails the test unless r is an error with status want and a
// non-empty JSON message.
func expectError(t testing.TB, r response, want int) {
	t.Helper()
	expect(t, r, want)
	if msg := r.message(t); msg == "" {
		t.Fatalf("status %d with an empty message", want)
	}
}

// createRepo creates repository id over the test bucket with default
// branch main.
func (e *env) createRepo(id string) {
	e.t.Helper()
	r := e.postJSON("/api/v1/repositories", map[string]any{
		"name": id, "storage_namespace": "local://" + testBucket + "/" + id, "default_branch": "main"})
	expect(e.t, r, http.StatusCreated)
}

// createBranch creates branch name from source and returns its commit id.
func (e *env) createBranch(repo, name, source string) string {
	e.t.Helper()
	r := e.postJSON("/api/v1/repositories/"+repo+"/branches", map[string]any{"name": name, "source": source})
	expect(e.t, r, http.StatusCreated)
	return string(r.body)
}

// upload writes content to path on branch as a raw body.
func (e *env) upload(repo, branch, path, content string) response {
	e.t.Helper()
	r := e.do(req{method: http.MethodPost,
		path:   "/api/v1/repositories/" + repo + "/branches/" + branch + "/objects?path=" + queryEscape(path),
		body:   strings.NewReader(content),
		header: map[string]string{"Content-Type": "application/octet-stream"}})
	expect(e.t, r, http.StatusCreated)
	return r
}

// uploadMultipart writes content to path on branch as lakectl does: a
// multipart/form-data body with the bytes in the field "content".
func (e *env) uploadMultipart(repo, branch, path, content, contentType string) response {
	e.t.Helper()
	body, ct := multipartBody(e.t, "content", content, contentType)
	return e.do(req{method: http.MethodPost,
		path:   "/api/v1/repositories/" + repo + "/branches/" + branch + "/objects?path=" + queryEscape(path),
		body:   bytes.NewReader(body),
		header: map[string]string{"Content-Type": ct}})
}

func multipartBody(t testing.TB, field, content, contentType string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := map[string][]string{
		"Content-Disposition": {`form-data; name="` + field + `"; filename="f"`},
	}
	if contentType != "" {
		h["Content-Type"] = []string{contentType}
	}
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// commit commits branch and returns the new commit's id.
func (e *env) commit(repo, branch, msg string) string {
	e.t.Helper()
	r := e.postJSON("/api/v1/repositories/"+repo+"/branches/"+branch+"/commits", map[string]any{"message": msg})
	expect(e.t, r, http.StatusCreated)
	var c struct {
		ID string `json:"id"`
	}
	r.json(e.t, &c)
	return c.ID
}

func queryEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "%20", "#", "%23", "?", "%3F").Replace(s)
}

// lockedWriter serialises writes to, and reads of, a buffer shared by
// concurrent requests' log lines.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
