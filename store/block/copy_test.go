package block_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/blocktest"
	"github.com/lakeq/lakeq/store/block/local"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
)

// counting passes every call to a real store and counts copies and reads.
type counting struct {
	block.Store
	copies, gets atomic.Int64
}

func (c *counting) Copy(ctx context.Context, sb, sk, db, dk string) (block.ObjectInfo, error) {
	c.copies.Add(1)
	return c.Store.Copy(ctx, sb, sk, db, dk)
}

func (c *counting) Get(ctx context.Context, b, k string, r *block.Range) (io.ReadCloser, block.ObjectInfo, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, b, k, r)
}

func newLocal(t *testing.T) *local.Store {
	t.Helper()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestTransfer(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "src")
	srv.MakeBucket(t, "dst")
	s3s := &counting{Store: srv.NewStore(t)}
	loc := &counting{Store: newLocal(t)}
	data := bytes.Repeat([]byte("transfer "), 200_000)
	opts := block.PutOptions{ContentType: "text/plain", Metadata: map[string]string{"from": "test"}}
	if _, err := s3s.Put(ctx, "src", "obj", bytes.NewReader(data), int64(len(data)), opts); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name               string
		src                *counting
		srcBucket, srcKey  string
		dst                *counting
		dstBucket, dstKey  string
		wantCopy, wantGets int64 // on src
	}{
		{"s3 to s3 is server-side", s3s, "src", "obj", s3s, "dst", "copied", 1, 0},
		{"s3 to local streams", s3s, "dst", "copied", loc, "", "in/local", 0, 1},
		{"local to local is a store copy", loc, "", "in/local", loc, "", "in/again", 1, 0},
		{"local to s3 streams", loc, "", "in/again", s3s, "dst", "back", 0, 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			copies, gets := st.src.copies.Load(), st.src.gets.Load()
			info, err := block.Transfer(ctx, st.src, st.srcBucket, st.srcKey, st.dst, st.dstBucket, st.dstKey)
			if err != nil {
				t.Fatalf("Transfer: %v", err)
			}
			if got := st.src.copies.Load() - copies; got != st.wantCopy {
				t.Errorf("%d Copy calls, want %d", got, st.wantCopy)
			}
			if got := st.src.gets.Load() - gets; got < st.wantGets || (st.wantGets == 0 && got != 0) {
				t.Errorf("%d Get calls, want %d", got, st.wantGets)
			}
			if info.Size != int64(len(data)) || info.Key != st.dstKey {
				t.Errorf("Transfer info = %+v", info)
			}
			got, ginfo := blocktest.Get(t, st.dst, st.dstBucket, st.dstKey)
			if !bytes.Equal(got, data) {
				t.Fatal("content differs after transfer")
			}
			if ginfo.ContentType != "text/plain" || ginfo.Metadata["from"] != "test" {
				t.Errorf("after transfer content type %q metadata %v", ginfo.ContentType, ginfo.Metadata)
			}
		})
	}
	if _, err := block.Transfer(ctx, loc, "", "absent", s3s, "dst", "x"); !errors.Is(err, block.ErrNotFound) {
		t.Errorf("Transfer of a missing object = %v, want ErrNotFound", err)
	}
}

func TestListAll(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	var keys []string
	for i := 0; i < 250; i++ {
		keys = append(keys, string(rune('a'+i%26))+"/"+string(rune('A'+i/26))+"-"+string(rune('0'+i%10)))
	}
	blocktest.PutMany(t, s, "", keys)
	c := &listCounting{Store: s}
	it := block.ListAll(ctx, c, "", block.ListOptions{MaxKeys: 16})
	var got []string
	for it.Next() {
		got = append(got, it.Item().Key)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("ListAll returned %d keys, want %d", len(got), len(keys))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1] >= got[i] {
			t.Fatalf("out of order: %q then %q", got[i-1], got[i])
		}
	}
	if c.calls.Load() < int64(len(keys)/16) || c.maxPage.Load() > 16 {
		t.Fatalf("%d List calls with pages up to %d items: not paged", c.calls.Load(), c.maxPage.Load())
	}
	// A cancelled context stops the walk with its error.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	it = block.ListAll(cctx, s, "", block.ListOptions{MaxKeys: 10})
	n := 0
	for it.Next() {
		if n++; n == 15 {
			cancel()
		}
	}
	if !errors.Is(it.Err(), context.Canceled) || n != 20 {
		t.Fatalf("after cancel: %d items, err %v", n, it.Err())
	}
}

type listCounting struct {
	block.Store
	calls, maxPage atomic.Int64
}

func (c *listCounting) List(ctx context.Context, b string, o block.ListOptions) (block.ListPage, error) {
	c.calls.Add(1)
	p, err := c.Store.List(ctx, b, o)
	if n := int64(len(p.Items)); n > c.maxPage.Load() {
		c.maxPage.Store(n)
	}
	return p, err
}
