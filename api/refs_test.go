package api_test

import (
	"net/http"
	"strings"
	"testing"
)

type diffJSON struct {
	Type      string `json:"type"`
	Path      string `json:"path"`
	PathType  string `json:"path_type"`
	SizeBytes *int64 `json:"size_bytes"`
	Right     *struct {
		Checksum    string `json:"checksum"`
		Mtime       int64  `json:"mtime"`
		ContentType string `json:"content_type"`
	} `json:"right"`
}

type diffList struct {
	Pagination paginationJSON `json:"pagination"`
	Results    []diffJSON     `json:"results"`
}

func diffString(l diffList) string {
	var out []string
	for _, d := range l.Results {
		out = append(out, d.Type+":"+d.Path)
	}
	return strings.Join(out, " ")
}

func TestDiffBranch(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.upload("repo1", "main", "changed", "old")
	e.upload("repo1", "main", "removed", "x")
	e.commit("repo1", "main", "base")
	e.upload("repo1", "main", "changed", "newer")
	e.del("/api/v1/repositories/repo1/branches/main/objects?path=removed")
	e.upload("repo1", "main", "dir/added", "12345")

	r := e.get("/api/v1/repositories/repo1/branches/main/diff")
	expect(t, r, http.StatusOK)
	var l diffList
	r.json(t, &l)
	if got := diffString(l); got != "changed:changed added:dir/added removed:removed" {
		t.Fatalf("diff %q", got)
	}
	sizes := map[string]int64{"changed": 5, "dir/added": 5, "removed": 1}
	for _, d := range l.Results {
		if d.PathType != "object" || d.SizeBytes == nil || *d.SizeBytes != sizes[d.Path] {
			t.Errorf("diff item %+v: want object of %d bytes", d, sizes[d.Path])
		}
	}
	r = e.get("/api/v1/repositories/repo1/branches/main/diff?delimiter=/&amount=2")
	l = diffList{}
	r.json(t, &l)
	if got := diffString(l); got != "changed:changed prefix_changed:dir/" || !l.Pagination.HasMore || l.Pagination.NextOffset != "dir/" {
		t.Fatalf("diff with delimiter %q %+v", got, l.Pagination)
	}
	if l.Results[1].PathType != "common_prefix" || l.Results[1].SizeBytes != nil {
		t.Errorf("prefix item %+v", l.Results[1])
	}
	r = e.get("/api/v1/repositories/repo1/branches/main/diff?delimiter=/&after=dir/")
	r.json(t, &l)
	if got := diffString(l); got != "removed:removed" {
		t.Fatalf("diff after dir/ %q", got)
	}
	r = e.get("/api/v1/repositories/repo1/branches/main/diff?prefix=dir/")
	r.json(t, &l)
	if got := diffString(l); got != "added:dir/added" {
		t.Fatalf("diff under dir/ %q", got)
	}
	expectError(t, e.get("/api/v1/repositories/repo1/branches/nope/diff"), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/no-such-repo/branches/main/diff"), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/repo1/branches/main/diff?amount=lots"), http.StatusBadRequest)
}

func TestDiffRefs(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.upload("repo1", "main", "a", "1")
	e.commit("repo1", "main", "base")
	e.createBranch("repo1", "dev", "main")
	e.upload("repo1", "dev", "b", "22")
	e.del("/api/v1/repositories/repo1/branches/dev/objects?path=a")
	e.commit("repo1", "dev", "on dev")

	for _, typ := range []string{"", "?type=two_dot", "?type=three_dot"} {
		r := e.get("/api/v1/repositories/repo1/refs/main/diff/dev" + typ)
		expect(t, r, http.StatusOK)
		var l diffList
		r.json(t, &l)
		if got := diffString(l); got != "removed:a added:b" {
			t.Fatalf("diff%s %q", typ, got)
		}
	}
	r := e.get("/api/v1/repositories/repo1/refs/main/diff/dev?include_right_stats=true")
	var l diffList
	r.json(t, &l)
	if l.Results[1].Right == nil || l.Results[1].Right.Checksum == "" || l.Results[1].Right.ContentType == "" {
		t.Fatalf("right stats missing: %s", r.body)
	}
	if l.Results[0].Right != nil {
		t.Errorf("removed item has right stats: %s", r.body)
	}
	// Identical refs have no differences.
	e.get("/api/v1/repositories/repo1/refs/dev/diff/dev").json(t, &l)
	if len(l.Results) != 0 {
		t.Fatalf("self diff %q", diffString(l))
	}
	expectError(t, e.get("/api/v1/repositories/repo1/refs/main/diff/nope"), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/repo1/refs/main/diff/dev?type=four_dot"), http.StatusBadRequest)
	expectError(t, e.get("/api/v1/repositories/no-such-repo/refs/main/diff/dev"), http.StatusNotFound)
}

func TestMerge(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.upload("repo1", "main", "shared", "base")
	e.commit("repo1", "main", "base")
	e.createBranch("repo1", "dev", "main")
	e.upload("repo1", "dev", "new", "from dev")
	devHead := e.commit("repo1", "dev", "on dev")

	r := e.postJSON("/api/v1/repositories/repo1/refs/dev/merge/main", map[string]any{"message": "merge dev", "metadata": map[string]string{"k": "v"}})
	expect(t, r, http.StatusOK)
	var res struct {
		Reference string `json:"reference"`
	}
	r.json(t, &res)
	var mc commitJSON
	e.get("/api/v1/repositories/repo1/commits/"+res.Reference).json(t, &mc)
	if mc.Message != "merge dev" || mc.Committer != "tester" || len(mc.Parents) != 2 || mc.Parents[1] != devHead || mc.Metadata["k"] != "v" {
		t.Fatalf("merge commit %+v", mc)
	}
	expect(t, e.get("/api/v1/repositories/repo1/refs/main/objects?path=new"), http.StatusOK)

	// Already merged: nothing to do.
	expectError(t, e.postJSON("/api/v1/repositories/repo1/refs/dev/merge/main", `{}`), http.StatusBadRequest)

	// A conflict fails with 409 unless a strategy settles it.
	e.upload("repo1", "main", "shared", "main's")
	e.commit("repo1", "main", "main side")
	e.upload("repo1", "dev", "shared", "dev's")
	e.commit("repo1", "dev", "dev side")
	expectError(t, e.postJSON("/api/v1/repositories/repo1/refs/dev/merge/main", `{}`), http.StatusConflict)
	expectError(t, e.postJSON("/api/v1/repositories/repo1/refs/dev/merge/main", `{"strategy":"mine"}`), http.StatusBadRequest)
	r = e.postJSON("/api/v1/repositories/repo1/refs/dev/merge/main", `{"strategy":"source-wins"}`)
	expect(t, r, http.StatusOK)
	got := e.get("/api/v1/repositories/repo1/refs/main/objects?path=shared")
	if string(got.body) != "dev's" {
		t.Fatalf("after source-wins merge shared = %q", got.body)
	}

	// Without a body, as lakectl may send it.
	e.upload("repo1", "dev", "more", "m")
	e.commit("repo1", "dev", "more")
	expect(t, e.do(req{method: http.MethodPost, path: "/api/v1/repositories/repo1/refs/dev/merge/main"}), http.StatusOK)

	bad := []struct {
		name, path, body string
		status           int
	}{
		{"malformed", "/api/v1/repositories/repo1/refs/dev/merge/main", `{"message":`, http.StatusBadRequest},
		{"unknown source", "/api/v1/repositories/repo1/refs/nope/merge/main", `{}`, http.StatusNotFound},
		{"unknown destination", "/api/v1/repositories/repo1/refs/dev/merge/nope", `{}`, http.StatusNotFound},
		{"unknown repo", "/api/v1/repositories/no-such-repo/refs/dev/merge/main", `{}`, http.StatusNotFound},
		{"squash", "/api/v1/repositories/repo1/refs/dev/merge/main", `{"squash_merge":true}`, http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) { expectError(t, e.postJSON(tc.path, tc.body), tc.status) })
	}
	// A dirty destination is refused.
	e.upload("repo1", "dev", "x", "x")
	e.commit("repo1", "dev", "x")
	e.upload("repo1", "main", "dirty", "d")
	expectError(t, e.postJSON("/api/v1/repositories/repo1/refs/dev/merge/main", `{}`), http.StatusBadRequest)
}
