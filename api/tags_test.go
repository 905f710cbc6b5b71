package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestTags(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.upload("repo1", "main", "a", "1")
	c1 := e.commit("repo1", "main", "one")

	r := e.postJSON("/api/v1/repositories/repo1/tags", map[string]any{"id": "v1.0", "ref": "main"})
	expect(t, r, http.StatusCreated)
	var tag refJSON
	r.json(t, &tag)
	if tag.ID != "v1.0" || tag.CommitID != c1 {
		t.Fatalf("tag %s", r.body)
	}
	e.postJSON("/api/v1/repositories/repo1/tags", map[string]any{"id": "v0.9", "ref": "main~1"})
	e.postJSON("/api/v1/repositories/repo1/tags", map[string]any{"id": "w1", "ref": c1})

	r = e.get("/api/v1/repositories/repo1/tags/v1.0")
	expect(t, r, http.StatusOK)
	r.json(t, &tag)
	if tag.CommitID != c1 {
		t.Fatalf("get tag %s", r.body)
	}
	// A tag reads like any reference.
	expect(t, e.get("/api/v1/repositories/repo1/refs/v1.0/objects?path=a"), http.StatusOK)

	var l refList
	e.get("/api/v1/repositories/repo1/tags?prefix=v&amount=1").json(t, &l)
	if len(l.Results) != 1 || l.Results[0].ID != "v0.9" || !l.Pagination.HasMore || l.Pagination.NextOffset != "v0.9" {
		t.Fatalf("tags page %+v", l)
	}
	e.get("/api/v1/repositories/repo1/tags?after=v0.9").json(t, &l)
	var ids []string
	for _, x := range l.Results {
		ids = append(ids, x.ID)
	}
	if strings.Join(ids, " ") != "v1.0 w1" || l.Pagination.HasMore {
		t.Fatalf("tags after v0.9: %v", ids)
	}

	bad := []struct {
		name, body string
		status     int
	}{
		{"exists", `{"id":"v1.0","ref":"main"}`, http.StatusConflict},
		{"malformed", `{"id":`, http.StatusBadRequest},
		{"no id", `{"ref":"main"}`, http.StatusBadRequest},
		{"no ref", `{"id":"x"}`, http.StatusBadRequest},
		{"invalid id", `{"id":"-x","ref":"main"}`, http.StatusBadRequest},
		{"unknown ref", `{"id":"x","ref":"nope"}`, http.StatusNotFound},
		{"force", `{"id":"v1.0","ref":"main","force":true}`, http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) { expectError(t, e.postJSON("/api/v1/repositories/repo1/tags", tc.body), tc.status) })
	}
	expectError(t, e.postJSON("/api/v1/repositories/no-such-repo/tags", `{"id":"x","ref":"main"}`), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/repo1/tags/nope"), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/no-such-repo/tags"), http.StatusNotFound)

	expect(t, e.del("/api/v1/repositories/repo1/tags/v1.0"), http.StatusNoContent)
	expectError(t, e.get("/api/v1/repositories/repo1/tags/v1.0"), http.StatusNotFound)
	expectError(t, e.del("/api/v1/repositories/repo1/tags/v1.0"), http.StatusNotFound)
	expectError(t, e.del("/api/v1/repositories/repo1/tags/-bad"), http.StatusBadRequest)
}
