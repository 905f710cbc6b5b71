package api_test

import (
	"bytes"
	"net/http"
	"testing"
)

// fuzzBody sends body to path and fails on a server error: whatever a
// client sends, the answer is a success or a 4xx with a message.
func fuzzBody(t *testing.T, e *env, method, path string, body []byte) {
	e = e.with(t)
	r := e.do(req{method: method, path: path, body: bytes.NewReader(body),
		header: map[string]string{"Content-Type": "application/json"}})
	if r.status >= 500 {
		t.Fatalf("%s %s with %q: status %d: %s", method, path, body, r.status, r.body)
	}
	if r.status >= 400 {
		_ = r.message(t)
	}
}

func FuzzCreateRepository(f *testing.F) {
	e := newEnv(f)
	for _, s := range []string{
		`{"name":"repo1","storage_namespace":"local://lakeq/repo1"}`,
		`{"name":"repo2","storage_namespace":"local://lakeq/repo2","default_branch":"trunk"}`,
		`{"name":"r","storage_namespace":"s3://b/x"}`,
		`{"name":"repo3","storage_namespace":"local:///etc"}`,
		`{"name":"repo4","storage_namespace":"local://lakeq/../x"}`,
		`{"name":"repo5","storage_namespace":"local://lakeq/x","sample_data":true}`,
		`{"name":"repo6","storage_namespace":"local://lakeq/x","default_branch":""}`,
		`{"name":null}`, `[]`, `""`, `{`, ``, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, http.MethodPost, "/api/v1/repositories", body)
	})
}

func FuzzCreateBranch(f *testing.F) {
	e := newEnv(f)
	e.createRepo("repo1")
	for _, s := range []string{
		`{"name":"dev","source":"main"}`,
		`{"name":"dev2","source":"main~1"}`,
		`{"name":"dev3","source":"main^2"}`,
		`{"name":"dev4","source":"main@"}`,
		`{"name":"dev5","source":"0000"}`,
		`{"name":"dev6","source":"~~~"}`,
		`{"name":"dev7","source":"main~99999999999999999999"}`,
		`{"name":"","source":""}`, `{"name":1}`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzBody(t, e, http.MethodPost, "/api/v1/repositories/repo1/branches", body)
	})
}

func FuzzCommit(f *testing.F) {
	e := newEnv(f)
	e.createRepo("repo1")
	for _, s := range []string{
		`{"message":"m"}`,
		`{"message":"m","allow_empty":true}`,
		`{"message":"m","metadata":{"k":"v"},"date":1}`,
		`{"message":"m","date":-1}`,
		`{"message":"m","date":99999999999999999}`,
		`{"message":"","metadata":{"":""},"allow_empty":true}`,
		`{"message":null}`, `{"metadata":[]}`, `{`, ``, `1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// Keep something staged now and then so that commits succeed too.
		if len(body)%3 == 0 {
			e.with(t).upload("repo1", "main", "f", string(body))
		}
		fuzzBody(t, e, http.MethodPost, "/api/v1/repositories/repo1/branches/main/commits", body)
	})
}
