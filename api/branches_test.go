package api_test

import (
	"net/http"
	"strings"
	"testing"
)

type refJSON struct {
	ID       string `json:"id"`
	CommitID string `json:"commit_id"`
}

type refList struct {
	Pagination paginationJSON `json:"pagination"`
	Results    []refJSON      `json:"results"`
}

func TestCreateBranch(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	var main refJSON
	e.get("/api/v1/repositories/repo1/branches/main").json(t, &main)

	r := e.postJSON("/api/v1/repositories/repo1/branches", map[string]any{"name": "dev", "source": "main"})
	expect(t, r, http.StatusCreated)
	if string(r.body) != main.CommitID {
		t.Fatalf("create branch answered %q, want main's commit id %q", r.body, main.CommitID)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}

	bad := []struct {
		name   string
		path   string
		body   string
		status int
	}{
		{"malformed JSON", "repo1", `{"name":`, http.StatusBadRequest},
		{"no name", "repo1", `{"source":"main"}`, http.StatusBadRequest},
		{"no source", "repo1", `{"name":"x"}`, http.StatusBadRequest},
		{"invalid name", "repo1", `{"name":"bad name","source":"main"}`, http.StatusBadRequest},
		{"name of wrong type", "repo1", `{"name":["x"],"source":"main"}`, http.StatusBadRequest},
		{"unknown source", "repo1", `{"name":"x","source":"nope"}`, http.StatusNotFound},
		{"unknown repository", "no-such-repo", `{"name":"x","source":"main"}`, http.StatusNotFound},
		{"invalid repository", "Bad_Repo", `{"name":"x","source":"main"}`, http.StatusBadRequest},
		{"exists", "repo1", `{"name":"dev","source":"main"}`, http.StatusConflict},
		{"hidden", "repo1", `{"name":"x","source":"main","hidden":true}`, http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.postJSON("/api/v1/repositories/"+tc.path+"/branches", tc.body), tc.status)
		})
	}
	expectError(t, e.get("/api/v1/repositories/repo1/branches/x"), http.StatusNotFound)

	// From a commit id, and from a ref expression (percent-encoded as
	// clients send it).
	e.upload("repo1", "main", "a", "1")
	c1 := e.commit("repo1", "main", "one")
	if got := e.createBranch("repo1", "from-commit", main.CommitID); got != main.CommitID {
		t.Fatalf("branch from commit id at %q, want %q", got, main.CommitID)
	}
	if got := e.createBranch("repo1", "from-parent", "main~1"); got != main.CommitID {
		t.Fatalf("branch from main~1 at %q, want %q", got, main.CommitID)
	}
	var b refJSON
	e.get("/api/v1/repositories/repo1/branches/main").json(t, &b)
	if b.CommitID != c1 {
		t.Fatalf("main at %q, want %q", b.CommitID, c1)
	}
}

func TestListBranches(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	for _, n := range []string{"feature-a", "feature-b", "fix"} {
		e.createBranch("repo1", n, "main")
	}
	cases := []struct {
		query, want string
		hasMore     bool
	}{
		{"", "feature-a feature-b fix main", false},
		{"?amount=2", "feature-a feature-b", true},
		{"?after=feature-b", "fix main", false},
		{"?prefix=feature", "feature-a feature-b", false},
		{"?prefix=f&amount=2", "feature-a feature-b", true},
		{"?prefix=f&after=feature-b", "fix", false},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			r := e.get("/api/v1/repositories/repo1/branches" + tc.query)
			expect(t, r, http.StatusOK)
			var l refList
			r.json(t, &l)
			var names []string
			for _, b := range l.Results {
				if b.CommitID == "" {
					t.Errorf("branch %s without commit id", b.ID)
				}
				names = append(names, b.ID)
			}
			if got := strings.Join(names, " "); got != tc.want || l.Pagination.HasMore != tc.hasMore {
				t.Fatalf("branches %q has_more=%v, want %q has_more=%v", got, l.Pagination.HasMore, tc.want, tc.hasMore)
			}
			if tc.hasMore && l.Pagination.NextOffset != names[len(names)-1] {
				t.Fatalf("next_offset %q, want %q", l.Pagination.NextOffset, names[len(names)-1])
			}
		})
	}
	expectError(t, e.get("/api/v1/repositories/no-such-repo/branches"), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/repo1/branches?amount=x"), http.StatusBadRequest)
	expectError(t, e.get("/api/v1/repositories/repo1/branches?show_hidden=perhaps"), http.StatusBadRequest)
}

func TestDeleteBranch(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.createBranch("repo1", "dev", "main")
	expect(t, e.del("/api/v1/repositories/repo1/branches/dev"), http.StatusNoContent)
	expectError(t, e.get("/api/v1/repositories/repo1/branches/dev"), http.StatusNotFound)
	expectError(t, e.del("/api/v1/repositories/repo1/branches/dev"), http.StatusNotFound)
	expectError(t, e.del("/api/v1/repositories/repo1/branches/main"), http.StatusForbidden)
	expectError(t, e.del("/api/v1/repositories/repo1/branches/bad%20name"), http.StatusBadRequest)
	expectError(t, e.del("/api/v1/repositories/no-such-repo/branches/dev"), http.StatusNotFound)
}

func TestResetBranch(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.upload("repo1", "main", "keep", "k")
	e.commit("repo1", "main", "base")
	for _, p := range []string{"a/1", "a/2", "b/1", "c"} {
		e.upload("repo1", "main", p, p)
	}
	uncommitted := func() string {
		var l struct {
			Results []struct {
				Path string `json:"path"`
			} `json:"results"`
		}
		e.get("/api/v1/repositories/repo1/branches/main/diff").json(t, &l)
		var ps []string
		for _, d := range l.Results {
			ps = append(ps, d.Path)
		}
		return strings.Join(ps, " ")
	}
	reset := func(body string) response {
		return e.sendJSON(http.MethodPut, "/api/v1/repositories/repo1/branches/main", body)
	}
	expect(t, reset(`{"type":"object","path":"c"}`), http.StatusNoContent)
	if got := uncommitted(); got != "a/1 a/2 b/1" {
		t.Fatalf("after object reset: %q", got)
	}
	expect(t, reset(`{"type":"common_prefix","path":"a/"}`), http.StatusNoContent)
	if got := uncommitted(); got != "b/1" {
		t.Fatalf("after prefix reset: %q", got)
	}
	expect(t, reset(`{"type":"reset"}`), http.StatusNoContent)
	if got := uncommitted(); got != "" {
		t.Fatalf("after full reset: %q", got)
	}
	expectError(t, reset(`{"type":"everything"}`), http.StatusBadRequest)
	expectError(t, reset(`{"type":"object"}`), http.StatusBadRequest)
	expectError(t, reset(`{"type":`), http.StatusBadRequest)
	expectError(t, e.sendJSON(http.MethodPut, "/api/v1/repositories/repo1/branches/nope", `{"type":"reset"}`), http.StatusNotFound)
}

func TestHardResetBranch(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	var base refJSON
	e.get("/api/v1/repositories/repo1/branches/main").json(t, &base)
	e.upload("repo1", "main", "a", "1")
	e.commit("repo1", "main", "one")
	e.upload("repo1", "main", "b", "2")

	put := func(path string) response { return e.do(req{method: http.MethodPut, path: path}) }
	expect(t, put("/api/v1/repositories/repo1/branches/main/hard_reset?ref="+base.CommitID), http.StatusNoContent)
	var now refJSON
	e.get("/api/v1/repositories/repo1/branches/main").json(t, &now)
	if now.CommitID != base.CommitID {
		t.Fatalf("after hard reset main is at %s, want %s", now.CommitID, base.CommitID)
	}
	expectError(t, e.get("/api/v1/repositories/repo1/refs/main/objects?path=b"), http.StatusNotFound)
	expectError(t, put("/api/v1/repositories/repo1/branches/main/hard_reset"), http.StatusBadRequest)
	expectError(t, put("/api/v1/repositories/repo1/branches/main/hard_reset?ref=nope"), http.StatusNotFound)
	expectError(t, put("/api/v1/repositories/repo1/branches/nope/hard_reset?ref=main"), http.StatusNotFound)
}

func TestRevertBranch(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.upload("repo1", "main", "a", "1")
	e.commit("repo1", "main", "add a")
	e.upload("repo1", "main", "b", "2")
	c2 := e.commit("repo1", "main", "add b")

	post := func(body string) response {
		return e.postJSON("/api/v1/repositories/repo1/branches/main/revert", body)
	}
	expect(t, post(`{"ref":"`+c2+`","parent_number":0,"commit_overrides":{"message":"undo b"}}`), http.StatusNoContent)
	expectError(t, e.get("/api/v1/repositories/repo1/refs/main/objects?path=b"), http.StatusNotFound)
	expect(t, e.get("/api/v1/repositories/repo1/refs/main/objects?path=a"), http.StatusOK)
	var head struct {
		Message   string `json:"message"`
		Committer string `json:"committer"`
	}
	e.get("/api/v1/repositories/repo1/commits/main").json(t, &head)
	if head.Message != "undo b" || head.Committer != "tester" {
		t.Fatalf("revert commit %+v", head)
	}

	bad := []struct {
		name, body string
		status     int
	}{
		{"malformed", `{"ref":`, http.StatusBadRequest},
		{"no ref", `{"parent_number":0}`, http.StatusBadRequest},
		{"no parent number", `{"ref":"main"}`, http.StatusBadRequest},
		{"negative parent number", `{"ref":"main","parent_number":-1}`, http.StatusBadRequest},
		{"parent out of range", `{"ref":"main","parent_number":5}`, http.StatusBadRequest},
		{"unknown ref", `{"ref":"nope","parent_number":0}`, http.StatusNotFound},
		{"nothing to revert", `{"ref":"` + c2 + `","parent_number":0}`, http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) { expectError(t, post(tc.body), tc.status) })
	}
	// A dirty branch cannot be reverted on.
	e.upload("repo1", "main", "c", "3")
	expectError(t, post(`{"ref":"main~1","parent_number":0}`), http.StatusBadRequest)
}
