package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/blocktest"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
)

func TestS3Conformance(t *testing.T) {
	srv := miniotest.Start(t)
	st := srv.NewStore(t)
	var n atomic.Int64
	blocktest.Run(t, func(t *testing.T) (block.Store, string) {
		bucket := fmt.Sprintf("conformance-%d", n.Add(1))
		srv.MakeBucket(t, bucket)
		return st, bucket
	})
}

func TestS3CopyMultipart(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "copy")
	// A 10 MiB copy threshold makes a 25 MiB object take the multipart path
	// that objects over 5 GiB take with the default configuration.
	st := srv.NewStore(t, func(c *s3.Config) { c.CopyPartSize = 10 << 20 })
	data := bytes.Repeat([]byte("0123456789abcdef"), 25<<20/16)
	opts := block.PutOptions{ContentType: "application/x-big", Metadata: map[string]string{"origin": "test"}}
	src, err := st.Put(ctx, "copy", "src", bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	for _, dst := range []string{"dst", "src"} {
		info, err := st.Copy(ctx, "copy", "src", "copy", dst)
		if err != nil {
			t.Fatalf("Copy to %s: %v", dst, err)
		}
		// A multipart copy has a multipart ETag: <md5 of part md5s>-<parts>.
		if !strings.Contains(info.ETag, "-") || info.Size != src.Size {
			t.Fatalf("Copy to %s info = %+v, want a multipart ETag and size %d", dst, info, src.Size)
		}
		rc, ginfo, err := st.Get(ctx, "copy", dst, nil)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("copy %s differs from the source", dst)
		}
		if ginfo.ContentType != "application/x-big" || ginfo.Metadata["origin"] != "test" || len(ginfo.Metadata) != 1 {
			t.Fatalf("copy %s has content type %q metadata %v", dst, ginfo.ContentType, ginfo.Metadata)
		}
	}
	// Small objects take the single-request path and keep the source ETag.
	small := blocktest.Put(t, st, "copy", "small", []byte("small"))
	info, err := st.Copy(ctx, "copy", "small", "copy", "small2")
	if err != nil || info.ETag != small.ETag {
		t.Fatalf("small Copy = %+v, %v; want ETag %s", info, err, small.ETag)
	}
}

func TestS3PutMultipart(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "parts")
	st := srv.NewStore(t, func(c *s3.Config) { c.PartSize = 5 << 20 })
	data := bytes.Repeat([]byte{7}, 12<<20)
	for _, size := range []int64{-1, int64(len(data))} {
		info, err := st.Put(ctx, "parts", fmt.Sprint("obj", size), bytes.NewReader(data), size, block.PutOptions{})
		if err != nil {
			t.Fatalf("Put(size %d): %v", size, err)
		}
		// 12 MiB in 5 MiB parts: a three-part upload.
		if !strings.HasSuffix(info.ETag, "-3") || info.Size != int64(len(data)) {
			t.Fatalf("Put(size %d) = %+v, want a 3-part multipart ETag", size, info)
		}
		st2, err := st.Stat(ctx, "parts", fmt.Sprint("obj", size))
		if err != nil || st2.ETag != info.ETag || st2.Size != info.Size {
			t.Fatalf("Stat = %+v, %v; Put said %+v", st2, err, info)
		}
	}
}

// TestS3PutBuffer: bytes in a bytes.Buffer are uploaded in one request
// with their checksums, read to the end, and kept as they were; a buffer
// larger than a part still takes the multipart path, and one shorter than
// the size given is refused.
func TestS3PutBuffer(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "buf")
	st := srv.NewStore(t, func(c *s3.Config) { c.PartSize = 5 << 20 })
	data := []byte("range file bytes \x00\xff")
	buf := bytes.NewBuffer(slices.Clone(data))
	opts := block.PutOptions{ContentType: "application/vnd.apache.parquet", Metadata: map[string]string{"kind": "range"}}
	info, err := st.Put(ctx, "buf", "one", buf, int64(len(data)), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum := md5.Sum(data); info.ETag != hex.EncodeToString(sum[:]) || info.Size != int64(len(data)) || buf.Len() != 0 {
		t.Fatalf("Put = %+v with %d bytes left in the buffer; want the MD5 ETag, size %d, none left", info, buf.Len(), len(data))
	}
	got, stat := blocktest.Get(t, st, "buf", "one")
	if !bytes.Equal(got, data) || stat.ContentType != opts.ContentType || stat.Metadata["kind"] != "range" {
		t.Fatalf("stored %q, %+v; want %q with the put's type and metadata", got, stat, data)
	}

	big := bytes.NewBuffer(bytes.Repeat([]byte{7}, 12<<20))
	info, err = st.Put(ctx, "buf", "big", big, int64(big.Len()), block.PutOptions{})
	if err != nil || !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("Put of 12 MiB in 5 MiB parts = %+v, %v; want a 3-part ETag", info, err)
	}
	if _, err := st.Put(ctx, "buf", "short", bytes.NewBufferString("abc"), 4, block.PutOptions{}); err == nil {
		t.Fatal("Put of 3 bytes as 4 succeeded")
	}
}

// TestS3PutSection: a part of a file is uploaded whole in one request with
// its hashes, from the part's start, wherever the reader stood.
func TestS3PutSection(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "sec")
	st := srv.NewStore(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "spill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data := bytes.Repeat([]byte("range file \x00\xff "), 10000) // larger than a copy buffer
	if _, err := f.WriteAt(append([]byte("pending chunks before"), data...), 0); err != nil {
		t.Fatal(err)
	}
	sec := io.NewSectionReader(f, int64(len("pending chunks before")), int64(len(data)))
	if _, err := sec.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	info, err := st.Put(ctx, "sec", "one", sec, sec.Size(), block.PutOptions{ContentType: "application/vnd.apache.parquet"})
	if err != nil {
		t.Fatal(err)
	}
	if sum := md5.Sum(data); info.ETag != hex.EncodeToString(sum[:]) || info.Size != int64(len(data)) {
		t.Fatalf("Put = %+v; want the MD5 ETag and size %d", info, len(data))
	}
	if got, _ := blocktest.Get(t, st, "sec", "one"); !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, not the section's %d", len(got), len(data))
	}
	// A size other than the section's takes the general path, which
	// checks the length.
	if _, err := st.Put(ctx, "sec", "long", io.NewSectionReader(f, 0, 10), 11, block.PutOptions{}); err == nil {
		t.Fatal("Put of a 10-byte section as 11 bytes succeeded")
	}
	f.Close()
	if _, err := st.Put(ctx, "sec", "closed", io.NewSectionReader(f, 0, 10), 10, block.PutOptions{}); err == nil {
		t.Fatal("Put of a section of a closed file succeeded")
	}
}

// TestS3Probe: a probe learns that the endpoint is MinIO, even with
// credentials it refuses, and fails when nothing answers.
func TestS3Probe(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	for name, edit := range map[string]func(*s3.Config){
		"credentials":  func(*s3.Config) {},
		"wrong secret": func(c *s3.Config) { c.SecretAccessKey = "wrong-secret" },
	} {
		st := srv.NewStore(t, edit)
		if s3.KnowsMinIO(st) {
			t.Fatalf("%s: MinIO known before any request", name)
		}
		if err := st.Probe(ctx); err != nil {
			t.Fatalf("%s: Probe: %v", name, err)
		}
		if !s3.KnowsMinIO(st) {
			t.Fatalf("%s: MinIO not known after a probe", name)
		}
	}
	down := srv.NewStore(t, func(c *s3.Config) { c.Endpoint = "127.0.0.1:1" })
	if err := down.Probe(ctx); err == nil {
		t.Fatal("Probe of a closed port succeeded")
	}
}

func TestS3CredentialsChecked(t *testing.T) {
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "private")
	bad := srv.NewStore(t, func(c *s3.Config) { c.SecretAccessKey = "wrong-secret" })
	if _, err := bad.Stat(context.Background(), "private", "k"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Stat with a wrong secret = %v, want an access error", err)
	}
	anon := srv.NewStore(t, func(c *s3.Config) { c.AccessKeyID, c.SecretAccessKey = "", "" })
	if _, err := anon.List(context.Background(), "private", block.ListOptions{}); err == nil {
		t.Fatal("anonymous List of a private bucket succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	valid := s3.Config{Endpoint: "127.0.0.1:9000", AccessKeyID: "a", SecretAccessKey: "b"}
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", valid, err)
	}
	tests := []struct {
		name string
		edit func(*s3.Config)
	}{
		{"no endpoint", func(c *s3.Config) { c.Endpoint = "" }},
		{"scheme", func(c *s3.Config) { c.Endpoint = "http://127.0.0.1:9000" }},
		{"no port", func(c *s3.Config) { c.Endpoint = "localhost" }},
		{"bad port", func(c *s3.Config) { c.Endpoint = "localhost:99999" }},
		{"path", func(c *s3.Config) { c.Endpoint = "localhost:9000/x" }},
		{"secret without key", func(c *s3.Config) { c.AccessKeyID = "" }},
		{"token without key", func(c *s3.Config) { c.AccessKeyID, c.SecretAccessKey, c.SessionToken = "", "", "t" }},
		{"part too small", func(c *s3.Config) { c.PartSize = 1 << 20 }},
		{"part too big", func(c *s3.Config) { c.PartSize = 6 << 30 }},
		{"copy part too small", func(c *s3.Config) { c.CopyPartSize = 6 << 20 }},
		{"copy part too big", func(c *s3.Config) { c.CopyPartSize = 6 << 30 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.edit(&c)
			if err := c.Validate(); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Validate(%+v) = %v, want ErrInvalid", c, err)
			}
			if _, err := s3.New(c); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("New(%+v) = %v, want ErrInvalid", c, err)
			}
		})
	}
	st, err := s3.New(valid)
	if err != nil {
		t.Fatal(err)
	}
	got := st.Config()
	if got.Region != s3.DefaultRegion || got.PartSize != s3.DefaultPartSize || got.CopyPartSize != s3.DefaultCopyPartSize || got.Secure {
		t.Fatalf("defaults = %+v", got)
	}
}

// TestS3ListLarge pages through a listing larger than one endpoint page,
// from random start keys, in a tree whose sibling names ("a!", "a-b" beside
// "a/") make MinIO's own start-after paging stop early.
func TestS3ListLarge(t *testing.T) {
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "large")
	st := srv.NewStore(t)
	var keys []string
	for i := 0; i < 1200; i++ {
		dir := []string{"a", "a!", "a-b", "ab", "a.c"}[i%5]
		keys = append(keys, fmt.Sprintf("l/%s/%02d/%04d", dir, i%13, i))
	}
	blocktest.PutMany(t, st, "large", keys)
	slices.Sort(keys)
	r := rand.New(rand.NewPCG(7, 7))
	queries := []struct {
		after string
		max   int
	}{
		{"", 0}, {"", 1000}, {keys[r.IntN(len(keys))], 0}, {keys[r.IntN(len(keys))], 1000},
		// Small pages starting inside "l/a/": the case MinIO gets wrong.
		{"l/a/", 3}, {"l/a/12/", 3}, {"l/a/12/0025", 3},
	}
	for _, q := range queries {
		after, max := q.after, q.max
		var want []string
		for _, k := range keys {
			if k > after {
				want = append(want, k)
			}
		}
		got := blocktest.Keys(t, st, "large", block.ListOptions{Prefix: "l/", StartAfter: after, MaxKeys: max})
		if !slices.Equal(got, want) {
			t.Fatalf("List after %q, MaxKeys %d: %d keys, want %d", after, max, len(got), len(want))
		}
	}
}
