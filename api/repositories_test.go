package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
)

type repoJSON struct {
	ID               string `json:"id"`
	CreationDate     int64  `json:"creation_date"`
	DefaultBranch    string `json:"default_branch"`
	StorageNamespace string `json:"storage_namespace"`
	ReadOnly         *bool  `json:"read_only"`
}

type paginationJSON struct {
	HasMore    bool   `json:"has_more"`
	NextOffset string `json:"next_offset"`
	Results    int    `json:"results"`
	MaxPerPage int    `json:"max_per_page"`
}

func TestCreateRepository(t *testing.T) {
	e := newEnv(t)
	before := time.Now().Add(-time.Second).Unix()
	r := e.postJSON("/api/v1/repositories", map[string]any{"name": "repo1", "storage_namespace": "local://lakeq/repo1"})
	expect(t, r, http.StatusCreated)
	var repo repoJSON
	r.json(t, &repo)
	if repo.ID != "repo1" || repo.DefaultBranch != "main" || repo.StorageNamespace != "local://lakeq/repo1" ||
		repo.CreationDate < before || repo.ReadOnly == nil || *repo.ReadOnly {
		t.Fatalf("created repository %s", r.body)
	}
	// The default branch exists.
	expect(t, e.get("/api/v1/repositories/repo1/branches/main"), http.StatusOK)

	r = e.postJSON("/api/v1/repositories", map[string]any{"name": "repo2", "storage_namespace": "local://lakeq/repo2", "default_branch": "trunk"})
	expect(t, r, http.StatusCreated)
	r.json(t, &repo)
	if repo.DefaultBranch != "trunk" {
		t.Fatalf("default branch %q, want trunk", repo.DefaultBranch)
	}

	bad := []struct {
		name   string
		body   string
		status int
	}{
		{"malformed JSON", `{"name": "x"`, http.StatusBadRequest},
		{"not an object", `[1,2]`, http.StatusBadRequest},
		{"two values", `{"name":"repo3","storage_namespace":"local://lakeq/r3"} {}`, http.StatusBadRequest},
		{"empty body", ``, http.StatusBadRequest},
		{"name of wrong type", `{"name": 3, "storage_namespace": "local://lakeq/x"}`, http.StatusBadRequest},
		{"no name", `{"storage_namespace": "local://lakeq/x"}`, http.StatusBadRequest},
		{"no namespace", `{"name": "repo3"}`, http.StatusBadRequest},
		{"invalid name", `{"name": "Bad_Name", "storage_namespace": "local://lakeq/x"}`, http.StatusBadRequest},
		{"short name", `{"name": "ab", "storage_namespace": "local://lakeq/x"}`, http.StatusBadRequest},
		{"invalid branch", `{"name": "repo3", "storage_namespace": "local://lakeq/x", "default_branch": "-x"}`, http.StatusBadRequest},
		{"unknown scheme", `{"name": "repo3", "storage_namespace": "gs://bucket/x"}`, http.StatusBadRequest},
		{"not a URI", `{"name": "repo3", "storage_namespace": "just-a-path"}`, http.StatusBadRequest},
		{"no s3 configured", `{"name": "repo3", "storage_namespace": "s3://bucket/x"}`, http.StatusBadRequest},
		{"hidden bucket", `{"name": "repo3", "storage_namespace": "local://.hidden/x"}`, http.StatusBadRequest},
		{"storage id", `{"name": "repo3", "storage_namespace": "local://lakeq/x", "storage_id": "other"}`, http.StatusBadRequest},
		{"exists", `{"name": "repo1", "storage_namespace": "local://lakeq/other"}`, http.StatusConflict},
		{"sample data", `{"name": "repo3", "storage_namespace": "local://lakeq/x", "sample_data": true}`, http.StatusBadRequest},
		{"read only", `{"name": "repo3", "storage_namespace": "local://lakeq/x", "read_only": true}`, http.StatusBadRequest},
		{"another's namespace", `{"name": "repo3", "storage_namespace": "local://lakeq/repo1"}`, http.StatusBadRequest},
		{"another's namespace with a slash", `{"name": "repo3", "storage_namespace": "local://lakeq/repo1/"}`, http.StatusBadRequest},
		{"inside another's namespace", `{"name": "repo3", "storage_namespace": "local://lakeq/repo1/nested"}`, http.StatusBadRequest},
		{"holds another's namespace", `{"name": "repo3", "storage_namespace": "local://lakeq/"}`, http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, e.postJSON("/api/v1/repositories", tc.body), tc.status)
		})
	}
	// A neighbour sharing only the start of the name is a namespace of
	// its own (repo1/ does not hold repo10/).
	expect(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "repo10", "storage_namespace": "local://lakeq/repo10"}), http.StatusCreated)
	expect(t, e.del("/api/v1/repositories/repo10"), http.StatusNoContent)
	// None of the refused requests created anything.
	var list struct {
		Results []repoJSON `json:"results"`
	}
	e.get("/api/v1/repositories").json(t, &list)
	if len(list.Results) != 2 {
		t.Fatalf("%d repositories after refused creates, want 2", len(list.Results))
	}
	expectError(t, e.postJSON("/api/v1/repositories?bare=true", `{"name": "repo3", "storage_namespace": "local://lakeq/x"}`), http.StatusBadRequest)
	expectError(t, e.postJSON("/api/v1/repositories?bare=maybe", `{"name": "repo3", "storage_namespace": "local://lakeq/x"}`), http.StatusBadRequest)
}

func TestGetAndDeleteRepository(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	r := e.get("/api/v1/repositories/repo1")
	expect(t, r, http.StatusOK)
	var repo repoJSON
	r.json(t, &repo)
	if repo.ID != "repo1" || repo.DefaultBranch != "main" {
		t.Fatalf("repository %s", r.body)
	}
	expectError(t, e.get("/api/v1/repositories/no-such-repo"), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/Bad_Name"), http.StatusBadRequest)

	expect(t, e.del("/api/v1/repositories/repo1"), http.StatusNoContent)
	expectError(t, e.get("/api/v1/repositories/repo1"), http.StatusNotFound)
	expectError(t, e.del("/api/v1/repositories/repo1"), http.StatusNotFound)
	expectError(t, e.del("/api/v1/repositories/Bad_Name"), http.StatusBadRequest)
}

func TestListRepositories(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"alpha", "beta", "beta-2", "beta-3", "gamma"} {
		e.createRepo(id)
	}
	type page struct {
		Pagination paginationJSON `json:"pagination"`
		Results    []repoJSON     `json:"results"`
	}
	ids := func(p page) string {
		s := ""
		for _, r := range p.Results {
			s += r.ID + " "
		}
		return s
	}
	cases := []struct {
		query   string
		want    string
		hasMore bool
		next    string
	}{
		{"", "alpha beta beta-2 beta-3 gamma ", false, ""},
		{"?amount=2", "alpha beta ", true, "beta"},
		{"?amount=2&after=beta", "beta-2 beta-3 ", true, "beta-3"},
		{"?amount=2&after=beta-3", "gamma ", false, ""},
		{"?prefix=beta", "beta beta-2 beta-3 ", false, ""},
		{"?prefix=beta&amount=2", "beta beta-2 ", true, "beta-2"},
		{"?prefix=beta&after=beta-2", "beta-3 ", false, ""},
		{"?prefix=zzz", "", false, ""},
		{"?search=ta", "beta beta-2 beta-3 ", false, ""},
		{"?search=-&amount=1", "beta-2 ", true, "beta-2"},
		{"?amount=0", "alpha beta beta-2 beta-3 gamma ", false, ""},
		{"?amount=-1", "alpha beta beta-2 beta-3 gamma ", false, ""},
		{"?amount=5000", "alpha beta beta-2 beta-3 gamma ", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			r := e.get("/api/v1/repositories" + tc.query)
			expect(t, r, http.StatusOK)
			var p page
			r.json(t, &p)
			if got := ids(p); got != tc.want {
				t.Fatalf("ids %q, want %q", got, tc.want)
			}
			if p.Pagination.HasMore != tc.hasMore || p.Pagination.NextOffset != tc.next ||
				p.Pagination.Results != len(p.Results) || p.Pagination.MaxPerPage != 1000 {
				t.Fatalf("pagination %+v, want has_more=%v next_offset=%q", p.Pagination, tc.hasMore, tc.next)
			}
		})
	}
	expectError(t, e.get("/api/v1/repositories?amount=ten"), http.StatusBadRequest)

	// Paging through with next_offset visits every repository once.
	var seen []string
	after := ""
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("paging does not end")
		}
		var p page
		e.get(fmt.Sprintf("/api/v1/repositories?amount=2&after=%s", after)).json(t, &p)
		for _, r := range p.Results {
			seen = append(seen, r.ID)
		}
		if !p.Pagination.HasMore {
			break
		}
		after = p.Pagination.NextOffset
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %v, want 5 repositories", seen)
	}
}

// TestCreateRepositoryRace: repositories created at once over namespaces
// that all nest in one another: exactly one is created, however their
// checks and creations interleave, and the others are refused.
func TestCreateRepositoryRace(t *testing.T) {
	e := newEnv(t)
	// Other repositories make each check a scan long enough for the
	// creations to overlap.
	for i := range 300 {
		if _, err := e.graph.CreateRepository(t.Context(), store.RepoID(fmt.Sprintf("other%d", i)), fmt.Sprintf("local://lakeq/other%d", i), "main"); err != nil {
			t.Fatal(err)
		}
	}
	const n = 12
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ns := "local://lakeq/race/" + strings.Repeat("n/", i)
			statuses[i] = e.postJSON("/api/v1/repositories", map[string]any{"name": fmt.Sprintf("race%d", i), "storage_namespace": ns}).status
		})
	}
	wg.Wait()
	created := 0
	for i, status := range statuses {
		switch status {
		case http.StatusCreated:
			created++
		case http.StatusBadRequest:
		default:
			t.Errorf("repository %d: status %d", i, status)
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d repositories over nested namespaces created (%v), want 1", created, n, statuses)
	}
}
