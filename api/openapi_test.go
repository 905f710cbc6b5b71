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

// TestOpenAPISpecReferences checks that every $ref names a component the
// document defines and that operation ids are unique.
func TestOpenAPISpecReferences(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal(api.OpenAPISpec, &root); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components map[string]map[string]yaml.Node `yaml:"components"`
		Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := root.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node)
	refs := 0
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "$ref" {
					refs++
					ref := n.Content[i+1].Value
					parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
					if !strings.HasPrefix(ref, "#/components/") || len(parts) != 2 {
						t.Errorf("unsupported $ref %q", ref)
						continue
					}
					if _, ok := doc.Components[parts[0]][parts[1]]; !ok {
						t.Errorf("$ref %q names no component", ref)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	if refs == 0 {
		t.Fatal("no $ref found")
	}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if !httpMethods[method] {
				continue
			}
			var o struct {
				OperationID string `yaml:"operationId"`
			}
			if err := op.Decode(&o); err != nil {
				t.Fatal(err)
			}
			where := method + " " + path
			if o.OperationID == "" {
				t.Errorf("%s has no operationId", where)
			} else if prev, dup := ids[o.OperationID]; dup {
				t.Errorf("operationId %s used by %s and %s", o.OperationID, prev, where)
			}
			ids[o.OperationID] = where
		}
	}
}
