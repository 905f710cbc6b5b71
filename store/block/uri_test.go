package block_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		in   string
		want block.URI
	}{
		{"s3://bucket/key/prefix", block.URI{Scheme: "s3", Bucket: "bucket", Key: "key/prefix"}},
		{"s3://bucket/key/prefix/", block.URI{Scheme: "s3", Bucket: "bucket", Key: "key/prefix/"}},
		{"s3://bucket", block.URI{Scheme: "s3", Bucket: "bucket"}},
		{"s3://bucket/", block.URI{Scheme: "s3", Bucket: "bucket"}},
		{"S3://my.bucket-1/a", block.URI{Scheme: "s3", Bucket: "my.bucket-1", Key: "a"}},
		{"s3://abc/a b%20c#d?e+f", block.URI{Scheme: "s3", Bucket: "abc", Key: "a b%20c#d?e+f"}},
		{"s3://abc/x//y/../z", block.URI{Scheme: "s3", Bucket: "abc", Key: "x//y/../z"}},
		{"s3://abc/ключ/日本", block.URI{Scheme: "s3", Bucket: "abc", Key: "ключ/日本"}},
		{"local://data/some/prefix/", block.URI{Scheme: "local", Bucket: "data", Key: "some/prefix/"}},
		{"local://data", block.URI{Scheme: "local", Bucket: "data"}},
		{"local:///abs/path", block.URI{Scheme: "local", Key: "abs/path"}},
		{"local:///abs/path/", block.URI{Scheme: "local", Key: "abs/path/"}},
		{"local:///", block.URI{Scheme: "local"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := block.ParseURI(tt.in)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseURI(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			again, err := block.ParseURI(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip of %q via %q = %#v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestParseURIInvalid(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"no scheme", "bucket/key"},
		{"http", "http://host/key"},
		{"file", "file:///tmp/x"},
		{"s3 no bucket", "s3:///key"},
		{"s3 short bucket", "s3://ab/key"},
		{"s3 long bucket", "s3://" + strings.Repeat("a", 64) + "/key"},
		{"s3 upper bucket", "s3://Bucket/key"},
		{"s3 underscore bucket", "s3://my_bucket/key"},
		{"s3 dash start", "s3://-bucket/key"},
		{"s3 dot end", "s3://bucket./key"},
		{"s3 double dot", "s3://a..b/key"},
		{"s3 ip address", "s3://192.168.1.1/key"},
		{"s3 nul key", "s3://bucket/a\x00b"},
		{"s3 bad utf8", "s3://bucket/a\xffb"},
		{"s3 long key", "s3://bucket/" + strings.Repeat("k", block.MaxKeyLength+1)},
		{"local empty", "local://"},
		{"local dot bucket", "local://.hidden/x"},
		{"local dotdot", "local:///abs/../etc"},
		{"local dot", "local://data/./x"},
		{"local empty segment", "local:///abs//x"},
		{"local leading double slash", "local:////abs"},
		{"local nul", "local:///abs/a\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := block.ParseURI(tt.in)
			if !errors.Is(err, store.ErrInvalidURI) || !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("ParseURI(%q) = %#v, %v; want ErrInvalidURI", tt.in, u, err)
			}
		})
	}
}

func TestURIJoin(t *testing.T) {
	tests := []struct {
		base, rel, want string
	}{
		{"s3://bucket/pre", "a/b", "s3://bucket/pre/a/b"},
		{"s3://bucket/pre/", "a/b", "s3://bucket/pre/a/b"},
		{"s3://bucket/pre/", "/a", "s3://bucket/pre/a"},
		{"s3://bucket", "a", "s3://bucket/a"},
		{"s3://bucket/pre", "", "s3://bucket/pre"},
		{"local:///", "tmp/x", "local:///tmp/x"},
		{"local://data/ns", "_lakeq/ranges/1", "local://data/ns/_lakeq/ranges/1"},
	}
	for _, tt := range tests {
		t.Run(tt.base+"+"+tt.rel, func(t *testing.T) {
			if got := block.MustParseURI(tt.base).Join(tt.rel).String(); got != tt.want {
				t.Fatalf("Join = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestURIContains(t *testing.T) {
	tests := []struct {
		outer, inner string
		want         bool
	}{
		{"s3://bucket/repo", "s3://bucket/repo/x", true},
		{"s3://bucket/repo/", "s3://bucket/repo/x/y", true},
		{"s3://bucket/repo", "s3://bucket/repo", true},
		{"s3://bucket/repo/", "s3://bucket/repo", true},
		{"s3://bucket/", "s3://bucket/anything", true},
		{"s3://bucket/repo", "s3://bucket/repo2/x", false},
		{"s3://bucket/repo", "s3://bucket/re", false},
		{"s3://bucket/repo", "s3://other/repo/x", false},
		{"s3://bucket/repo", "local://bucket/repo/x", false},
		{"local:///data", "local:///data/in/x", true},
		{"local:///data", "local:///database", false},
		{"local:///", "local:///etc/passwd", true},
	}
	for _, tt := range tests {
		t.Run(tt.outer+" ⊇ "+tt.inner, func(t *testing.T) {
			outer, inner := block.MustParseURI(tt.outer), block.MustParseURI(tt.inner)
			if got := outer.Contains(inner); got != tt.want {
				t.Fatalf("Contains = %v, want %v", got, tt.want)
			}
			if got := outer.IsPrefixOf(inner); got != tt.want {
				t.Fatalf("IsPrefixOf = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"s3://bucket/key/prefix", "s3://bucket", "S3://a.b-c/x y%z#", "local://data/x/",
		"local:///abs/path", "local:///", "local:////x", "s3://ab/", "http://x/y",
		"local://./x", "s3://bucket/\x00", "local:///a/../b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := block.ParseURI(s)
		if err != nil {
			if !errors.Is(err, store.ErrInvalidURI) {
				t.Fatalf("ParseURI(%q) error %v does not wrap ErrInvalidURI", s, err)
			}
			return
		}
		if !utf8.ValidString(u.Key) || strings.IndexByte(u.Key, 0) >= 0 {
			t.Fatalf("ParseURI(%q) accepted key %q", s, u.Key)
		}
		again, err := block.ParseURI(u.String())
		if err != nil {
			t.Fatalf("ParseURI(String(%#v)) = %v", u, err)
		}
		if again != u {
			t.Fatalf("round trip of %q: %#v != %#v", s, again, u)
		}
		if !u.Contains(u) {
			t.Fatalf("%#v does not contain itself", u)
		}
	})
}
