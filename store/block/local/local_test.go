package local_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/blocktest"
	"github.com/lakeq/lakeq/store/block/local"
)

func newStore(t *testing.T) *local.Store {
	t.Helper()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLocalConformance(t *testing.T) {
	t.Run("bucket", func(t *testing.T) {
		blocktest.Run(t, func(t *testing.T) (block.Store, string) {
			s := newStore(t)
			if err := s.MakeBucket(context.Background(), "data"); err != nil {
				t.Fatalf("MakeBucket: %v", err)
			}
			return s, "data"
		})
	})
	t.Run("root", func(t *testing.T) {
		blocktest.Run(t, func(t *testing.T) (block.Store, string) {
			return newStore(t), ""
		})
	})
}

func TestLocalKeyRules(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.MakeBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, bucket, key string
	}{
		{"dotdot", "b", "../escape"},
		{"dotdot inside", "b", "a/../../escape"},
		{"dot", "b", "./a"},
		{"leading slash", "b", "/etc/passwd"},
		{"trailing slash", "b", "dir/"},
		{"empty segment", "b", "a//b"},
		{"long segment", "b", "a/" + strings.Repeat("s", 256)},
		{"reserved", "", ".lakeq/meta/x"},
		{"reserved alone", "", ".lakeq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Put(ctx, tt.bucket, tt.key, bytes.NewReader([]byte("x")), 1, block.PutOptions{})
			if !errors.Is(err, block.ErrInvalidKey) {
				t.Fatalf("Put(%q) = %v, want ErrInvalidKey", tt.key, err)
			}
			if _, err := s.Stat(ctx, tt.bucket, tt.key); !errors.Is(err, block.ErrInvalidKey) {
				t.Fatalf("Stat(%q) = %v, want ErrInvalidKey", tt.key, err)
			}
		})
	}
	// A 255-byte segment is fine; ".lakeq" is an ordinary name below the top.
	for _, key := range []string{"a/" + strings.Repeat("s", 255), "x/.lakeq/y", ".lakeqx"} {
		blocktest.Put(t, s, "", key, []byte("ok"))
	}
	for _, bucket := range []string{".lakeq", "..", "a/b", ".hidden"} {
		if err := s.MakeBucket(ctx, bucket); err == nil {
			t.Errorf("MakeBucket(%q) succeeded", bucket)
		}
	}
}

func TestLocalKeyConflict(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	blocktest.Put(t, s, "", "a", []byte("file"))
	_, err := s.Put(ctx, "", "a/b", bytes.NewReader([]byte("x")), 1, block.PutOptions{})
	if !errors.Is(err, block.ErrInvalidKey) || !strings.Contains(err.Error(), "conflicts") {
		t.Fatalf("Put(a/b) beside object a = %v, want a conflict wrapping ErrInvalidKey", err)
	}
	blocktest.Put(t, s, "", "d/e", []byte("file"))
	_, err = s.Put(ctx, "", "d", bytes.NewReader([]byte("x")), 1, block.PutOptions{})
	if !errors.Is(err, block.ErrInvalidKey) {
		t.Fatalf("Put(d) over prefix d/ = %v, want ErrInvalidKey", err)
	}
	if data, _ := blocktest.Get(t, s, "", "a"); string(data) != "file" {
		t.Fatalf("a = %q after the failed puts", data)
	}
	// Once d/e is gone, d may be an object.
	if err := s.Delete(ctx, "", "d/e"); err != nil {
		t.Fatal(err)
	}
	blocktest.Put(t, s, "", "d", []byte("now a file"))
	// An empty directory left behind does not block a key either.
	if err := os.MkdirAll(filepath.Join(s.Dir(), "empty", "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	blocktest.Put(t, s, "", "empty/dir", []byte("x"))
}

func TestLocalSymlinkEscape(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(s.Dir(), "filelink")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "", "link/secret", nil); err == nil {
		t.Fatal("Get through a symlink out of the root succeeded")
	}
	if _, err := s.Put(ctx, "", "link/planted", bytes.NewReader([]byte("x")), 1, block.PutOptions{}); err == nil {
		t.Fatal("Put through a symlink out of the root succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !os.IsNotExist(err) {
		t.Fatalf("a file was written outside the root: %v", err)
	}
	if _, err := s.Stat(ctx, "", "filelink"); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("Stat of a symlink = %v, want ErrNotFound", err)
	}
	if keys := blocktest.Keys(t, s, "", block.ListOptions{}); len(keys) != 0 {
		t.Fatalf("List shows %q", keys)
	}
	if _, err := s.List(ctx, "", block.ListOptions{Prefix: "link/"}); err == nil {
		// os.Root refuses the escaping directory; an empty page would also do.
		page, _ := s.List(ctx, "", block.ListOptions{Prefix: "link/"})
		if len(page.Items) != 0 {
			t.Fatalf("List through the symlink shows %+v", page.Items)
		}
	}
}

func TestLocalForeignFiles(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// A file that did not come through Put.
	p := filepath.Join(s.Dir(), "in", "file.csv")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("a,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, "", "in/file.csv")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Size != 4 || info.ETag == "" || info.ContentType != "application/octet-stream" {
		t.Fatalf("Stat of a foreign file = %+v", info)
	}
	again, _ := s.Stat(ctx, "", "in/file.csv")
	if again.ETag != info.ETag {
		t.Fatalf("ETag of an unchanged file changed: %s, %s", info.ETag, again.ETag)
	}
	// A file changed behind the store's back: its sidecar no longer applies.
	put, err := s.Put(ctx, "", "in/put.txt", bytes.NewReader([]byte("v1")), 2, block.PutOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	q := filepath.Join(s.Dir(), "in", "put.txt")
	if err := os.WriteFile(q, []byte("v2!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(q, later, later); err != nil {
		t.Fatal(err)
	}
	changed, err := s.Stat(ctx, "", "in/put.txt")
	if err != nil {
		t.Fatal(err)
	}
	if changed.ETag == put.ETag || changed.Size != 3 || changed.ContentType != "application/octet-stream" {
		t.Fatalf("Stat after an outside change = %+v (was %+v)", changed, put)
	}
	// Stat by the bucket "in" sees the same file.
	if err := s.MakeBucket(ctx, "in"); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Stat(ctx, "in", "file.csv"); err != nil || st.ETag != info.ETag {
		t.Fatalf("Stat(in, file.csv) = %+v, %v", st, err)
	}
}

func TestLocalHidesOwnFiles(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	blocktest.Put(t, s, "", "x/y", []byte("1"))
	if err := s.Delete(ctx, "", "x/y"); err != nil {
		t.Fatal(err)
	}
	blocktest.Put(t, s, "", "k", []byte("2"))
	if _, err := os.Stat(filepath.Join(s.Dir(), ".lakeq")); err != nil {
		t.Fatalf("no .lakeq directory: %v", err)
	}
	if keys := blocktest.Keys(t, s, "", block.ListOptions{}); !slicesEqual(keys, []string{"k"}) {
		t.Fatalf("List = %q, want only k", keys)
	}
	items := blocktest.ListAllItems(t, s, "", block.ListOptions{Delimiter: "/"})
	if len(items) != 1 || items[0].Key != "k" {
		t.Fatalf("List with delimiter = %+v", items)
	}
	// Delete pruned x/ and its sidecar directory.
	for _, p := range []string{"x", ".lakeq/meta/x"} {
		if _, err := os.Stat(filepath.Join(s.Dir(), p)); !os.IsNotExist(err) {
			t.Errorf("%s still exists after its last object was deleted: %v", p, err)
		}
	}
	// Empty directories are not common prefixes.
	if err := os.MkdirAll(filepath.Join(s.Dir(), "hollow", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	items = blocktest.ListAllItems(t, s, "", block.ListOptions{Delimiter: "/"})
	if len(items) != 1 || items[0].Key != "k" {
		t.Fatalf("List with an empty directory = %+v", items)
	}
}

func TestLocalPresignNotSupported(t *testing.T) {
	s := newStore(t)
	if _, err := s.PresignGet(context.Background(), "", "k", time.Minute); !errors.Is(err, block.ErrNotSupported) {
		t.Fatalf("PresignGet = %v", err)
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}
