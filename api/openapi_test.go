package api_test

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/lakeq/lakeq/api"
)

// specDoc is the part of an OpenAPI document the route check reads.
type specDoc struct {
	OpenAPI string `yaml:"openapi"`
	Servers []struct {
		URL string `yaml:"url"`
	} `yaml:"servers"`
	Paths map[string]map[string]yaml.Node `yaml:"paths"`
}

var httpMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true, "head": true, "patch": true, "options": true,
}

var specParam = regexp.MustCompile(`\{([^}]+)\}`)

// specOperations returns "METHOD /api/v1/path/:param" for every operation
// of the spec.
func specOperations(t *testing.T) []string {
	t.Helper()
	var doc specDoc
	if err := yaml.Unmarshal(api.OpenAPISpec, &doc); err != nil {
		t.Fatalf("openapi.yaml is not valid YAML: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.yaml declares openapi %q, want 3.x", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("openapi.yaml servers = %+v, want one at /api/v1", doc.Servers)
	}
	var ops []string
	for path, item := range doc.Paths {
		route := "/api/v1" + specParam.ReplaceAllString(path, ":$1")
		for method := range item {
			if httpMethods[method] {
				ops = append(ops, strings.ToUpper(method)+" "+route)
			}
		}
	}
	sort.Strings(ops)
	return ops
}

// routeOperations returns "METHOD path" for every route the server
// registers under /api/v1. Fiber registers HEAD alongside every GET; such
// implicit HEAD routes are left out unless the spec documents a HEAD.
func routeOperations(t *testing.T, spec map[string]bool) []string {
	t.Helper()
	e := newEnv(t)
	seen := map[string]bool{}
	var ops []string
	for _, r := range e.srv.App().GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/v1/") {
			continue
		}
		op := r.Method + " " + r.Path
		if r.Method == http.MethodHead && !spec[op] {
			continue
		}
		if !seen[op] {
			seen[op] = true
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	return ops
}

func TestOpenAPISpecMatchesRoutes(t *testing.T) {
	specOps := specOperations(t)
	spec := map[string]bool{}
	for _, op := range specOps {
		spec[op] = true
	}
	routeOps := routeOperations(t, spec)
	routes := map[string]bool{}
	for _, op := range routeOps {
		routes[op] = true
	}
	if len(specOps) < 30 {
		t.Fatalf("spec has only %d operations", len(specOps))
	}
	for _, op := range routeOps {
		if !spec[op] {
			t.Errorf("route %s is not in openapi.yaml", op)
		}
	}
	for _, op := range specOps {
		if !routes[op] {
			t.Errorf("openapi.yaml operation %s has no route", op)
		}
	}
}

func TestOpenAPISpecIsServed(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: http.MethodGet, path: "/api/v1/openapi.yaml", noAuth: true})
	expect(t, r, http.StatusOK)
	if string(r.body) != string(api.OpenAPISpec) {
		t.Fatal("served spec differs from the embedded one")
	}
	if ct := r.header.Get("Content-Type"); !strings.Contains(ct, "yaml") {
		t.Errorf("Content-Type %q, want a YAML type", ct)
	}
}
