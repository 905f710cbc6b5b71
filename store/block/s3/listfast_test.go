package s3_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/blocktest"
	"github.com/lakeq/lakeq/store/block/s3"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
)

// TestListFastPath lists keys of every kind from MinIO through the
// presigned, streaming path and checks the answers against minio-go's own
// ListObjectsV2, with no request left to minio-go.
func TestListFastPath(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "fast")
	st := srv.NewStore(t)
	r := rand.New(rand.NewPCG(3, 4))
	keys := []string{"k/plain", "k/with space", "k/plus+sign", "k/pct%41", "k/hash#", "k/amp&lt;", "k/quote\"'", "k/ctl\x01\x1f",
		"k/dir/é/漢/😀", "k/" + strings.Repeat(strings.Repeat("long", 60)+"/", 4) + "end"}
	for range 40 {
		keys = append(keys, "k/r/"+strings.ReplaceAll(awkwardName(r), "\t", "t"))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	blocktest.PutMany(t, st, "fast", keys)
	for _, delim := range []string{"", "/"} {
		token := ""
		for page := 0; ; page++ {
			got, err := s3.ListObjectsV2(ctx, st, "fast", "k/", "", token, delim, 7)
			if err != nil {
				t.Fatal(err)
			}
			want, err := st.Core().ListObjectsV2("fast", "k/", "", token, delim, 7)
			if err != nil {
				t.Fatal(err)
			}
			// The continuation tokens of two listings may differ; the
			// pages must not.
			want.NextContinuationToken = got.NextContinuationToken
			if !reflect.DeepEqual(summary(got), summary(want)) {
				t.Fatalf("page %d: %+v\nwant %+v", page, summary(got), summary(want))
			}
			if !got.IsTruncated {
				break
			}
			token = got.NextContinuationToken
		}
	}
	// Through List: every key, in order.
	if got := blocktest.Keys(t, st, "fast", block.ListOptions{Prefix: "k/", MaxKeys: 9}); !slices.Equal(got, keys) {
		t.Fatalf("List: %q\nwant %q", got, keys)
	}
	if n := s3.SlowLists(st); n != 0 {
		t.Fatalf("%d listing requests went to minio-go, want 0", n)
	}
	// An error answer is left to minio-go, which decodes it.
	_, err := s3.ListObjectsV2(ctx, st, "missing-bucket", "", "", "", "", 10)
	if minio.ToErrorResponse(err).Code != "NoSuchBucket" {
		t.Fatalf("listing a missing bucket: %v, want NoSuchBucket", err)
	}
	if s3.SlowLists(st) == 0 {
		t.Fatal("the failed listing did not go to minio-go")
	}
}

// summary is what a listing page tells: keys, sizes, ETags, times,
// prefixes and truncation.
func summary(r minio.ListBucketV2Result) []string {
	var out []string
	for _, o := range r.Contents {
		out = append(out, fmt.Sprintf("%q %d %s %s", o.Key, o.Size, o.ETag, o.LastModified.Format(time.RFC3339Nano)))
	}
	for _, p := range r.CommonPrefixes {
		out = append(out, "prefix "+p.Prefix)
	}
	return append(out, fmt.Sprintf("truncated %v %q", r.IsTruncated, r.NextContinuationToken))
}

// awkwardName returns a key of printable and awkward characters.
func awkwardName(r *rand.Rand) string {
	alphabet := []rune("ab -_.%+#&<>\"'=?!~*()[]{}é漢😀")
	var b strings.Builder
	for range 1 + r.IntN(60) {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// TestListAnonymousFastPath lists a public bucket without credentials
// through the streaming path: the request goes unsigned, as minio-go sends
// anonymous ones, and is not left to minio-go. A private bucket refuses it.
func TestListAnonymousFastPath(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "public")
	srv.MakeBucket(t, "private")
	owner := srv.NewStore(t)
	// What `mc anonymous set download` grants: list and read.
	policy := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:ListBucket","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::public"]},` +
		`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::public/*"]}]}`
	if err := owner.Client().SetBucketPolicy(ctx, "public", policy); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 25)
	for i := range keys {
		keys[i] = fmt.Sprintf("k/%02d with space+%%", i)
	}
	blocktest.PutMany(t, owner, "public", keys)
	blocktest.PutMany(t, owner, "private", keys)

	anon := srv.NewStore(t, func(c *s3.Config) { c.AccessKeyID, c.SecretAccessKey = "", "" })
	if got := blocktest.Keys(t, anon, "public", block.ListOptions{Prefix: "k/", MaxKeys: 10}); !slices.Equal(got, keys) {
		t.Fatalf("anonymous List: %q\nwant %q", got, keys)
	}
	if n := s3.SlowLists(anon); n != 0 {
		t.Fatalf("%d anonymous listing requests went to minio-go, want 0", n)
	}
	if _, err := anon.List(ctx, "private", block.ListOptions{}); err == nil {
		t.Fatal("anonymous List of a private bucket succeeded")
	}
}

// TestListPackedMatchesList pages through listings with ListPacked and
// with List, from every start and in pages of every size, and finds the
// same pages, item for item: the object named exactly as the prefix
// included, keys that sort before the prefix's delimiter beside it, keys
// that are URL-decoded, and a delimiter (which ListPacked leaves to List).
func TestListPackedMatchesList(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "packed")
	st := srv.NewStore(t)
	r := rand.New(rand.NewPCG(5, 6))
	keys := []string{"k/", "k!/x", "k-b/x", "k/a b", "k/plus+", "k/pct%2F", "k/sub/1", "k/sub/2", "k/é/漢", "k0", "z"}
	for range 30 {
		keys = append(keys, "k/r/"+awkwardName(r))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	blocktest.PutMany(t, st, "packed", keys)
	pages := func(list func(block.ListOptions) ([]block.ListItem, bool, error), opts block.ListOptions) [][]block.ListItem {
		var out [][]block.ListItem
		for range len(keys) + 2 {
			items, truncated, err := list(opts)
			if err != nil {
				t.Fatalf("%+v: %v", opts, err)
			}
			out = append(out, items)
			if !truncated || len(items) == 0 {
				return out
			}
			opts.StartAfter = items[len(items)-1].Key
		}
		t.Fatalf("%+v: the listing does not end", opts)
		return nil
	}
	viaList := func(o block.ListOptions) ([]block.ListItem, bool, error) {
		p, err := st.List(ctx, "packed", o)
		return slices.Clone(p.Items), p.Truncated, err
	}
	viaPacked := func(o block.ListOptions) ([]block.ListItem, bool, error) {
		p, err := st.ListPacked(ctx, "packed", o)
		items := p.Items("packed")
		if len(items) != p.Len() || len(items) > 0 && p.LastKey() != items[len(items)-1].Key {
			t.Fatalf("%+v: page of %d items, Len %d, last key %q", o, len(items), p.Len(), p.LastKey())
		}
		return items, p.Truncated, err
	}
	before := s3.SlowLists(st)
	for _, prefix := range []string{"", "k/", "k/r/", "k/sub/1"} {
		for _, after := range []string{"", "k/", "k/a b", "k/r/", "k/sub/1", "zz"} {
			for _, delim := range []string{"", "/"} {
				for _, max := range []int{1, 2, 7, 0} {
					opts := block.ListOptions{Prefix: prefix, StartAfter: after, Delimiter: delim, MaxKeys: max}
					want, got := pages(viaList, opts), pages(viaPacked, opts)
					if len(got) != len(want) {
						t.Fatalf("%+v: %d pages, want %d", opts, len(got), len(want))
					}
					for i := range want {
						if len(got[i]) != len(want[i]) {
							t.Fatalf("%+v: page %d of %d items, want %d", opts, i, len(got[i]), len(want[i]))
						}
						for j, w := range want[i] {
							g := got[i][j]
							if g.Key != w.Key || g.IsPrefix != w.IsPrefix || g.Object.Key != w.Object.Key || g.Object.Bucket != w.Object.Bucket ||
								g.Object.Size != w.Object.Size || g.Object.ETag != w.Object.ETag || !g.Object.LastModified.Equal(w.Object.LastModified) {
								t.Fatalf("%+v: page %d item %d: %+v\nwant %+v", opts, i, j, g, w)
							}
						}
					}
				}
			}
		}
	}
	if n := s3.SlowLists(st) - before; n != 0 {
		t.Fatalf("%d listing requests went to minio-go, want 0", n)
	}
}
