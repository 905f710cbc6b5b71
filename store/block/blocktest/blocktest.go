// Package blocktest is the conformance suite every block.Store
// implementation runs: `blocktest.Run(t, newStore)`. It checks the contract
// in store/block as a caller sees it, against the real backend.
package blocktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// NewStore returns a store and a bucket in it that exists and that no
// other test uses. It is called once per subtest, possibly in parallel.
type NewStore func(t *testing.T) (block.Store, string)

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s block.Store, bucket string)
	}{
		{"PutGet", testPutGet},
		{"PutUnknownSizeMultipart", testPutUnknownSize},
		{"PutShortBody", testPutShortBody},
		{"GetRange", testGetRange},
		{"StatMissing", testStatMissing},
		{"MissingBucket", testMissingBucket},
		{"InvalidKey", testInvalidKey},
		{"Metadata", testMetadata},
		{"Copy", testCopy},
		{"Delete", testDelete},
		{"DeleteMany", testDeleteMany},
		{"ListOrder", testListOrder},
		{"ListStartAfterPaging", testListPaging},
		{"ListDelimiter", testListDelimiter},
		{"ListEmpty", testListEmpty},
		{"ListModel", testListModel},
		{"ListBadOptions", testListBadOptions},
		{"Presign", testPresign},
		{"Overwrite", testOverwrite},
		{"ConcurrentPuts", testConcurrentPuts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, bucket := newStore(t)
			tt.fn(t, s, bucket)
		})
	}
}

func testPutGet(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	for _, n := range []int{0, 1, 1000, 1 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := randomBytes(n, uint64(n))
			key := fmt.Sprintf("putget/%d.bin", n)
			info, err := s.Put(ctx, bucket, key, bytes.NewReader(data), int64(n), block.PutOptions{})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if info.Size != int64(n) || info.ETag != md5Hex(data) || info.Key != key || info.Bucket != bucket {
				t.Fatalf("Put info = %+v, want size %d etag %s", info, n, md5Hex(data))
			}
			got, ginfo := Get(t, s, bucket, key)
			if !bytes.Equal(got, data) {
				t.Fatalf("Get returned %d bytes that differ from the %d put", len(got), n)
			}
			if ginfo.Size != int64(n) || ginfo.ETag != info.ETag {
				t.Fatalf("Get info = %+v, want size %d etag %s", ginfo, n, info.ETag)
			}
			st, err := s.Stat(ctx, bucket, key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if st.Size != int64(n) || st.ETag != info.ETag || st.LastModified.IsZero() ||
				time.Since(st.LastModified) > time.Hour || st.ContentType == "" {
				t.Fatalf("Stat = %+v", st)
			}
		})
	}
}

func testPutUnknownSize(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	const size = 20 << 20
	data := randomBytes(size, 20)
	// onlyReader hides Len/Seek so the store cannot learn the size.
	info, err := s.Put(ctx, bucket, "big/unknown.bin", onlyReader{bytes.NewReader(data)}, -1, block.PutOptions{ContentType: "application/x-test"})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if info.Size != size {
		t.Fatalf("Put size = %d, want %d", info.Size, size)
	}
	st, err := s.Stat(ctx, bucket, "big/unknown.bin")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.Size != size || st.ContentType != "application/x-test" || st.ETag == "" {
		t.Fatalf("Stat = %+v", st)
	}
	rc, _, err := s.Get(ctx, bucket, "big/unknown.bin", nil)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatalf("read: %v", err)
	}
	want := sha256.Sum256(data)
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("content read back differs from content put")
	}
}

func testPutShortBody(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	readers := map[string]io.Reader{
		"seekable":  bytes.NewReader([]byte("abc")),
		"stream":    onlyReader{bytes.NewReader([]byte("abc"))},
		"multipart": onlyReader{bytes.NewReader(make([]byte, 6<<20))},
	}
	for name, r := range readers {
		key := "short/" + name
		_, err := s.Put(ctx, bucket, key, r, 20<<20, block.PutOptions{})
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Put of a %s body shorter than its size = %v, want ErrInvalid", name, err)
		}
		if _, err := s.Stat(ctx, bucket, key); !errors.Is(err, block.ErrNotFound) {
			t.Errorf("Stat after failed Put = %v, want ErrNotFound", err)
		}
	}
}

func testGetRange(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	data := randomBytes(100, 7)
	Put(t, s, bucket, "range", data)
	Put(t, s, bucket, "empty", nil)
	tests := []struct {
		name    string
		key     string
		rng     block.Range
		want    []byte
		errWant error
	}{
		{"middle", "range", block.Range{Offset: 10, Length: 20}, data[10:30], nil},
		{"start", "range", block.Range{Offset: 0, Length: 1}, data[:1], nil},
		{"to end", "range", block.Range{Offset: 90, Length: -1}, data[90:], nil},
		{"past end clamps", "range", block.Range{Offset: 95, Length: 100}, data[95:], nil},
		{"last byte", "range", block.Range{Offset: 99, Length: -1}, data[99:], nil},
		{"zero length", "range", block.Range{Offset: 10, Length: 0}, []byte{}, nil},
		{"at end", "range", block.Range{Offset: 100, Length: 1}, nil, block.ErrInvalidRange},
		{"beyond end", "range", block.Range{Offset: 200, Length: -1}, nil, block.ErrInvalidRange},
		{"empty object", "empty", block.Range{Offset: 0, Length: -1}, nil, block.ErrInvalidRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := tt.rng
			rc, info, err := s.Get(ctx, bucket, tt.key, &rng)
			if tt.errWant != nil {
				if rc != nil {
					rc.Close()
				}
				if !errors.Is(err, tt.errWant) || !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("Get(%+v) = %v, want %v", tt.rng, err, tt.errWant)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get(%+v): %v", tt.rng, err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Get(%+v) = %d bytes %x, want %x", tt.rng, len(got), got, tt.want)
			}
			if info.Size != int64(len(data)) {
				t.Fatalf("Get(%+v) info.Size = %d, want the object's size %d", tt.rng, info.Size, len(data))
			}
		})
	}
}

func testStatMissing(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	Put(t, s, bucket, "present/x", []byte("x"))
	for _, key := range []string{"absent", "present/absent", "present/x/below", "present"} {
		if _, err := s.Stat(ctx, bucket, key); !errors.Is(err, block.ErrNotFound) || !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
		}
		rc, _, err := s.Get(ctx, bucket, key, nil)
		if rc != nil {
			rc.Close()
		}
		if !errors.Is(err, block.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", key, err)
		}
	}
}

func testMissingBucket(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	missing := fmt.Sprintf("lakeq-missing-%d", rand.Uint64()%1e9)
	ok, err := s.BucketExists(ctx, missing)
	if err != nil || ok {
		t.Fatalf("BucketExists(%q) = %v, %v; want false", missing, ok, err)
	}
	if ok, err := s.BucketExists(ctx, bucket); err != nil || !ok {
		t.Fatalf("BucketExists(%q) = %v, %v; want true", bucket, ok, err)
	}
	checks := map[string]func() error{
		"Stat": func() error { _, err := s.Stat(ctx, missing, "k"); return err },
		"Get": func() error {
			rc, _, err := s.Get(ctx, missing, "k", nil)
			if rc != nil {
				rc.Close()
			}
			return err
		},
		"Put": func() error {
			_, err := s.Put(ctx, missing, "k", bytes.NewReader([]byte("x")), 1, block.PutOptions{})
			return err
		},
		"List":       func() error { _, err := s.List(ctx, missing, block.ListOptions{}); return err },
		"Delete":     func() error { return s.Delete(ctx, missing, "k") },
		"DeleteMany": func() error { _, err := s.DeleteMany(ctx, missing, []string{"k", "l"}); return err },
		"Copy":       func() error { _, err := s.Copy(ctx, missing, "k", bucket, "k"); return err },
	}
	for name, fn := range checks {
		if err := fn(); !errors.Is(err, block.ErrBucketNotFound) {
			t.Errorf("%s on a missing bucket = %v, want ErrBucketNotFound", name, err)
		}
	}
}

func testInvalidKey(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	for name, key := range map[string]string{
		"empty":    "",
		"nul":      "a\x00b",
		"not utf8": "a\xffb",
		"too long": string(bytes.Repeat([]byte("k"), block.MaxKeyLength+1)),
	} {
		if _, err := s.Put(ctx, bucket, key, bytes.NewReader(nil), 0, block.PutOptions{}); !errors.Is(err, block.ErrInvalidKey) {
			t.Errorf("Put(%s key) = %v, want ErrInvalidKey", name, err)
		}
		if _, err := s.Stat(ctx, bucket, key); !errors.Is(err, block.ErrInvalidKey) {
			t.Errorf("Stat(%s key) = %v, want ErrInvalidKey", name, err)
		}
	}
	_, err := s.Put(ctx, bucket, "meta", bytes.NewReader(nil), 0, block.PutOptions{Metadata: map[string]string{"bad key": "v"}})
	if !errors.Is(err, block.ErrInvalidMetadata) {
		t.Errorf("Put with metadata key %q = %v, want ErrInvalidMetadata", "bad key", err)
	}
}

func testMetadata(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	opts := block.PutOptions{
		ContentType: "text/csv; charset=utf-8",
		Metadata:    map[string]string{"Owner": "team-a", "run-id": "42", "note": "a b=c"},
	}
	want := map[string]string{"owner": "team-a", "run-id": "42", "note": "a b=c"}
	info, err := s.Put(ctx, bucket, "meta/obj.csv", bytes.NewReader([]byte("a,b\n")), 4, opts)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if info.ContentType != opts.ContentType || !equalMaps(info.Metadata, want) {
		t.Errorf("Put info = %+v", info)
	}
	st, err := s.Stat(ctx, bucket, "meta/obj.csv")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.ContentType != opts.ContentType || !equalMaps(st.Metadata, want) {
		t.Errorf("Stat content type %q metadata %v; want %q %v", st.ContentType, st.Metadata, opts.ContentType, want)
	}
	_, ginfo := Get(t, s, bucket, "meta/obj.csv")
	if ginfo.ContentType != opts.ContentType || !equalMaps(ginfo.Metadata, want) {
		t.Errorf("Get content type %q metadata %v; want %q %v", ginfo.ContentType, ginfo.Metadata, opts.ContentType, want)
	}
	Put(t, s, bucket, "meta/plain", []byte("x"))
	st, err = s.Stat(ctx, bucket, "meta/plain")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.ContentType != "application/octet-stream" || len(st.Metadata) != 0 {
		t.Errorf("Stat of an object put without options = %q %v, want application/octet-stream and no metadata", st.ContentType, st.Metadata)
	}
}

func testCopy(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	data := randomBytes(3000, 3)
	opts := block.PutOptions{ContentType: "image/png", Metadata: map[string]string{"k": "v"}}
	src, err := s.Put(ctx, bucket, "copy/src", bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	for _, dst := range []string{"copy/dst", "copy/deeper/dir/dst", "copy/src"} {
		info, err := s.Copy(ctx, bucket, "copy/src", bucket, dst)
		if err != nil {
			t.Fatalf("Copy to %s: %v", dst, err)
		}
		if info.Size != src.Size || info.ETag != src.ETag || info.Key != dst {
			t.Errorf("Copy info = %+v, want size %d etag %s", info, src.Size, src.ETag)
		}
		got, ginfo := Get(t, s, bucket, dst)
		if !bytes.Equal(got, data) {
			t.Fatalf("copy %s differs from source", dst)
		}
		if ginfo.ContentType != "image/png" || !equalMaps(ginfo.Metadata, map[string]string{"k": "v"}) {
			t.Errorf("copy %s has content type %q metadata %v", dst, ginfo.ContentType, ginfo.Metadata)
		}
	}
	if _, err := s.Copy(ctx, bucket, "copy/absent", bucket, "copy/x"); !errors.Is(err, block.ErrNotFound) {
		t.Errorf("Copy of a missing object = %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	Put(t, s, bucket, "del/a/b/c", []byte("x"))
	Put(t, s, bucket, "del/keep", []byte("y"))
	if err := s.Delete(ctx, bucket, "del/a/b/c"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(ctx, bucket, "del/a/b/c"); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("Stat after Delete = %v, want ErrNotFound", err)
	}
	for _, key := range []string{"del/a/b/c", "del/never", "del/a"} {
		if err := s.Delete(ctx, bucket, key); err != nil {
			t.Errorf("Delete(%q) of an absent object = %v", key, err)
		}
	}
	if got := Keys(t, s, bucket, block.ListOptions{Prefix: "del/"}); !equalStrings(got, []string{"del/keep"}) {
		t.Errorf("List after Delete = %q", got)
	}
	// The key's former directories no longer stand in the way.
	Put(t, s, bucket, "del/a", []byte("z"))
}
