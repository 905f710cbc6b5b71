package s3_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/blocktest"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
)

func TestS3CopyKnown(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "src")
	srv.MakeBucket(t, "dst")
	st := srv.NewStore(t, func(c *s3.Config) { c.CopyPartSize = 10 << 20 })

	opts := block.PutOptions{ContentType: "text/x-known", Metadata: map[string]string{"origin": "known"}}
	small, err := st.Put(ctx, "src", "small", strings.NewReader("small object"), 12, opts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.CopyKnown(ctx, "src", "small", small.Size, small.ETag, "dst", "a/small")
	if err != nil {
		t.Fatalf("CopyKnown: %v", err)
	}
	if info.ETag != small.ETag || info.Size != small.Size {
		t.Fatalf("CopyKnown = %+v, want ETag %s size %d", info, small.ETag, small.Size)
	}
	data, got := blocktest.Get(t, st, "dst", "a/small")
	if string(data) != "small object" || got.ContentType != "text/x-known" || got.Metadata["origin"] != "known" {
		t.Fatalf("copy = %q %+v", data, got)
	}

	// A source that changed since its ETag was taken is not copied.
	if _, err := st.CopyKnown(ctx, "src", "small", small.Size, "0123456789abcdef0123456789abcdef", "dst", "b/small"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CopyKnown with a stale ETag = %v, want ErrConflict", err)
	}
	if _, err := st.Stat(ctx, "dst", "b/small"); !errors.Is(err, block.ErrNotFound) {
		t.Fatalf("stale copy left %v", err)
	}
	if _, err := st.CopyKnown(ctx, "src", "missing", 3, "", "dst", "c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("CopyKnown of a missing source = %v, want ErrNotFound", err)
	}

	// Above the copy part size the copy goes in parts.
	big := bytes.Repeat([]byte("0123456789abcdef"), 12<<20/16)
	bigInfo, err := st.Put(ctx, "src", "big", bytes.NewReader(big), int64(len(big)), opts)
	if err != nil {
		t.Fatal(err)
	}
	info, err = st.CopyKnown(ctx, "src", "big", bigInfo.Size, bigInfo.ETag, "dst", "big")
	if err != nil || info.Size != int64(len(big)) || !strings.Contains(info.ETag, "-") {
		t.Fatalf("CopyKnown big = %+v, %v; want a multipart copy", info, err)
	}
	data, _ = blocktest.Get(t, st, "dst", "big")
	if !bytes.Equal(data, big) {
		t.Fatal("big copy differs from its source")
	}
}
