package blocktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

func testDeleteMany(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	keys := make([]string, block.MaxDeleteBatch)
	for i := range keys {
		keys[i] = fmt.Sprintf("many/%02d/%04d", i%17, i)
	}
	PutMany(t, s, bucket, keys[:900])
	// 100 of the keys were never written: absent keys are not errors.
	failed, err := s.DeleteMany(ctx, bucket, keys)
	if err != nil || len(failed) != 0 {
		t.Fatalf("DeleteMany(%d keys) = %v, %v", len(keys), failed, err)
	}
	if got := Keys(t, s, bucket, block.ListOptions{Prefix: "many/"}); len(got) != 0 {
		t.Fatalf("%d keys left after DeleteMany, first %q", len(got), got[0])
	}
	_, err = s.DeleteMany(ctx, bucket, append(keys, "one-more"))
	if !errors.Is(err, block.ErrTooManyKeys) {
		t.Fatalf("DeleteMany(%d keys) = %v, want ErrTooManyKeys", len(keys)+1, err)
	}
	if failed, err := s.DeleteMany(ctx, bucket, nil); err != nil || len(failed) != 0 {
		t.Fatalf("DeleteMany(nil) = %v, %v", failed, err)
	}
}

// awkwardKeys are keys whose byte order differs from naive path or
// filesystem order, or that need escaping somewhere along the way.
func awkwardKeys(prefix string) []string {
	long := prefix + "long/" + strings.Repeat(strings.Repeat("x", 199)+"/", 4)
	long += strings.Repeat("y", 1000-len(long))
	return []string{
		prefix + "space key",
		prefix + "two  spaces/and trailing ",
		prefix + "pct%2Fencoded",
		prefix + "pct%",
		prefix + "plus+sign",
		prefix + "hash#tag",
		prefix + "question?mark",
		prefix + "amp&eq=",
		prefix + "a!b",
		prefix + "a-b",
		prefix + "a/x",
		prefix + "a/y/z",
		prefix + "ab/x",
		prefix + "a.b",
		prefix + "A",
		prefix + "Z",
		prefix + "z",
		prefix + "~tilde",
		prefix + "日本語/ファイル",
		prefix + "ключ",
		prefix + "é",
		prefix + "emoji/😀",
		prefix + "tab\there",
		prefix + "back\\slash",
		prefix + "quote\"'",
		prefix + "<xml>&amp;",
		long,
	}
}

func testListOrder(t *testing.T, s block.Store, bucket string) {
	keys := awkwardKeys("order/")
	if n := len(keys[len(keys)-1]); n != 1000 {
		t.Fatalf("long key has %d bytes", n)
	}
	PutMany(t, s, bucket, keys)
	want := sortedCopy(keys)
	got := Keys(t, s, bucket, block.ListOptions{Prefix: "order/"})
	if !equalStrings(got, want) {
		t.Fatalf("List order:\n got %q\nwant %q", got, want)
	}
	for _, key := range keys {
		data, _ := Get(t, s, bucket, key)
		if string(data) != key {
			t.Errorf("Get(%q) = %q", key, data)
		}
	}
	page, err := s.List(context.Background(), bucket, block.ListOptions{Prefix: "order/"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, it := range page.Items {
		if it.IsPrefix || it.Object.Key != it.Key || it.Object.Size != int64(len(it.Key)) ||
			it.Object.ETag != md5Hex([]byte(it.Key)) || it.Object.LastModified.IsZero() {
			t.Errorf("List item = %+v", it)
		}
	}
	// Prefixes that end inside a path segment.
	for _, prefix := range []string{"order/a", "order/a/", "order/pct%", "order/日", "order/long/x"} {
		var want []string
		for _, k := range sortedCopy(keys) {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		if got := Keys(t, s, bucket, block.ListOptions{Prefix: prefix}); !equalStrings(got, want) {
			t.Errorf("List(prefix %q) = %q, want %q", prefix, got, want)
		}
	}
}

func testListPaging(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	var keys []string
	for i := 0; i < 60; i++ {
		keys = append(keys, fmt.Sprintf("page/%d/%c/%d", i%4, 'a'+i%5, i))
	}
	keys = append(keys, "page/0.", "page/0!", "page/00", "page/1-x")
	PutMany(t, s, bucket, keys)
	want := sortedCopy(keys)
	for _, max := range []int{1, 3, 7, 1000} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > len(keys)+1 {
				t.Fatalf("MaxKeys %d: paging does not end", max)
			}
			page, err := s.List(ctx, bucket, block.ListOptions{Prefix: "page/", StartAfter: after, MaxKeys: max})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(page.Items) > max || (page.Truncated && len(page.Items) == 0) {
				t.Fatalf("MaxKeys %d: page of %d items, truncated %v", max, len(page.Items), page.Truncated)
			}
			for _, it := range page.Items {
				got = append(got, it.Key)
			}
			if !page.Truncated {
				break
			}
			after = page.Items[len(page.Items)-1].Key
		}
		if !equalStrings(got, want) {
			t.Fatalf("MaxKeys %d: paged listing\n got %q\nwant %q", max, got, want)
		}
	}
	// StartAfter need not be a key.
	for _, after := range []string{"page/1", "page/1/", "page/2/c", "page/3/z", "page/", "page/0 "} {
		var w []string
		for _, k := range want {
			if k > after {
				w = append(w, k)
			}
		}
		if got := Keys(t, s, bucket, block.ListOptions{Prefix: "page/", StartAfter: after}); !equalStrings(got, w) {
			t.Errorf("StartAfter %q:\n got %q\nwant %q", after, got, w)
		}
	}
}

func testListDelimiter(t *testing.T, s block.Store, bucket string) {
	PutMany(t, s, bucket, []string{
		"d/a", "d/b/1", "d/b/2", "d/b0", "d/c/x/y", "d/c!", "d/e", "d/f/g/h/i", "d/f/j",
		"other/x",
	})
	tests := []struct {
		prefix string
		want   []string // prefixes end with '/'
	}{
		{"d/", []string{"d/a", "d/b/", "d/b0", "d/c!", "d/c/", "d/e", "d/f/"}},
		{"d/b", []string{"d/b/", "d/b0"}},
		{"d/f/", []string{"d/f/g/", "d/f/j"}},
		{"", []string{"d/", "other/"}},
		{"d/zzz", nil},
	}
	for _, tt := range tests {
		for _, max := range []int{0, 1, 2} {
			t.Run(fmt.Sprintf("%q/%d", tt.prefix, max), func(t *testing.T) {
				opts := block.ListOptions{Prefix: tt.prefix, Delimiter: "/", MaxKeys: max}
				items := ListAllItems(t, s, bucket, opts)
				var got []string
				for _, it := range items {
					if it.IsPrefix != strings.HasSuffix(it.Key, "/") {
						t.Errorf("item %q: IsPrefix %v", it.Key, it.IsPrefix)
					}
					got = append(got, it.Key)
				}
				if !equalStrings(got, tt.want) {
					t.Fatalf("List(prefix %q, delimiter /):\n got %q\nwant %q", tt.prefix, got, tt.want)
				}
			})
		}
	}
}

func testListBadOptions(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	for name, opts := range map[string]block.ListOptions{
		"delimiter -":      {Delimiter: "-"},
		"delimiter //":     {Delimiter: "//"},
		"negative maxkeys": {MaxKeys: -1},
		"bad prefix":       {Prefix: "a\xff"},
	} {
		if _, err := s.List(ctx, bucket, opts); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("List with %s = %v, want ErrInvalid", name, err)
		}
	}
}

func testListEmpty(t *testing.T, s block.Store, bucket string) {
	page, err := s.List(context.Background(), bucket, block.ListOptions{Prefix: "nothing/here/"})
	if err != nil || len(page.Items) != 0 || page.Truncated {
		t.Fatalf("List of an empty prefix = %+v, %v", page, err)
	}
}

func testPresign(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	putURL, err := s.PresignPut(ctx, bucket, "presigned/obj key+#%.txt", 5*time.Minute)
	if errors.Is(err, block.ErrNotSupported) {
		if _, err := s.PresignGet(ctx, bucket, "presigned/x", time.Minute); !errors.Is(err, block.ErrNotSupported) {
			t.Fatalf("PresignGet = %v, want ErrNotSupported like PresignPut", err)
		}
		t.Skip("store does not presign")
	}
	if err != nil {
		t.Fatalf("PresignPut: %v", err)
	}
	body := []byte("written through a presigned URL")
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, putURL, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT status %s", resp.Status)
	}
	got, _ := Get(t, s, bucket, "presigned/obj key+#%.txt")
	if !bytes.Equal(got, body) {
		t.Fatalf("object written through presigned PUT = %q", got)
	}
	getURL, err := s.PresignGet(ctx, bucket, "presigned/obj key+#%.txt", 5*time.Minute)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	resp, err = http.Get(getURL)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	read, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(read, body) {
		t.Fatalf("GET %s: %q, %v", resp.Status, read, err)
	}
}

func testOverwrite(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	first := block.PutOptions{ContentType: "text/plain", Metadata: map[string]string{"v": "1", "old": "x"}}
	if _, err := s.Put(ctx, bucket, "over/k", bytes.NewReader([]byte("first version")), 13, first); err != nil {
		t.Fatalf("Put: %v", err)
	}
	second := block.PutOptions{ContentType: "application/json", Metadata: map[string]string{"v": "2"}}
	info, err := s.Put(ctx, bucket, "over/k", bytes.NewReader([]byte(`{}`)), 2, second)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, ginfo := Get(t, s, bucket, "over/k")
	if string(got) != "{}" || ginfo.ETag != info.ETag || ginfo.ETag != md5Hex([]byte("{}")) || ginfo.Size != 2 {
		t.Fatalf("after overwrite Get = %q %+v", got, ginfo)
	}
	if ginfo.ContentType != "application/json" || !equalMaps(ginfo.Metadata, map[string]string{"v": "2"}) {
		t.Fatalf("after overwrite content type %q metadata %v", ginfo.ContentType, ginfo.Metadata)
	}
}

func testConcurrentPuts(t *testing.T, s block.Store, bucket string) {
	ctx := context.Background()
	const writers = 16
	bodies := make([][]byte, writers)
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, 1000+i*5000)
	}
	var g errgroup.Group
	var mu sync.Mutex
	var keys []string
	for i := range writers {
		g.Go(func() error {
			for round := 0; round < 4; round++ {
				opts := block.PutOptions{Metadata: map[string]string{"writer": fmt.Sprint(i)}}
				if _, err := s.Put(ctx, bucket, "conc/same", bytes.NewReader(bodies[i]), int64(len(bodies[i])), opts); err != nil {
					return err
				}
				key := fmt.Sprintf("conc/own/%d/%d", i, round)
				if _, err := s.Put(ctx, bucket, key, bytes.NewReader(bodies[i]), int64(len(bodies[i])), block.PutOptions{}); err != nil {
					return err
				}
				mu.Lock()
				keys = append(keys, key)
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("concurrent Put: %v", err)
	}
	got, info := Get(t, s, bucket, "conc/same")
	w := -1
	for i, b := range bodies {
		if bytes.Equal(got, b) {
			w = i
		}
	}
	if w < 0 {
		t.Fatalf("after concurrent Puts the object (%d bytes) is none of the bodies written", len(got))
	}
	if info.ETag != md5Hex(got) || info.Metadata["writer"] != fmt.Sprint(w) {
		t.Fatalf("after concurrent Puts the object is body %d but etag %s metadata %v", w, info.ETag, info.Metadata)
	}
	if listed := Keys(t, s, bucket, block.ListOptions{Prefix: "conc/own/"}); !equalStrings(listed, sortedCopy(keys)) {
		t.Fatalf("listed %d keys, want %d", len(listed), len(keys))
	}
}
