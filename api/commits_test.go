package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

type commitJSON struct {
	ID           string            `json:"id"`
	Parents      []string          `json:"parents"`
	Committer    string            `json:"committer"`
	Message      string            `json:"message"`
	CreationDate int64             `json:"creation_date"`
	MetaRangeID  string            `json:"meta_range_id"`
	Metadata     map[string]string `json:"metadata"`
	Generation   int64             `json:"generation"`
	Version      *int              `json:"version"`
}

type commitList struct {
	Pagination paginationJSON `json:"pagination"`
	Results    []commitJSON   `json:"results"`
}

func TestCommit(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	var base refJSON
	e.get("/api/v1/repositories/repo1/branches/main").json(t, &base)
	e.upload("repo1", "main", "a", "hello")

	r := e.postJSON("/api/v1/repositories/repo1/branches/main/commits", map[string]any{
		"message": "first", "metadata": map[string]string{"k": "v"}, "date": 1700000000})
	expect(t, r, http.StatusCreated)
	var c commitJSON
	r.json(t, &c)
	if len(c.ID) != 64 || c.Message != "first" || c.Committer != "tester" || c.Metadata["k"] != "v" ||
		c.CreationDate != 1700000000 || len(c.Parents) != 1 || c.Parents[0] != base.CommitID ||
		c.MetaRangeID == "" || c.Generation != 2 || c.Version == nil || *c.Version != 1 {
		t.Fatalf("commit %s", r.body)
	}
	// Fields are exactly lakeFS's names.
	for _, f := range []string{`"id"`, `"parents"`, `"committer"`, `"message"`, `"creation_date"`, `"meta_range_id"`, `"metadata"`, `"generation"`, `"version"`} {
		if !strings.Contains(string(r.body), f) {
			t.Errorf("commit lacks %s: %s", f, r.body)
		}
	}

	got := e.get("/api/v1/repositories/repo1/commits/" + c.ID)
	expect(t, got, http.StatusOK)
	var again commitJSON
	got.json(t, &again)
	if again.ID != c.ID || again.Message != "first" {
		t.Fatalf("get commit %s", got.body)
	}

	bad := []struct {
		name, branch, body string
		status             int
	}{
		{"nothing to commit", "main", `{"message":"empty"}`, http.StatusBadRequest},
		{"malformed", "main", `{"message":`, http.StatusBadRequest},
		{"no message", "main", `{}`, http.StatusBadRequest},
		{"message of wrong type", "main", `{"message":1}`, http.StatusBadRequest},
		{"metadata of wrong type", "main", `{"message":"m","metadata":{"k":1}}`, http.StatusBadRequest},
		{"negative date", "main", `{"message":"m","date":-5}`, http.StatusBadRequest},
		{"unknown branch", "nope", `{"message":"m"}`, http.StatusNotFound},
		{"invalid branch", "bad%20name", `{"message":"m"}`, http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.postJSON("/api/v1/repositories/repo1/branches/"+tc.branch+"/commits", tc.body), tc.status)
		})
	}
	expect(t, e.postJSON("/api/v1/repositories/repo1/branches/main/commits", `{"message":"empty","allow_empty":true}`), http.StatusCreated)
	expectError(t, e.postJSON("/api/v1/repositories/no-such-repo/branches/main/commits", `{"message":"m"}`), http.StatusNotFound)
	expectError(t, e.postJSON("/api/v1/repositories/repo1/branches/main/commits?source_metarange=x", `{"message":"m"}`), http.StatusBadRequest)

	expectError(t, e.get("/api/v1/repositories/repo1/commits/"+strings.Repeat("0", 64)), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/no-such-repo/commits/"+c.ID), http.StatusNotFound)
}

func TestLogCommits(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	var ids []string // newest first
	for _, m := range []string{"c1", "c2", "c3", "c4"} {
		e.upload("repo1", "main", m, m)
		ids = append([]string{e.commit("repo1", "main", m)}, ids...)
	}
	msgs := func(l commitList) string {
		var out []string
		for _, c := range l.Results {
			out = append(out, c.Message)
		}
		return strings.Join(out, " ")
	}
	cases := []struct {
		name, query string
		want        string
		hasMore     bool
	}{
		{"all", "", "c4 c3 c2 c1 Repository created", false},
		{"page", "?amount=2", "c4 c3", true},
		{"next page", "?amount=2&after=" + ids[1], "c2 c1", true},
		{"limit", "?amount=2&limit=true", "c4 c3", false},
		{"stop at", "?stop_at=" + ids[2], "c4 c3 c2", false},
		{"stop at ref", "?stop_at=main~1", "c4 c3", false},
		{"first parent", "?first_parent=true&amount=1", "c4", true},
		{"since the future", "?since=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "", false},
		{"lakectl's empty parameters", "?after=&amount=100&limit=false&first_parent=false&stop_at=", "c4 c3 c2 c1 Repository created", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.get("/api/v1/repositories/repo1/refs/main/commits" + tc.query)
			expect(t, r, http.StatusOK)
			var l commitList
			r.json(t, &l)
			if got := msgs(l); got != tc.want || l.Pagination.HasMore != tc.hasMore {
				t.Fatalf("log %q has_more=%v, want %q has_more=%v", got, l.Pagination.HasMore, tc.want, tc.hasMore)
			}
			if tc.hasMore && l.Pagination.NextOffset != l.Results[len(l.Results)-1].ID {
				t.Fatalf("next_offset %q is not the last commit's id", l.Pagination.NextOffset)
			}
		})
	}
	// From a tag and from a commit id.
	var l commitList
	e.get("/api/v1/repositories/repo1/refs/"+ids[1]+"/commits").json(t, &l)
	if msgs(l) != "c3 c2 c1 Repository created" {
		t.Fatalf("log from a commit id: %q", msgs(l))
	}

	bad := []struct {
		name, path string
		status     int
	}{
		{"unknown ref", "/api/v1/repositories/repo1/refs/nope/commits", http.StatusNotFound},
		{"unknown repo", "/api/v1/repositories/no-such-repo/refs/main/commits", http.StatusNotFound},
		{"bad amount", "/api/v1/repositories/repo1/refs/main/commits?amount=x", http.StatusBadRequest},
		{"bad since", "/api/v1/repositories/repo1/refs/main/commits?since=yesterday", http.StatusBadRequest},
		{"bad limit", "/api/v1/repositories/repo1/refs/main/commits?limit=maybe", http.StatusBadRequest},
		{"unknown stop_at", "/api/v1/repositories/repo1/refs/main/commits?stop_at=nope", http.StatusNotFound},
		{"objects filter", "/api/v1/repositories/repo1/refs/main/commits?objects=a", http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) { expectError(t, e.get(tc.path), tc.status) })
	}
}
