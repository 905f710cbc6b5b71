package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

type objectJSON struct {
	Path                  string            `json:"path"`
	PathType              string            `json:"path_type"`
	PhysicalAddress       string            `json:"physical_address"`
	PhysicalAddressExpiry *int64            `json:"physical_address_expiry"`
	Checksum              string            `json:"checksum"`
	SizeBytes             *int64            `json:"size_bytes"`
	Mtime                 int64             `json:"mtime"`
	Metadata              map[string]string `json:"metadata"`
	ContentType           *string           `json:"content_type"`
}

type objectList struct {
	Pagination paginationJSON `json:"pagination"`
	Results    []objectJSON   `json:"results"`
}

const objectsPath = "/api/v1/repositories/repo1/refs/main/objects"

func TestUploadObject(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	before := time.Now().Add(-time.Second).Unix()

	t.Run("multipart", func(t *testing.T) {
		r := e.uploadMultipart("repo1", "main", "dir/file.txt", "hello world", "text/plain")
		expect(t, r, http.StatusCreated)
		var st objectJSON
		r.json(t, &st)
		if st.Path != "dir/file.txt" || st.PathType != "object" || st.SizeBytes == nil || *st.SizeBytes != 11 ||
			st.Checksum == "" || st.Mtime < before || st.ContentType == nil || *st.ContentType != "text/plain" ||
			!strings.HasPrefix(st.PhysicalAddress, "local://lakeq/repo1/data/") || st.Metadata == nil {
			t.Fatalf("upload stats %s", r.body)
		}
		got := e.get(objectsPath + "?path=dir/file.txt")
		expect(t, got, http.StatusOK)
		if string(got.body) != "hello world" || got.header.Get("Content-Type") != "text/plain" {
			t.Fatalf("read back %q (%s)", got.body, got.header.Get("Content-Type"))
		}
	})
	t.Run("multipart without part type", func(t *testing.T) {
		r := e.uploadMultipart("repo1", "main", "untyped", "x", "")
		expect(t, r, http.StatusCreated)
		var st objectJSON
		r.json(t, &st)
		if *st.ContentType != "application/octet-stream" {
			t.Fatalf("content type %q", *st.ContentType)
		}
	})
	t.Run("raw body with metadata", func(t *testing.T) {
		r := e.do(req{method: http.MethodPost, path: "/api/v1/repositories/repo1/branches/main/objects?path=raw.json",
			body:   strings.NewReader(`{"a":1}`),
			header: map[string]string{"Content-Type": "application/json", "X-Lakefs-Meta-Owner": "alice"}})
		expect(t, r, http.StatusCreated)
		var st objectJSON
		r.json(t, &st)
		if *st.SizeBytes != 7 || *st.ContentType != "application/json" || st.Metadata["owner"] != "alice" {
			t.Fatalf("raw upload stats %s", r.body)
		}
	})
	t.Run("chunked raw body", func(t *testing.T) {
		data := strings.Repeat("0123456789", 10000)
		r := e.do(req{method: http.MethodPost, path: "/api/v1/repositories/repo1/branches/main/objects?path=chunked",
			body: strings.NewReader(data), chunked: true})
		expect(t, r, http.StatusCreated)
		got := e.get(objectsPath + "?path=chunked")
		if string(got.body) != data {
			t.Fatalf("chunked upload read back %d bytes, want %d", len(got.body), len(data))
		}
	})
	t.Run("if-none-match", func(t *testing.T) {
		p := "/api/v1/repositories/repo1/branches/main/objects?path=once"
		r := e.do(req{method: http.MethodPost, path: p, body: strings.NewReader("1"), header: map[string]string{"If-None-Match": "*"}})
		expect(t, r, http.StatusCreated)
		r = e.do(req{method: http.MethodPost, path: p, body: strings.NewReader("2"), header: map[string]string{"If-None-Match": "*"}})
		expectError(t, r, http.StatusPreconditionFailed)
		if got := e.get(objectsPath + "?path=once"); string(got.body) != "1" {
			t.Fatalf("object replaced despite If-None-Match: %q", got.body)
		}
		r = e.do(req{method: http.MethodPost, path: p, body: strings.NewReader("2"), header: map[string]string{"If-None-Match": `"abc"`}})
		expectError(t, r, http.StatusBadRequest)
	})

	base := "/api/v1/repositories/repo1/branches/main/objects"
	bad := []struct {
		name   string
		path   string
		body   []byte
		ctype  string
		status int
	}{
		{"no path", base, []byte("x"), "", http.StatusBadRequest},
		{"empty path", base + "?path=", []byte("x"), "", http.StatusBadRequest},
		{"unknown branch", "/api/v1/repositories/repo1/branches/nope/objects?path=a", []byte("x"), "", http.StatusNotFound},
		{"invalid branch", "/api/v1/repositories/repo1/branches/bad%20b/objects?path=a", []byte("x"), "", http.StatusBadRequest},
		{"unknown repository", "/api/v1/repositories/no-such-repo/branches/main/objects?path=a", []byte("x"), "", http.StatusNotFound},
		{"multipart without content", base + "?path=a", nil, "other", http.StatusBadRequest},
		{"multipart without boundary", base + "?path=a", []byte("x"), "multipart/form-data", http.StatusBadRequest},
		{"malformed multipart", base + "?path=a", []byte("garbage"), "multipart/form-data; boundary=xyz", http.StatusBadRequest},
		{"invalid metadata", base + "?path=a", []byte("x"), "meta", http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			body := tc.body
			switch tc.ctype {
			case "other":
				body, h["Content-Type"] = multipartBody(t, "file", "x", "")
			case "meta":
				h["X-Lakefs-Meta-Bad"] = "caf\u00e9"
			case "":
			default:
				h["Content-Type"] = tc.ctype
			}
			expectError(t, e.do(req{method: http.MethodPost, path: tc.path, body: bytes.NewReader(body), header: h}), tc.status)
		})
	}
}

func TestGetObject(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.uploadMultipart("repo1", "main", "f.bin", "0123456789", "application/x-test")

	r := e.get(objectsPath + "?path=f.bin")
	expect(t, r, http.StatusOK)
	etag := r.header.Get("ETag")
	if string(r.body) != "0123456789" || r.header.Get("Content-Length") != "10" || !strings.HasPrefix(etag, `"`) ||
		r.header.Get("Last-Modified") == "" || r.header.Get("Content-Disposition") != "attachment" ||
		r.header.Get("Content-Type") != "application/x-test" {
		t.Fatalf("get object: %q headers %v", r.body, r.header)
	}
	if _, err := http.ParseTime(r.header.Get("Last-Modified")); err != nil {
		t.Errorf("Last-Modified %q: %v", r.header.Get("Last-Modified"), err)
	}

	ranges := []struct {
		spec, want, contentRange string
	}{
		{"bytes=2-4", "234", "bytes 2-4/10"},
		{"bytes=7-", "789", "bytes 7-9/10"},
		{"bytes=-3", "789", "bytes 7-9/10"},
		{"bytes=8-100", "89", "bytes 8-9/10"},
		{"bytes=-100", "0123456789", "bytes 0-9/10"},
	}
	for _, tc := range ranges {
		t.Run(tc.spec, func(t *testing.T) {
			r := e.do(req{method: http.MethodGet, path: objectsPath + "?path=f.bin", header: map[string]string{"Range": tc.spec}})
			expect(t, r, http.StatusPartialContent)
			if string(r.body) != tc.want || r.header.Get("Content-Range") != tc.contentRange ||
				r.header.Get("Content-Length") != fmt.Sprint(len(tc.want)) {
				t.Fatalf("range %s: %q %q", tc.spec, r.body, r.header.Get("Content-Range"))
			}
		})
	}
	for _, spec := range []string{"bytes=10-", "bytes=20-30", "bytes=-0", "bytes=1-2,4-5", "items=1-2", "bytes=5-2", "bytes=x-"} {
		t.Run(spec, func(t *testing.T) {
			r := e.do(req{method: http.MethodGet, path: objectsPath + "?path=f.bin", header: map[string]string{"Range": spec}})
			expectError(t, r, http.StatusRequestedRangeNotSatisfiable)
		})
	}
	r = e.do(req{method: http.MethodGet, path: objectsPath + "?path=f.bin", header: map[string]string{"If-None-Match": etag}})
	expect(t, r, http.StatusNotModified)

	// Through a commit id and a tag, and after the branch moves on.
	c1 := e.commit("repo1", "main", "one")
	e.uploadMultipart("repo1", "main", "f.bin", "changed", "")
	if got := e.get("/api/v1/repositories/repo1/refs/" + c1 + "/objects?path=f.bin"); string(got.body) != "0123456789" {
		t.Fatalf("read at commit: %q", got.body)
	}
	if got := e.get(objectsPath + "?path=f.bin"); string(got.body) != "changed" {
		t.Fatalf("read at branch: %q", got.body)
	}
	if got := e.get("/api/v1/repositories/repo1/refs/main@/objects?path=f.bin"); string(got.body) != "0123456789" {
		t.Fatalf("read committed only (main@): %q", got.body)
	}

	expectError(t, e.get(objectsPath+"?path=nope"), http.StatusNotFound)
	expectError(t, e.get(objectsPath), http.StatusBadRequest)
	expectError(t, e.get("/api/v1/repositories/repo1/refs/nope/objects?path=f.bin"), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/no-such-repo/refs/main/objects?path=f.bin"), http.StatusNotFound)
	// Local storage cannot presign.
	expectError(t, e.get(objectsPath+"?path=f.bin&presign=true"), http.StatusBadRequest)
	expectError(t, e.get(objectsPath+"?path=f.bin&presign=sure"), http.StatusBadRequest)
}

func TestHeadObject(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.upload("repo1", "main", "f", "0123456789")
	r := e.do(req{method: http.MethodHead, path: objectsPath + "?path=f"})
	expect(t, r, http.StatusOK)
	if len(r.body) != 0 || r.header.Get("Content-Length") != "10" || r.header.Get("ETag") == "" {
		t.Fatalf("HEAD: body %q headers %v", r.body, r.header)
	}
	r = e.do(req{method: http.MethodHead, path: objectsPath + "?path=f", header: map[string]string{"Range": "bytes=0-3"}})
	expect(t, r, http.StatusPartialContent)
	if r.header.Get("Content-Length") != "4" || r.header.Get("Content-Range") != "bytes 0-3/10" {
		t.Fatalf("HEAD range headers %v", r.header)
	}
	for _, tc := range []struct {
		path   string
		header map[string]string
		status int
	}{
		{objectsPath + "?path=nope", nil, http.StatusNotFound},
		{objectsPath, nil, http.StatusBadRequest},
		{objectsPath + "?path=f", map[string]string{"Range": "bytes=50-"}, http.StatusRequestedRangeNotSatisfiable},
	} {
		r := e.do(req{method: http.MethodHead, path: tc.path, header: tc.header})
		if r.status != tc.status || len(r.body) != 0 {
			t.Errorf("HEAD %s: %d %q, want %d and no body", tc.path, r.status, r.body, tc.status)
		}
	}
}

func TestStatObject(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	e.do(req{method: http.MethodPost, path: "/api/v1/repositories/repo1/branches/main/objects?path=a/b.txt",
		body: strings.NewReader("abc"), header: map[string]string{"Content-Type": "text/plain", "X-Lakefs-Meta-Color": "blue"}})
	r := e.get(objectsPath + "/stat?path=a/b.txt")
	expect(t, r, http.StatusOK)
	var st objectJSON
	r.json(t, &st)
	if st.Path != "a/b.txt" || *st.SizeBytes != 3 || st.Metadata["color"] != "blue" || *st.ContentType != "text/plain" ||
		st.PhysicalAddressExpiry != nil || !strings.HasPrefix(st.PhysicalAddress, "local://lakeq/repo1/") {
		t.Fatalf("stat %s", r.body)
	}
	st = objectJSON{}
	e.get(objectsPath+"/stat?path=a/b.txt&user_metadata=false").json(t, &st)
	if len(st.Metadata) != 0 {
		t.Fatalf("user_metadata=false still has %v", st.Metadata)
	}
	expectError(t, e.get(objectsPath+"/stat?path=a/"), http.StatusNotFound)
	expectError(t, e.get(objectsPath+"/stat"), http.StatusBadRequest)
	expectError(t, e.get(objectsPath+"/stat?path=a/b.txt&user_metadata=2"), http.StatusBadRequest)
	expectError(t, e.get(objectsPath+"/stat?path=a/b.txt&presign=true"), http.StatusBadRequest)
	expectError(t, e.get("/api/v1/repositories/repo1/refs/nope/objects/stat?path=a/b.txt"), http.StatusNotFound)
}

func TestListObjects(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	for _, p := range []string{"a/1", "a/2", "a/sub/3", "b", "c/4"} {
		e.upload("repo1", "main", p, p)
	}
	list := func(query string) objectList {
		t.Helper()
		r := e.get(objectsPath + "/ls" + query)
		expect(t, r, http.StatusOK)
		var l objectList
		r.json(t, &l)
		return l
	}
	paths := func(l objectList) string {
		var out []string
		for _, o := range l.Results {
			s := o.Path
			if o.PathType == "common_prefix" {
				s += "(p)"
			}
			out = append(out, s)
		}
		return strings.Join(out, " ")
	}
	cases := []struct {
		query, want string
		hasMore     bool
	}{
		{"", "a/1 a/2 a/sub/3 b c/4", false},
		{"?delimiter=/", "a/(p) b c/(p)", false},
		{"?delimiter=/&prefix=a/", "a/1 a/2 a/sub/(p)", false},
		{"?prefix=a/&amount=2", "a/1 a/2", true},
		{"?prefix=a/&after=a/2", "a/sub/3", false},
		{"?delimiter=/&amount=1", "a/(p)", true},
		{"?delimiter=/&after=a/", "b c/(p)", false},
		{"?prefix=zzz", "", false},
		{"?prefix=&after=&delimiter=", "a/1 a/2 a/sub/3 b c/4", false},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			l := list(tc.query)
			if got := paths(l); got != tc.want || l.Pagination.HasMore != tc.hasMore {
				t.Fatalf("ls %q has_more=%v, want %q has_more=%v", got, l.Pagination.HasMore, tc.want, tc.hasMore)
			}
			if tc.hasMore && l.Pagination.NextOffset != l.Results[len(l.Results)-1].Path {
				t.Fatalf("next_offset %q", l.Pagination.NextOffset)
			}
		})
	}
	l := list("?prefix=b")
	o := l.Results[0]
	if o.PathType != "object" || o.SizeBytes == nil || *o.SizeBytes != 1 || o.Checksum == "" || o.Mtime == 0 || o.PhysicalAddress == "" {
		t.Fatalf("listed object %+v", o)
	}
	l = list("?delimiter=/")
	if p := l.Results[0]; p.SizeBytes != nil || p.Checksum != "" || p.ContentType != nil {
		t.Fatalf("common prefix carries object fields: %+v", p)
	}
	expectError(t, e.get(objectsPath+"/ls?amount=x"), http.StatusBadRequest)
	expectError(t, e.get("/api/v1/repositories/repo1/refs/nope/objects/ls"), http.StatusNotFound)
	expectError(t, e.get("/api/v1/repositories/no-such-repo/refs/main/objects/ls"), http.StatusNotFound)
	expectError(t, e.get(objectsPath+"/ls?presign=true"), http.StatusBadRequest)
}

func TestDeleteObjects(t *testing.T) {
	e := newEnv(t)
	e.createRepo("repo1")
	for _, p := range []string{"a", "b", "c", "d"} {
		e.upload("repo1", "main", p, p)
	}
	base := "/api/v1/repositories/repo1/branches/main/objects"
	expect(t, e.del(base+"?path=a"), http.StatusNoContent)
	expectError(t, e.get(objectsPath+"?path=a"), http.StatusNotFound)
	// Missing objects are not errors, as in lakeFS.
	expect(t, e.del(base+"?path=a"), http.StatusNoContent)
	expectError(t, e.del(base), http.StatusBadRequest)
	expectError(t, e.del("/api/v1/repositories/repo1/branches/nope/objects?path=b"), http.StatusNotFound)
	expectError(t, e.del("/api/v1/repositories/no-such-repo/branches/main/objects?path=b"), http.StatusNotFound)

	r := e.postJSON(base+"/delete", map[string]any{"paths": []string{"b", "c", "missing"}})
	expect(t, r, http.StatusOK)
	var res struct {
		Errors []struct {
			Path       string `json:"path"`
			StatusCode int    `json:"status_code"`
			Message    string `json:"message"`
		} `json:"errors"`
	}
	r.json(t, &res)
	if res.Errors == nil || len(res.Errors) != 0 {
		t.Fatalf("delete objects: %s", r.body)
	}
	var l objectList
	e.get(objectsPath+"/ls").json(t, &l)
	if len(l.Results) != 1 || l.Results[0].Path != "d" {
		t.Fatalf("after deletes: %+v", l.Results)
	}
	r = e.postJSON(base+"/delete", map[string]any{"paths": []string{"d", ""}})
	expect(t, r, http.StatusOK)
	r.json(t, &res)
	if len(res.Errors) != 1 || res.Errors[0].Path != "" || res.Errors[0].StatusCode != http.StatusBadRequest {
		t.Fatalf("delete with an invalid path: %s", r.body)
	}

	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	bad := []struct {
		name, path string
		body       any
		status     int
	}{
		{"too many", base + "/delete", map[string]any{"paths": many}, http.StatusBadRequest},
		{"malformed", base + "/delete", `{"paths":`, http.StatusBadRequest},
		{"no paths", base + "/delete", `{}`, http.StatusBadRequest},
		{"paths of wrong type", base + "/delete", `{"paths":"a"}`, http.StatusBadRequest},
		{"unknown branch", "/api/v1/repositories/repo1/branches/nope/objects/delete", `{"paths":["a"]}`, http.StatusNotFound},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) { expectError(t, e.postJSON(tc.path, tc.body), tc.status) })
	}
}
