package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakeq/lakeq/api"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := []struct {
		name   string
		header string
	}{
		{"no header", ""},
		{"not basic", "Bearer abc"},
		{"not base64", "Basic %%%"},
		{"no colon", basic("AKIAONLY")},
		{"empty secret", basic(e.keyID + ":")},
		{"wrong secret", basic(e.keyID + ":" + e.secret + "x")},
		{"unknown key", basic("AKIAJNOSUCHKEY000000:" + e.secret)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.header != "" {
				h["Authorization"] = tc.header
			}
			r := e.do(req{method: http.MethodGet, path: "/api/v1/repositories", noAuth: true, header: h})
			expectError(t, r, http.StatusUnauthorized)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if strings.Contains(string(r.body), e.secret) {
				t.Error("response reveals the secret")
			}
		})
	}
	// Every authenticated route refuses an anonymous request, before it
	// looks at its input.
	for _, rt := range e.srv.App().GetRoutes(true) {
		public := strings.HasSuffix(rt.Path, "/healthcheck") || strings.HasSuffix(rt.Path, "/setup_lakefs") ||
			strings.HasSuffix(rt.Path, "/openapi.yaml") || !strings.HasPrefix(rt.Path, "/api/v1/")
		if public {
			continue
		}
		path := strings.NewReplacer(":repository", "repo1", ":branch", "main", ":ref", "main", ":tag", "t1",
			":commitId", "abc", ":leftRef", "main", ":rightRef", "main", ":sourceRef", "main",
			":destinationBranch", "main").Replace(rt.Path)
		r := e.do(req{method: rt.Method, path: path + "?path=x", noAuth: true})
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: status %d, want 401", rt.Method, rt.Path, r.status)
		}
	}
	if strings.Contains(e.logs.String(), e.secret) {
		t.Fatal("logs reveal the secret")
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: http.MethodGet, path: "/api/v1/healthcheck", header: map[string]string{api.HeaderRequestID: "my-id-1"}})
	if got := r.header.Get(api.HeaderRequestID); got != "my-id-1" {
		t.Fatalf("echoed request id %q, want my-id-1", got)
	}
	a := e.get("/api/v1/healthcheck").header.Get(api.HeaderRequestID)
	b := e.get("/api/v1/healthcheck").header.Get(api.HeaderRequestID)
	if a == "" || a == b {
		t.Fatalf("generated request ids %q and %q: want distinct and non-empty", a, b)
	}
	bad := e.do(req{method: http.MethodGet, path: "/api/v1/healthcheck", header: map[string]string{api.HeaderRequestID: strings.Repeat("x", 500)}})
	if got := bad.header.Get(api.HeaderRequestID); len(got) > 128 || got == "" {
		t.Fatalf("overlong request id was echoed: %q", got)
	}
}

func TestAccessLog(t *testing.T) {
	e := newEnv(t)
	e.do(req{method: http.MethodGet, path: "/api/v1/repositories/no-such-repo", header: map[string]string{api.HeaderRequestID: "log-check"}})
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["msg"] == "http request" && rec["request_id"] == "log-check" {
			found = true
			if rec["status"] != float64(404) || rec["route"] != "/api/v1/repositories/:repository" ||
				rec["method"] != "GET" || rec["user"] != "tester" || rec["duration_ms"] == nil {
				t.Errorf("access log record %v", rec)
			}
		}
	}
	if !found {
		t.Fatalf("no access log line for the request in:\n%s", e.logs.String())
	}
}

func TestPanicRecovery(t *testing.T) {
	e := newEnvWith(t, options{extra: func(r fiber.Router) {
		r.Get("/boom", func(*fiber.Ctx) error { panic("kaboom") })
	}})
	r := e.get("/api/v1/boom")
	expectError(t, r, http.StatusInternalServerError)
	if strings.Contains(r.message(t), "kaboom") {
		t.Error("500 message reveals the panic")
	}
	if !strings.Contains(r.message(t), r.header.Get(api.HeaderRequestID)) {
		t.Errorf("500 message %q does not name the request id", r.message(t))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "kaboom") || !strings.Contains(logs, "panic in handler") {
		t.Fatalf("panic not logged:\n%s", logs)
	}
	// The server still answers.
	expect(t, e.get("/api/v1/healthcheck"), http.StatusNoContent)
}

func TestInternalErrorIsGeneric(t *testing.T) {
	e := newEnvWith(t, options{extra: func(r fiber.Router) {
		r.Get("/fail", func(*fiber.Ctx) error { return errors.New("secret internal detail") })
	}})
	r := e.get("/api/v1/fail")
	expectError(t, r, http.StatusInternalServerError)
	if strings.Contains(string(r.body), "secret internal detail") {
		t.Fatal("500 reveals the internal error")
	}
	if n := strings.Count(e.logs.String(), "secret internal detail"); n != 1 {
		t.Fatalf("internal error logged %d times, want once", n)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.get("/api/v1/repositories")
	e.get("/api/v1/repositories/no-such-repo")
	r := e.do(req{method: http.MethodGet, path: "/metrics", noAuth: true})
	expect(t, r, http.StatusOK)
	text := string(r.body)
	for _, want := range []string{
		`lakeq_api_request_duration_seconds_bucket{method="GET",route="/api/v1/repositories",status="200"`,
		`lakeq_api_request_duration_seconds_count{method="GET",route="/api/v1/repositories/:repository",status="404"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Unmatched paths share one label value instead of one per path.
	e.get("/api/v1/nothing/here/1")
	e.get("/api/v1/nothing/here/2")
	r = e.do(req{method: http.MethodGet, path: "/metrics", noAuth: true})
	if strings.Contains(string(r.body), "nothing/here") {
		t.Error("metrics label an unmatched path by its raw path")
	}
}

func TestMetricsRegistryShared(t *testing.T) {
	// Two servers registering into one registry reuse the collectors.
	reg := prometheus.NewRegistry()
	e := newEnv(t)
	for range 2 {
		if _, err := api.New(api.Config{}, api.Deps{Graph: e.graph, Auth: e.auth, Registry: reg}); err != nil {
			t.Fatalf("api.New with a shared registry: %v", err)
		}
	}
}

func TestJSONBodyLimit(t *testing.T) {
	e := newEnv(t)
	big := `{"name":"x","storage_namespace":"` + strings.Repeat("a", api.JSONBodyLimit) + `"}`
	expectError(t, e.postJSON("/api/v1/repositories", big), http.StatusRequestEntityTooLarge)
	// Also when the client does not announce the length.
	r := e.do(req{method: http.MethodPost, path: "/api/v1/repositories", body: strings.NewReader(big), chunked: true,
		header: map[string]string{"Content-Type": "application/json"}})
	expectError(t, r, http.StatusRequestEntityTooLarge)
}

func TestUploadBodyLimit(t *testing.T) {
	e := newEnvWith(t, options{cfg: api.Config{BodyLimit: 1024}})
	e.createRepo("repo1")
	path := "/api/v1/repositories/repo1/branches/main/objects?path=big"
	ok := e.do(req{method: http.MethodPost, path: path, body: strings.NewReader(strings.Repeat("a", 1024))})
	expect(t, ok, http.StatusCreated)
	r := e.do(req{method: http.MethodPost, path: path, body: strings.NewReader(strings.Repeat("a", 1025))})
	expectError(t, r, http.StatusRequestEntityTooLarge)
	r = e.do(req{method: http.MethodPost, path: path, body: strings.NewReader(strings.Repeat("a", 4096)), chunked: true})
	expectError(t, r, http.StatusRequestEntityTooLarge)
	body, ct := multipartBody(t, "content", strings.Repeat("b", 4096), "")
	r = e.do(req{method: http.MethodPost, path: path, body: bytes.NewReader(body), chunked: true,
		header: map[string]string{"Content-Type": ct}})
	expectError(t, r, http.StatusRequestEntityTooLarge)
	// The object written first is unchanged.
	got := e.get("/api/v1/repositories/repo1/refs/main/objects?path=big")
	expect(t, got, http.StatusOK)
	if len(got.body) != 1024 {
		t.Fatalf("object has %d bytes after refused uploads, want 1024", len(got.body))
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  api.Config
		ok   bool
	}{
		{"zero", api.Config{}, true},
		{"port zero", api.Config{Listen: "127.0.0.1:0"}, true},
		{"no port", api.Config{Listen: "127.0.0.1"}, false},
		{"bad port", api.Config{Listen: "127.0.0.1:99999"}, false},
		{"negative body limit", api.Config{BodyLimit: -1}, false},
		{"negative timeout", api.Config{ReadTimeout: -time.Second}, false},
		{"presign too long", api.Config{PresignExpiry: 8 * 24 * time.Hour}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := api.New(api.Config{}, api.Deps{}); err == nil {
		t.Fatal("New without a graph succeeded")
	}
}

func TestStartStop(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	e := newEnvWith(t, options{
		cfg: api.Config{Listen: "127.0.0.1:0"},
		extra: func(r fiber.Router) {
			r.Get("/slow", func(c *fiber.Ctx) error {
				once.Do(func() { close(started) })
				<-release
				return c.SendString("done")
			})
		},
	})
	ctx := context.Background()
	if err := e.srv.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	addr := e.srv.Addr()
	if addr == "" || strings.HasSuffix(addr, ":0") {
		t.Fatalf("Addr() = %q after Start", addr)
	}
	res, err := http.Get("http://" + addr + "/api/v1/healthcheck")
	if err != nil {
		t.Fatalf("GET healthcheck: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("healthcheck over TCP: %d", res.StatusCode)
	}

	// A request under way when Stop is called finishes before Stop returns.
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		hr, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/slow", nil)
		hr.SetBasicAuth(e.keyID, e.secret)
		res, err := http.DefaultClient.Do(hr)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		done <- result{string(b), err}
	}()
	<-started
	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		stopped <- e.srv.Stop(sctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) while a request was under way", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if r := <-done; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/api/v1/healthcheck"); err == nil {
		t.Fatal("server still answers after Stop")
	}
}

// TestKeepAliveAfterChunkedUpload sends, on one connection, a chunked
// multipart upload as lakectl does (the server stops reading at the end of
// the "content" part) and then another request: the second must get its
// own answer, not one for the unread end of the first body.
func TestKeepAliveAfterChunkedUpload(t *testing.T) {
	e := newEnvWith(t, options{cfg: api.Config{Listen: "127.0.0.1:0"}})
	e.createRepo("repo1")
	if err := e.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)

	body, ct := multipartBody(t, "content", "hello", "text/plain")
	up, _ := http.NewRequest(http.MethodPost, "http://"+e.srv.Addr()+"/api/v1/repositories/repo1/branches/main/objects?path=a",
		io.NopCloser(bytes.NewReader(body)))
	up.ContentLength = -1 // chunked
	up.Header.Set("Content-Type", ct)
	up.SetBasicAuth(e.keyID, e.secret)
	if err := up.Write(conn); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, up)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", res.StatusCode)
	}
	if res.Close {
		t.Fatal("server closed the connection after a fully read upload")
	}

	get, _ := http.NewRequest(http.MethodGet, "http://"+e.srv.Addr()+"/api/v1/healthcheck", nil)
	if err := get.Write(conn); err != nil {
		t.Fatal(err)
	}
	res, err = http.ReadResponse(br, get)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("second request on the connection: %d %s", res.StatusCode, b)
	}
}

func TestStopRightAfterStart(t *testing.T) {
	for i := range 5 {
		e := newEnvWith(t, options{cfg: api.Config{Listen: "127.0.0.1:0"}})
		if err := e.srv.Start(context.Background()); err != nil {
			t.Fatalf("round %d: Start: %v", i, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := e.srv.Stop(ctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: Stop: %v", i, err)
		}
	}
}

// TestChunkedRawUploadAnswers sends a raw (not multipart) body of unknown
// length, as `lakeq fs upload --source -` and `curl -T -` do, over a real
// connection: the server reads it to its end and must answer at once, not
// wait on the socket for more of a body that has ended.
func TestChunkedRawUploadAnswers(t *testing.T) {
	e := newEnvWith(t, options{cfg: api.Config{Listen: "127.0.0.1:0"}})
	e.createRepo("repo1")
	if err := e.srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("streamed "))
		_, _ = pw.Write([]byte("bytes"))
		_ = pw.Close()
	}()
	up, _ := http.NewRequest(http.MethodPost, "http://"+e.srv.Addr()+"/api/v1/repositories/repo1/branches/main/objects?path=s", pr)
	up.Header.Set("Content-Type", "application/octet-stream")
	up.SetBasicAuth(e.keyID, e.secret)
	client := &http.Client{Timeout: 20 * time.Second}
	res, err := client.Do(up)
	if err != nil {
		t.Fatalf("chunked raw upload: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d", res.StatusCode)
	}
	get, _ := http.NewRequest(http.MethodGet, "http://"+e.srv.Addr()+"/api/v1/repositories/repo1/refs/main/objects?path=s", nil)
	get.SetBasicAuth(e.keyID, e.secret)
	res, err = client.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "streamed bytes" {
		t.Fatalf("read back %q", b)
	}
}
