package s3

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/lakeq/lakeq/store/block"
)

// slowDecode decodes a ListObjectsV2 answer the way minio-go does:
// encoding/xml, then URL-decoding and millisecond truncation.
func slowDecode(t testing.TB, doc []byte) listResult {
	t.Helper()
	var res minio.ListBucketV2Result
	if err := xml.Unmarshal(doc, &res); err != nil {
		t.Fatalf("encoding/xml: %v", err)
	}
	decode := func(s *string) {
		if res.EncodingType != "url" {
			return
		}
		d, err := url.QueryUnescape(*s)
		if err != nil {
			t.Fatal(err)
		}
		*s = d
	}
	for i := range res.Contents {
		decode(&res.Contents[i].Key)
		res.Contents[i].LastModified = res.Contents[i].LastModified.Truncate(time.Millisecond)
	}
	for i := range res.CommonPrefixes {
		decode(&res.CommonPrefixes[i].Prefix)
	}
	return fromMinIO(res)
}

// sameListing fails unless got and want agree on everything a listing
// reads.
func sameListing(t testing.TB, got, want listResult) {
	t.Helper()
	if got.Truncated != want.Truncated || got.Next != want.Next || got.EncodingType != want.EncodingType {
		t.Fatalf("truncated %v token %q encoding %q, want %v %q %q", got.Truncated, got.Next, got.EncodingType,
			want.Truncated, want.Next, want.EncodingType)
	}
	if len(got.Objects) != len(want.Objects) {
		t.Fatalf("%d objects, want %d", len(got.Objects), len(want.Objects))
	}
	for i, g := range got.Objects {
		w := want.Objects[i]
		if g.Key != w.Key || g.Size != w.Size || g.ETag != w.ETag || !g.LastModified.Equal(w.LastModified) || g.StorageClass != w.StorageClass {
			t.Fatalf("object %d: %q %d %q %v %q, want %q %d %q %v %q", i, g.Key, g.Size, g.ETag, g.LastModified, g.StorageClass,
				w.Key, w.Size, w.ETag, w.LastModified, w.StorageClass)
		}
	}
	if !slices.Equal(got.Prefixes, want.Prefixes) {
		t.Fatalf("prefixes %q, want %q", got.Prefixes, want.Prefixes)
	}
}

// packedKey is raw, a key of an answer, as the packed decoding reads it
// before it knows whether the answer is URL-encoded: decoded where it
// holds an escape ("" for a malformed one, which it skips).
func packedKey(raw string) string {
	if !strings.ContainsAny(raw, "%+") {
		return raw
	}
	k, err := url.QueryUnescape(raw)
	if err != nil {
		return ""
	}
	return k
}

// samePacked fails unless decoding doc with its objects packed, those
// after the key after, gives want's objects after it, field for field, in
// order; or the error it must: keys out of order are left to List, a
// document with common prefixes is not a listing without a delimiter, and
// one with a key URL-decoding changes but no url encoding type must be
// read again.
func samePacked(t testing.TB, x *xmlTokens, want listResult, raw []string, after string) {
	t.Helper()
	got, err := decodeListV2From(x, 0, &packing{bucket: "bkt", after: after})
	var seen []string
	for _, k := range raw {
		if k := packedKey(k); k != "" && k > after {
			seen = append(seen, k)
		}
	}
	switch {
	case !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != len(seen):
		if !errors.Is(err, errUnordered) {
			t.Fatalf("packed, keys out of order: %v, want %v", err, errUnordered)
		}
		return
	case len(want.Prefixes) > 0:
		if !errors.Is(err, errListXML) {
			t.Fatalf("packed, with common prefixes: %v, want %v", err, errListXML)
		}
		return
	case want.EncodingType != "url" && slices.ContainsFunc(raw, func(k string) bool { return strings.ContainsAny(k, "%+") }):
		if !errors.Is(err, errNotEncoded) {
			t.Fatalf("packed, a key with an escape not URL-encoded: %v, want %v", err, errNotEncoded)
		}
		return
	case err != nil:
		t.Fatalf("packed: %v", err)
	}
	if got.Objects != nil || got.Truncated != want.Truncated || got.Next != want.Next {
		t.Fatalf("packed: %d objects unpacked, truncated %v, token %q; want none, %v, %q", len(got.Objects), got.Truncated, got.Next, want.Truncated, want.Next)
	}
	items := got.Packed.Page(false).Items("bkt")
	var i int
	for _, w := range want.Objects {
		if w.Key <= after {
			continue
		}
		if i == len(items) {
			t.Fatalf("packed: %d items, want more: %q is missing", len(items), w.Key)
		}
		g := items[i]
		i++
		o := g.Object
		if g.Key != w.Key || g.IsPrefix || o.Key != w.Key || o.Bucket != "bkt" || o.Size != w.Size || o.ETag != strings.Trim(w.ETag, `"`) ||
			!o.LastModified.Equal(w.LastModified) || o.ContentType != "" || o.Metadata != nil {
			t.Fatalf("packed item %d: %+v, want %q %d %q %v", i-1, g, w.Key, w.Size, w.ETag, w.LastModified)
		}
	}
	if i != len(items) {
		t.Fatalf("packed: %d items, want %d", len(items), i)
	}
}

// rawKeys returns the Key elements of doc as they are written.
func rawKeys(t testing.TB, doc []byte) []string {
	t.Helper()
	var l struct {
		Contents []struct{ Key string }
	}
	if err := xml.Unmarshal(doc, &l); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range l.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}

// tokensOf returns doc's tokens as they are read from a stream.
func tokensOf(doc []byte) *xmlTokens { return &xmlTokens{r: bufio.NewReader(bytes.NewReader(doc))} }

func TestDecodeListV2Documents(t *testing.T) {
	docs := map[string]string{
		"aws compact": `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><Delimiter>%2F</Delimiter><IsTruncated>true</IsTruncated><Contents><Key>p%2Fa%20b%2Bc%25</Key><LastModified>2024-03-01T10:11:12.123456Z</LastModified><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents><CommonPrefixes><Prefix>p%2Fd%C3%A9j%C3%A0%2F</Prefix></CommonPrefixes><EncodingType>url</EncodingType><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>`,
		"pretty, owner, checksums, self-closing": `<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name>
  <Prefix></Prefix>
  <StartAfter/>
  <IsTruncated>
    false
  </IsTruncated>
  <Contents>
    <Key>x&amp;y&lt;z&gt;&#34;&#x27;</Key>
    <LastModified>2024-03-01T10:11:12Z</LastModified>
    <ETag>"abc-2"</ETag>
    <ChecksumAlgorithm>CRC32</ChecksumAlgorithm>
    <Owner><ID>02d6176db174dc93cb1b899f7c6078f08654445fe8cf1b6ce98d8855f66bdbf4</ID><DisplayName/></Owner>
    <Size> 42 </Size>
    <UserMetadata><X-Amz-Meta-A>1</X-Amz-Meta-A></UserMetadata>
    <StorageClass>GLACIER</StorageClass>
  </Contents>
  <Contents>
    <Key><![CDATA[c<d]]></Key>
    <Size>0</Size>
    <LastModified>2024-03-01T10:11:12.5+02:00</LastModified>
  </Contents>
</ListBucketResult>
`,
		"empty": `<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>`,
		"doctype, attributes": `<!DOCTYPE ListBucketResult>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/" note='a > b' other="c'd">` +
			`<Contents><Key kind="x>y">k/1</Key><Size>3</Size><ETag class='e'>"e"</ETag></Contents>` +
			`<Contents ><Key>k/2</Key ><Size>4</Size></Contents></ListBucketResult>`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			got, err := decodeListV2([]byte(doc), 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := slowDecode(t, []byte(doc))
			sameListing(t, got, want)
			raw := rawKeys(t, []byte(doc))
			for _, after := range []string{"", "c<d", "k/1", "x", "zz"} {
				samePacked(t, tokensOf([]byte(doc)), want, raw, after)
			}
		})
	}
}

// xmlListing is a ListBucketResult as encoding/xml writes it, to check the
// decoder against documents with keys of every kind.
type xmlListing struct {
	XMLName        xml.Name    `xml:"ListBucketResult"`
	Name           string      `xml:"Name"`
	IsTruncated    bool        `xml:"IsTruncated"`
	Contents       []xmlObject `xml:"Contents"`
	CommonPrefixes []struct {
		Prefix string `xml:"Prefix"`
	} `xml:"CommonPrefixes"`
	EncodingType          string `xml:"EncodingType,omitempty"`
	NextContinuationToken string `xml:"NextContinuationToken,omitempty"`
}

type xmlObject struct {
	Key          string    `xml:"Key"`
	LastModified time.Time `xml:"LastModified"`
	ETag         string    `xml:"ETag"`
	Size         int64     `xml:"Size"`
	Owner        struct {
		ID string `xml:"ID"`
	} `xml:"Owner"`
	StorageClass string `xml:"StorageClass"`
}

// randomName returns a key of printable and awkward characters.
func randomName(r *rand.Rand) string {
	alphabet := []rune("ab/ -_.%+#&<>\"'=?!~*()[]{}é漢😀\t")
	n := 1 + r.IntN(60)
	var b strings.Builder
	for range n {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func TestDecodeListV2Generated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		l := xmlListing{Name: "bucket", IsTruncated: round%2 == 0}
		if l.IsTruncated {
			l.NextContinuationToken = fmt.Sprintf("tok+%d/=&", round)
		}
		encode := func(s string) string { return s }
		if round%3 != 0 {
			l.EncodingType = "url"
			encode = func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
		}
		for i := range r.IntN(50) {
			l.Contents = append(l.Contents, xmlObject{
				Key:          encode(randomName(r)),
				LastModified: time.Unix(1700000000+int64(r.IntN(1e6)), int64(r.IntN(1e9))).UTC(),
				ETag:         fmt.Sprintf(`"%032x"`, r.Uint64()),
				Size:         int64(r.IntN(1 << 40)),
				StorageClass: []string{"STANDARD", ""}[i%2],
			})
		}
		for range r.IntN(5) {
			l.CommonPrefixes = append(l.CommonPrefixes, struct {
				Prefix string `xml:"Prefix"`
			}{encode(randomName(r) + "/")})
		}
		doc, err := xml.MarshalIndent(l, "", []string{"", "  "}[round%2])
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeListV2(doc, 1000, nil)
		if err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, doc)
		}
		want := slowDecode(t, doc)
		sameListing(t, got, want)
		// Arriving a byte at a time through the smallest buffer, every
		// token longer than the buffer spans several reads.
		x := xmlTokens{r: bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(doc)), 16)}
		got, err = decodeListV2From(&x, 0, nil)
		if err != nil {
			t.Fatalf("round %d, a byte at a time: %v\n%s", round, err, doc)
		}
		sameListing(t, got, want)
		// Packed, of the listing without its common prefixes and with
		// its keys in order (as the packed decoding reads them), from
		// the start and after one of its keys. (Packed as they were,
		// they are out of order.)
		samePacked(t, tokensOf(doc), want, rawKeys(t, doc), "")
		l.CommonPrefixes = nil
		slices.SortFunc(l.Contents, func(a, b xmlObject) int { return strings.Compare(packedKey(a.Key), packedKey(b.Key)) })
		l.Contents = slices.CompactFunc(l.Contents, func(a, b xmlObject) bool { return packedKey(a.Key) == packedKey(b.Key) })
		if doc, err = xml.MarshalIndent(l, "", []string{"", "  "}[round%2]); err != nil {
			t.Fatal(err)
		}
		want, raw := slowDecode(t, doc), rawKeys(t, doc)
		after := ""
		if len(want.Objects) > 0 {
			after = want.Objects[r.IntN(len(want.Objects))].Key
		}
		samePacked(t, tokensOf(doc), want, raw, "")
		x = xmlTokens{r: bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(doc)), 16)}
		samePacked(t, &x, want, raw, after)
	}
}

// TestDecodeListV2ReadFailure: an answer whose reading fails, or that
// ends inside markup, is a readError (the caller asks again), not a
// malformed document.
func TestDecodeListV2ReadFailure(t *testing.T) {
	doc := `<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>1</Size></Contents></ListBucketResult>`
	for _, cut := range []int{1, 20, 40, 60, len(doc) - 3} {
		for name, r := range map[string]io.Reader{
			"reset":   io.MultiReader(strings.NewReader(doc[:cut]), iotest.ErrReader(errors.New("connection reset"))),
			"cut off": io.MultiReader(strings.NewReader(doc[:cut]), iotest.ErrReader(io.ErrUnexpectedEOF)),
		} {
			x := xmlTokens{r: bufio.NewReaderSize(r, 16)}
			_, err := decodeListV2From(&x, 0, nil)
			var rerr *readError
			if !errors.As(err, &rerr) {
				t.Errorf("%s after %d bytes: %v, want a readError", name, cut, err)
			}
		}
	}
	// Markup the stream ends inside is a document cut short too.
	x := xmlTokens{r: bufio.NewReaderSize(strings.NewReader(doc[:40]), 16)}
	var rerr *readError
	if _, err := decodeListV2From(&x, 0, nil); !errors.As(err, &rerr) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ends inside markup: %v, want a readError of io.ErrUnexpectedEOF", err)
	}
}

// TestAppendUnescaped: character data with references reads as
// encoding/xml reads it.
func TestAppendUnescaped(t *testing.T) {
	for _, raw := range []string{
		``, `plain`, `&quot;0123abcd&quot;`, `a&amp;b&lt;c&gt;d&apos;e`, `&#34;&#x27;&#65;&#233;&#x1F600;`,
		`&amp;amp;`, `tail &amp;`, `&lt;&lt;&lt;`, `日本&#x8A9E;`,
	} {
		var want struct {
			V string `xml:",chardata"`
		}
		if err := xml.Unmarshal([]byte("<v>"+raw+"</v>"), &want); err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if got := string(appendUnescaped([]byte("x"), []byte(raw))); got != "x"+want.V {
			t.Errorf("%q: got %q, want %q", raw, got[1:], want.V)
		}
	}
	// No allocation for the references a listing holds.
	raw, dst := []byte(`&quot;0123abcd&quot; &amp;&lt;&gt;&apos;&#38;`), make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { dst = appendUnescaped(dst[:0], raw) }); n != 0 {
		t.Errorf("%v allocations per call, want 0", n)
	}
}

func TestDecodeListV2Rejects(t *testing.T) {
	for name, doc := range map[string]string{
		"not xml":       `{"Contents": []}`,
		"other root":    `<Error><Code>NoSuchBucket</Code></Error>`,
		"cut short":     `<ListBucketResult><Contents><Key>a</Key>`,
		"bad size":      `<ListBucketResult><Contents><Key>a</Key><Size>x</Size></Contents></ListBucketResult>`,
		"bad time":      `<ListBucketResult><Contents><Key>a</Key><LastModified>yesterday</LastModified></Contents></ListBucketResult>`,
		"bad escape":    `<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%zz</Key></Contents></ListBucketResult>`,
		"no token":      `<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>`,
		"two roots":     `<ListBucketResult></ListBucketResult><ListBucketResult></ListBucketResult>`,
		"empty":         ``,
		"stray end tag": `</ListBucketResult>`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeListV2([]byte(doc), 0, nil); err == nil {
				t.Fatal("decoded, want an error")
			}
			if _, err := decodeListV2([]byte(doc), 0, &packing{bucket: "bkt"}); err == nil {
				t.Fatal("decoded packed, want an error")
			}
		})
	}
}

// BenchmarkDecodeListV2 decodes a page of 1,000 keys with the streaming
// decoder (fast), with it packing the objects (packed), and with
// encoding/xml as minio-go does (encoding-xml); compare their ns/op, and
// the allocations of the first two.
func BenchmarkDecodeListV2(b *testing.B) {
	l := xmlListing{Name: "bucket", IsTruncated: true, NextContinuationToken: "token", EncodingType: "url"}
	for i := range 1000 {
		l.Contents = append(l.Contents, xmlObject{
			// Encoded as S3 servers encode keys, '/' left as it is.
			Key:          strings.ReplaceAll(url.QueryEscape(fmt.Sprintf("n100000-p100/p%04d/obj-%08d", i/1000, i)), "%2F", "/"),
			LastModified: time.Unix(1700000000, int64(i)).UTC(),
			ETag:         fmt.Sprintf(`"%032x"`, i),
			Size:         1,
			StorageClass: "STANDARD",
		})
	}
	doc, err := xml.Marshal(l)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeListV2(doc, 1000, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("packed", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeListV2(doc, 1000, &packing{bucket: "bucket"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-xml", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			slowDecode(b, doc)
		}
	})
}

// TestPackMinIOAnswer: an answer decoded by minio-go is packed as the
// fast decoder packs one: the objects after the start key, in order, and
// errUnordered for keys out of order, which ListPacked leaves to List.
func TestPackMinIOAnswer(t *testing.T) {
	objs := []listObject{{Key: "a", ETag: `"e1"`}, {Key: "b", Size: 2, ETag: `"e2"`}, {Key: "c", Size: 3}}
	res := listResult{Objects: slices.Clone(objs)}
	if err := res.pack(&packing{bucket: "bkt", after: "a"}); err != nil {
		t.Fatal(err)
	}
	want := []block.ListItem{objs[1].item("bkt"), objs[2].item("bkt")}
	if got := res.Packed.Page(false).Items("bkt"); !reflect.DeepEqual(got, want) || res.Objects != nil {
		t.Fatalf("packed %+v, want %+v", got, want)
	}
	res = listResult{Objects: []listObject{objs[1], objs[0], objs[2]}}
	if err := res.pack(&packing{bucket: "bkt"}); !errors.Is(err, errUnordered) {
		t.Fatalf("keys out of order: %v, want %v", err, errUnordered)
	}
}
