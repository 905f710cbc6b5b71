package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		in   string
		want store.URI
		str  string // String() of the result; "" means in itself
	}{
		{in: "lakeq://repo", want: store.URI{Repo: "repo"}},
		{in: "lakeq://repo/", want: store.URI{Repo: "repo"}, str: "lakeq://repo"},
		{in: "lakeq://repo/main", want: store.URI{Repo: "repo", Ref: "main"}},
		{in: "lakeq://repo/main/", want: store.URI{Repo: "repo", Ref: "main"}, str: "lakeq://repo/main"},
		{in: "lakeq://repo/main/a.txt", want: store.URI{Repo: "repo", Ref: "main", Path: "a.txt"}},
		{in: "lakeq://repo/main/dir/", want: store.URI{Repo: "repo", Ref: "main", Path: "dir/"}},
		{in: "lakeq://repo/main/a//b c%20?#", want: store.URI{Repo: "repo", Ref: "main", Path: "a//b c%20?#"}},
		{in: "lakeq://my-repo-1/main~2^1@/x", want: store.URI{Repo: "my-repo-1", Ref: "main~2^1@", Path: "x"}},
		{in: "lakeq://repo/v1.0/x", want: store.URI{Repo: "repo", Ref: "v1.0", Path: "x"}},
		{in: "lakeq://repo/main/日本/語", want: store.URI{Repo: "repo", Ref: "main", Path: "日本/語"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := store.ParseURI(tt.in)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseURI(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			wantStr := tt.str
			if wantStr == "" {
				wantStr = tt.in
			}
			if s := got.String(); s != wantStr {
				t.Fatalf("String() = %q, want %q", s, wantStr)
			}
		})
	}
}

func TestParseURIInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"no scheme", "repo/main/x"},
		{"other scheme", "s3://repo/main/x"},
		{"upper-case scheme", "LAKEQ://repo/main"},
		{"lakefs scheme", "lakefs://repo/main"},
		{"empty repo", "lakeq://"},
		{"empty repo with ref", "lakeq:///main/x"},
		{"short repo", "lakeq://ab/main"},
		{"upper-case repo", "lakeq://Repo/main"},
		{"repo starting with dash", "lakeq://-repo/main"},
		{"empty ref before path", "lakeq://repo//x"},
		{"ref with space", "lakeq://repo/ma in/x"},
		{"ref with colon", "lakeq://repo/main:x/y"},
		{"path with NUL", "lakeq://repo/main/a\x00b"},
		{"path not UTF-8", "lakeq://repo/main/\xff"},
		{"path too long", "lakeq://repo/main/" + strings.Repeat("a", store.MaxPathLength+1)},
		{"ref too long", "lakeq://repo/" + strings.Repeat("a", 600)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := store.ParseURI(tt.in)
			if err == nil {
				t.Fatalf("ParseURI(%q) = %+v, want an error", tt.in, u)
			}
			if !errors.Is(err, store.ErrInvalidURI) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("ParseURI(%q) error %v does not wrap ErrInvalidURI and ErrInvalid", tt.in, err)
			}
		})
	}
}

func TestURIRequire(t *testing.T) {
	tests := []struct {
		in              string
		refErr, pathErr bool
	}{
		{"lakeq://repo", true, true},
		{"lakeq://repo/main", false, true},
		{"lakeq://repo/main/x", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := store.ParseURI(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if err := u.RequireRef(); (err != nil) != tt.refErr || err != nil && !errors.Is(err, store.ErrInvalidURI) {
				t.Errorf("RequireRef() = %v, want error %v", err, tt.refErr)
			}
			if err := u.RequirePath(); (err != nil) != tt.pathErr || err != nil && !errors.Is(err, store.ErrInvalidURI) {
				t.Errorf("RequirePath() = %v, want error %v", err, tt.pathErr)
			}
		})
	}
}

func TestURIValidate(t *testing.T) {
	if err := (store.URI{Repo: "repo", Path: "x"}).Validate(); !errors.Is(err, store.ErrInvalidURI) {
		t.Fatalf("a path without a reference: Validate() = %v, want ErrInvalidURI", err)
	}
	if err := (store.URI{Repo: "repo", Ref: "main", Path: "x"}).Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"lakeq://repo", "lakeq://repo/", "lakeq://repo/main", "lakeq://repo/main/",
		"lakeq://repo/main/a/b.txt", "lakeq://repo/main~1^2@/dir/", "lakeq://repo//x",
		"lakeq:///main", "s3://bucket/key", "lakeq://repo/main/a\x00", "", "lakeq://",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := store.ParseURI(s)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidURI) {
				t.Fatalf("ParseURI(%q) error %v does not wrap ErrInvalidURI", s, err)
			}
			return
		}
		if err := u.Validate(); err != nil {
			t.Fatalf("ParseURI(%q) = %+v, which does not validate: %v", s, u, err)
		}
		again, err := store.ParseURI(u.String())
		if err != nil {
			t.Fatalf("ParseURI(%q) = %+v; re-parsing %q: %v", s, u, u.String(), err)
		}
		if again != u {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v", s, u, u.String(), again)
		}
		if !strings.HasPrefix(s, "lakeq://"+string(u.Repo)) {
			t.Fatalf("ParseURI(%q) = %+v: repository is not the text after the scheme", s, u)
		}
	})
}
