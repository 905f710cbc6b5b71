package block_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/block/s3"
)

func openLocal(dir string) (block.Store, error) { return local.New(dir) }

func TestResolver(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "data")
	imports := filepath.Join(base, "imports")
	nested := filepath.Join(imports, "nested")
	for _, d := range []string{data, nested} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dataStore, err := local.New(data)
	if err != nil {
		t.Fatal(err)
	}
	defer dataStore.Close()
	// Resolve never contacts the endpoint; only the store's identity matters.
	s3Store, err := s3.New(s3.Config{Endpoint: "127.0.0.1:9000"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := block.NewResolver(block.ResolverConfig{
		S3:           s3Store,
		Local:        dataStore,
		AllowedRoots: []string{imports, nested + "/"},
		OpenLocal:    openLocal,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	tests := []struct {
		uri         string
		store       string // "s3", "data", or the root dir
		bucket, key string
	}{
		{"s3://bucket/a/b", "s3", "bucket", "a/b"},
		{"s3://bucket", "s3", "bucket", ""},
		{"local://repo/ns/", "data", "repo", "ns/"},
		{"local://repo", "data", "repo", ""},
		{"local://" + imports + "/x/y", imports, "", "x/y"},
		{"local://" + imports + "/dir/", imports, "", "dir/"},
		{"local://" + imports, imports, "", ""},
		{"local://" + imports + "/", imports, "", ""},
		{"local://" + nested + "/f", nested, "", "f"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			u, err := block.ParseURI(tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Resolve(u)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got.Bucket != tt.bucket || got.Key != tt.key {
				t.Fatalf("Resolve = %q %q, want %q %q", got.Bucket, got.Key, tt.bucket, tt.key)
			}
			switch tt.store {
			case "s3":
				if got.Store != block.Store(s3Store) {
					t.Fatal("not the S3 store")
				}
			case "data":
				if got.Store != block.Store(dataStore) {
					t.Fatal("not the data-dir store")
				}
			default:
				ls, ok := got.Store.(*local.Store)
				if !ok || ls.Dir() != tt.store {
					t.Fatalf("store %T rooted at %v, want %s", got.Store, ls, tt.store)
				}
			}
			again, err := r.Resolve(u)
			if err != nil || again.Store != got.Store {
				t.Fatalf("second Resolve gave another store (%v)", err)
			}
		})
	}

	for _, uri := range []string{
		"local:///etc/passwd",
		"local://" + imports + "x/y", // a sibling sharing the name's start
		"local:///",
	} {
		_, err := r.Resolve(block.MustParseURI(uri))
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), imports) {
			t.Errorf("Resolve(%s) = %v, want ErrInvalid naming the allowed roots", uri, err)
		}
	}
}

func TestResolverUnconfigured(t *testing.T) {
	r, err := block.NewResolver(block.ResolverConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, uri := range []string{"s3://bucket/k", "local://b/k", "local:///tmp/x"} {
		if _, err := r.Resolve(block.MustParseURI(uri)); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Resolve(%s) = %v, want ErrInvalid", uri, err)
		}
	}
	if _, err := block.NewResolver(block.ResolverConfig{AllowedRoots: []string{"relative/dir"}, OpenLocal: openLocal}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("relative root accepted: %v", err)
	}
	if _, err := block.NewResolver(block.ResolverConfig{AllowedRoots: []string{"/tmp"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("roots without OpenLocal accepted: %v", err)
	}
	if _, err := r.Resolve(block.URI{Scheme: "ftp", Bucket: "x"}); !errors.Is(err, store.ErrInvalidURI) {
		t.Errorf("Resolve of an invalid URI = %v", err)
	}
}
