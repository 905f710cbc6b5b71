package blocktest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/store/block"
)

// Put stores data under bucket/key or fails the test.
func Put(t testing.TB, s block.Store, bucket, key string, data []byte) block.ObjectInfo {
	t.Helper()
	info, err := s.Put(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), block.PutOptions{})
	if err != nil {
		t.Fatalf("Put(%s, %q): %v", bucket, key, err)
	}
	return info
}

// PutMany stores every key with its own name as content, 16 at a time.
func PutMany(t testing.TB, s block.Store, bucket string, keys []string) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(16)
	for _, key := range keys {
		g.Go(func() error {
			_, err := s.Put(context.Background(), bucket, key, bytes.NewReader([]byte(key)), int64(len(key)), block.PutOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// Get reads bucket/key whole or fails the test.
func Get(t testing.TB, s block.Store, bucket, key string) ([]byte, block.ObjectInfo) {
	t.Helper()
	rc, info, err := s.Get(context.Background(), bucket, key, nil)
	if err != nil {
		t.Fatalf("Get(%s, %q): %v", bucket, key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s/%q: %v", bucket, key, err)
	}
	return data, info
}

// ListAllItems pages through a listing with block.ListAll.
func ListAllItems(t testing.TB, s block.Store, bucket string, opts block.ListOptions) []block.ListItem {
	t.Helper()
	var items []block.ListItem
	it := block.ListAll(context.Background(), s, bucket, opts)
	for it.Next() {
		items = append(items, it.Item())
	}
	if err := it.Err(); err != nil {
		t.Fatalf("List(%s, %+v): %v", bucket, opts, err)
	}
	return items
}

// Keys lists every key that opts selects, in order.
func Keys(t testing.TB, s block.Store, bucket string, opts block.ListOptions) []string {
	t.Helper()
	var keys []string
	for _, it := range ListAllItems(t, s, bucket, opts) {
		keys = append(keys, it.Key)
	}
	return keys
}

// onlyReader hides every method of its reader but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func equalStrings(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
