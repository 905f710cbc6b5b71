package s3

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/minio/minio-go/v7"

	"github.com/lakeq/lakeq/store/block"
)

// listURLExpiry is how long the signed URL of one listing request is valid.
const listURLExpiry = 5 * time.Minute

// listResult is the part of a ListObjectsV2 answer a listing reads.
type listResult struct {
	Objects []listObject
	// Prefixes are the common prefixes.
	Prefixes []string
	// Truncated reports that the listing goes on from Next.
	Truncated bool
	Next      string
	// EncodingType is "url" when keys and prefixes were URL-encoded (they
	// are decoded by the time the result is returned).
	EncodingType string
	// Packed holds the objects instead of Objects when the request asked
	// for them packed: those after the packing's key, in the order of the
	// answer.
	Packed *block.PageBuilder
}

// packing asks listObjectsV2 for the objects of an answer packed as they
// are decoded, those after the key after, into a page of a listing of
// bucket.
type packing struct{ bucket, after string }

// listObject is one object of a listing.
type listObject struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
	StorageClass string
}

// slicePool recycles slices of T that nothing refers to any more.
type slicePool[T any] struct{ p sync.Pool }

// get returns an empty slice with room for n elements: a recycled one when
// one at hand is large enough.
func (sp *slicePool[T]) get(n int) []T {
	if p, ok := sp.p.Get().(*[]T); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]T, 0, n)
}

// put takes back s, cleared so that it keeps nothing alive.
func (sp *slicePool[T]) put(s []T) {
	clear(s[:cap(s)])
	s = s[:0]
	sp.p.Put(&s)
}

// objectSlices recycles the Objects of decoded answers, read once into
// the listing's page and then put back.
var objectSlices slicePool[listObject]

// pack moves the objects of r into r.Packed, as the request asked.
func (r *listResult) pack(p *packing) error {
	if len(r.Prefixes) > 0 {
		return fmt.Errorf("%w: common prefixes in a listing without a delimiter", errListXML)
	}
	r.Packed = block.NewPageBuilder(p.bucket)
	for i := range r.Objects {
		if o := &r.Objects[i]; o.Key > p.after {
			if !r.Packed.Follows([]byte(o.Key)) {
				return errUnordered // as a packed decode finds it
			}
			item := o.item(p.bucket)
			r.Packed.Add(&item)
		}
	}
	r.Objects = nil
	return nil
}

// item returns o as an item of a listing of bucket.
func (o *listObject) item(bucket string) block.ListItem {
	return block.ListItem{Key: o.Key, Object: block.ObjectInfo{
		Bucket: bucket, Key: o.Key, Size: o.Size, ETag: strings.Trim(o.ETag, `"`), LastModified: o.LastModified,
	}}
}

// fromMinIO converts minio-go's decoded answer.
func fromMinIO(r minio.ListBucketV2Result) listResult {
	res := listResult{Truncated: r.IsTruncated, Next: r.NextContinuationToken, EncodingType: r.EncodingType,
		Objects: make([]listObject, len(r.Contents))}
	for i, o := range r.Contents {
		res.Objects[i] = listObject{Key: o.Key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified, StorageClass: o.StorageClass}
	}
	for _, p := range r.CommonPrefixes {
		res.Prefixes = append(res.Prefixes, p.Prefix)
	}
	return res
}

// listObjectsV2 sends one ListObjectsV2 request and decodes its answer.
//
// A listing page of 1,000 keys is a few hundred kilobytes of XML, and
// decoding it with encoding/xml (as minio-go does) costs tens of
// microseconds per key, more than everything else an import does with the
// key. So the request is sent as a presigned GET (minio-go signs it, with
// the same endpoint, region, addressing style and credentials as every
// other request) and its answer is decoded by a streaming scan of the
// elements a listing has, as it arrives: the answer is never held whole.
// Anything else, an error status, a failed request, an answer cut short,
// is left to minio-go's own ListObjectsV2, with its retries and error
// decoding.
//
// With pack set, the answer's objects are packed into res.Packed rather
// than kept in res.Objects.
func (s *Store) listObjectsV2(ctx context.Context, bucket, prefix, startAfter, token, delimiter string, max int, pack *packing) (listResult, error) {
	slow := func() (listResult, error) {
		s.slowLists.Add(1)
		// minio-go's Core.ListObjectsV2 takes no context.
		r, err := s.core.ListObjectsV2(bucket, prefix, startAfter, token, delimiter, max)
		res := fromMinIO(r)
		if err == nil && pack != nil {
			err = res.pack(pack)
		}
		return res, err
	}
	q := url.Values{}
	q.Set("list-type", "2")
	q.Set("encoding-type", "url")
	q.Set("prefix", prefix)
	q.Set("delimiter", delimiter)
	q.Set("max-keys", strconv.Itoa(max))
	if startAfter != "" {
		q.Set("start-after", startAfter)
	}
	if token != "" {
		q.Set("continuation-token", token)
	}
	u, err := s.listURL(ctx, bucket, q)
	if err != nil {
		return slow()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return slow()
	}
	resp, err := s.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return listResult{}, ctx.Err()
		}
		return slow()
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return slow()
	}
	x := listReaders.Get().(*xmlTokens)
	defer listReaders.Put(x)
	x.reset(resp.Body)
	defer x.reset(nil)
	res, err := decodeListV2From(x, max, pack)
	var rerr *readError
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return listResult{}, ctx.Err()
	case errors.As(err, &rerr), errors.Is(err, errNotEncoded):
		// The answer was cut short, or its keys must be read again: ask
		// again, with minio-go's retries and decoding.
		return slow()
	}
	return res, fmt.Errorf("s3: list %s: %w", bucket, err)
}

// listURL returns the URL of a listing request of bucket with query q:
// presigned, or without credentials unsigned, as minio-go sends anonymous
// requests.
func (s *Store) listURL(ctx context.Context, bucket string, q url.Values) (*url.URL, error) {
	u, err := s.lister.Presign(ctx, http.MethodGet, bucket, "", listURLExpiry, q)
	if err != nil || s.cfg.AccessKeyID != "" {
		return u, err
	}
	return unsignedURL(u), nil
}

// anonymousKey is the placeholder credential an anonymous store presigns
// its listings with before it takes the signature off.
const anonymousKey = "lakeq-anonymous"

// unsignedURL returns u, a presigned URL, without its signature: the
// query parameters of presigning, X-Amz-Algorithm and the others.
func unsignedURL(u *url.URL) *url.URL {
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "X-Amz-") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u
}

// errListXML reports a ListObjectsV2 answer that is not a ListBucketResult.
var errListXML = errors.New("malformed ListObjectsV2 answer")

// listReadBuffer is the size of the buffer an answer is read through: a
// page of 1,000 keys is a few hundred kilobytes of XML, decoded as it
// arrives rather than held whole.
const listReadBuffer = 16 << 10

// listReaders holds the readers answers are decoded through.
var listReaders = sync.Pool{New: func() any {
	return &xmlTokens{r: bufio.NewReaderSize(nil, listReadBuffer)}
}}

// decodeListV2 reads a ListBucketResult document: its contents (key, size,
// ETag, last modified), common prefixes, truncation and continuation
// token, with keys and prefixes URL-decoded when the answer says they are
// URL-encoded. Elements it does not know are skipped, whatever they hold.
// sizeHint is how many objects the answer may hold. Nothing of the result
// refers to doc.
func decodeListV2(doc []byte, sizeHint int, pack *packing) (listResult, error) {
	x := xmlTokens{r: bufio.NewReader(bytes.NewReader(doc))}
	return decodeListV2From(&x, sizeHint, pack)
}

// errUnordered reports a packed answer whose keys are not in ascending
// order, which a page must be: ListPacked leaves it to List, which sorts.
var errUnordered = errors.New("listing keys out of order")

// errNotEncoded reports a packed answer whose keys were read as
// URL-encoded when the answer says they are not.
var errNotEncoded = errors.New("listing keys are not URL-encoded")

// decodeListV2From is decodeListV2 of the document x reads, decoded as it
// arrives. With pack set, each object is packed as soon as it is read
// (into res.Packed), its key URL-decoded then, before the answer has said
// that keys are encoded: an answer whose keys are not, and which holds a
// key that decoding would change, fails with errNotEncoded.
func decodeListV2From(x *xmlTokens, sizeHint int, pack *packing) (listResult, error) {
	d := listDecoder{depth: -1}
	if pack != nil {
		d.pack, d.after = block.NewPageBuilder(pack.bucket), pack.after
		d.res.Packed = d.pack
	} else {
		d.res.Objects = objectSlices.get(sizeHint)
	}
	for {
		kind, data, err := x.next()
		if err != nil {
			return d.res, fmt.Errorf("%w: %w", errListXML, err)
		}
		switch kind {
		case tokEOF:
			if d.depth != -2 {
				return d.res, fmt.Errorf("%w: document ends inside an element", errListXML)
			}
			if d.res.Truncated && d.res.Next == "" {
				return d.res, fmt.Errorf("%w: truncated without a continuation token", errListXML)
			}
			if d.pack != nil {
				if len(d.res.Prefixes) > 0 {
					return d.res, fmt.Errorf("%w: common prefixes in a listing without a delimiter", errListXML)
				}
				if d.decoded && d.res.EncodingType != "url" {
					return d.res, errNotEncoded
				}
				if d.badKey != nil {
					return d.res, d.badKey
				}
			}
			return d.res, decodeNames(&d.res)
		case tokStart, tokStartVoid:
			if err := d.enter(data); err != nil {
				return d.res, err
			}
			if kind == tokStartVoid {
				// <Name/>: an empty element, closed at once.
				if err := d.leave(); err != nil {
					return d.res, err
				}
			}
		case tokText:
			if d.depth > 0 {
				d.text = appendUnescaped(d.text, data)
			}
		case tokCDATA:
			if d.depth > 0 {
				d.text = append(d.text, data...)
			}
		case tokEnd:
			if d.depth < 0 {
				return d.res, fmt.Errorf("%w: unbalanced end tag", errListXML)
			}
			if err := d.leave(); err != nil {
				return d.res, err
			}
		}
	}
}

// element names the elements of a listing the decoder reads.
type element uint8

const (
	elOther element = iota
	elIsTruncated
	elNextContinuationToken
	elEncodingType
	elContents
	elCommonPrefixes
	elKey
	elETag
	elSize
	elLastModified
	elStorageClass
	elPrefix
)

// elementOf returns the element named name.
func elementOf(name []byte) element {
	switch string(name) {
	case "IsTruncated":
		return elIsTruncated
	case "NextContinuationToken":
		return elNextContinuationToken
	case "EncodingType":
		return elEncodingType
	case "Contents":
		return elContents
	case "CommonPrefixes":
		return elCommonPrefixes
	case "Key":
		return elKey
	case "ETag":
		return elETag
	case "Size":
		return elSize
	case "LastModified":
		return elLastModified
	case "StorageClass":
		return elStorageClass
	case "Prefix":
		return elPrefix
	}
	return elOther
}

// listDecoder is the state of decodeListV2.
type listDecoder struct {
	res listResult
	// depth is the number of open elements below the root: -1 before the
	// root, -2 after it.
	depth int
	// path holds the open elements below the root, as deep as matters.
	path [2]element
	// text is the character data of the innermost open element.
	text []byte
	obj  listObject
	// pack, when set, takes each object after the key after as it is
	// read, instead of res.Objects; key and etag hold the object's.
	pack      *block.PageBuilder
	after     string
	key, etag []byte
	// decoded reports that a packed key had an escape; badKey, that it
	// was a malformed one.
	decoded bool
	badKey  error
}

// enter opens the element named name.
func (d *listDecoder) enter(name []byte) error {
	switch {
	case d.depth == -2:
		return fmt.Errorf("%w: element after the root", errListXML)
	case d.depth == -1:
		if string(name) != "ListBucketResult" {
			return fmt.Errorf("%w: root element %q", errListXML, name)
		}
	case d.depth < len(d.path):
		d.path[d.depth] = elementOf(name)
		if d.depth == 0 && d.path[0] == elContents {
			d.obj = listObject{}
		}
	}
	d.depth++
	d.text = d.text[:0]
	return nil
}

// leave closes the innermost open element and stores what it held.
func (d *listDecoder) leave() error {
	depth, text := d.depth, d.text
	d.depth--
	d.text = d.text[:0]
	switch {
	case depth == 0:
		d.depth = -2 // the root is closed: nothing may follow
	case depth == 1:
		switch d.path[0] {
		case elIsTruncated:
			d.res.Truncated = string(bytes.TrimSpace(text)) == "true"
		case elNextContinuationToken:
			d.res.Next = string(text)
		case elEncodingType:
			d.res.EncodingType = string(bytes.TrimSpace(text))
		case elContents:
			if d.pack != nil {
				return d.packObject()
			}
			d.res.Objects = append(d.res.Objects, d.obj)
		}
	case depth == 2 && d.path[0] == elContents:
		return d.setField(d.path[1], text)
	case depth == 2 && d.path[0] == elCommonPrefixes && d.path[1] == elPrefix:
		d.res.Prefixes = append(d.res.Prefixes, string(text))
	}
	return nil
}

// setField stores the text of one element of a Contents.
func (d *listDecoder) setField(el element, text []byte) error {
	switch {
	case el == elKey && d.pack != nil:
		d.key = append(d.key[:0], text...)
	case el == elETag && d.pack != nil:
		d.etag = append(d.etag[:0], bytes.Trim(text, `"`)...)
	case el == elKey:
		d.obj.Key = string(text)
	case el == elETag:
		d.obj.ETag = string(text)
	case el == elSize:
		n, err := strconv.ParseInt(string(bytes.TrimSpace(text)), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: size %q", errListXML, text)
		}
		d.obj.Size = n
	case el == elLastModified:
		// The text is not kept: neither the time nor the error (not
		// returned) refers to it, so it is read in place, with no copy
		// for each object of a page.
		t, err := time.Parse(time.RFC3339Nano, unsafeString(bytes.TrimSpace(text)))
		if err != nil {
			return fmt.Errorf("%w: last modified %q", errListXML, text)
		}
		d.obj.LastModified = t.Truncate(time.Millisecond)
	case el == elStorageClass:
		if string(text) == "STANDARD" {
			d.obj.StorageClass = "STANDARD" // no copy for the usual class
		} else {
			d.obj.StorageClass = string(text)
		}
	}
	return nil
}

// unsafeString returns b as a string that shares its memory: only for a
// string that is not kept past the next change of b.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// packObject packs the object just read, if it is after d.after. Its
// key is URL-decoded where it holds an escape, and is then compared.
func (d *listDecoder) packObject() error {
	key := d.key
	if bytes.ContainsAny(key, "%+") {
		d.decoded = true
		k, err := url.QueryUnescape(string(key))
		if err != nil {
			// Malformed, unless the answer turns out not to be encoded.
			d.badKey = fmt.Errorf("%w: key: %v", errListXML, err)
			return nil
		}
		key = append(key[:0], k...)
	}
	if string(key) > d.after {
		if !d.pack.Follows(key) {
			return errUnordered
		}
		d.pack.AddObject(key, d.obj.Size, d.etag, d.obj.LastModified)
	}
	d.obj, d.key, d.etag = listObject{}, key[:0], d.etag[:0]
	return nil
}

// appendUnescaped appends the character data raw to dst with its entity
// and character references replaced. The references XML defines are
// replaced here without allocating (every ETag of a listing holds two
// &quot;); any other goes through html.UnescapeString.
func appendUnescaped(dst, raw []byte) []byte {
	for {
		i := bytes.IndexByte(raw, '&')
		if i < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i:]
		j := bytes.IndexByte(raw, ';')
		if j < 0 {
			return append(dst, raw...)
		}
		if r, ok := xmlReference(raw[1:j]); ok {
			dst = utf8.AppendRune(dst, r)
		} else {
			dst = append(dst, html.UnescapeString(string(raw[:j+1]))...)
		}
		raw = raw[j+1:]
	}
}

// xmlReference returns the character that the reference &name; stands for
// in XML: one of the five predefined entities or a character reference.
func xmlReference(name []byte) (rune, bool) {
	switch string(name) {
	case "quot":
		return '"', true
	case "amp":
		return '&', true
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "apos":
		return '\'', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	digits, base := name[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	n, err := strconv.ParseUint(string(digits), base, 32)
	if err != nil || n == 0 || !utf8.ValidRune(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

// decodeNames URL-decodes the keys and prefixes of an answer whose
// EncodingType is "url".
func decodeNames(res *listResult) error {
	if res.EncodingType != "url" {
		return nil
	}
	var err error
	for i := range res.Objects {
		if res.Objects[i].Key, err = url.QueryUnescape(res.Objects[i].Key); err != nil {
			return fmt.Errorf("%w: key: %v", errListXML, err)
		}
	}
	for i := range res.Prefixes {
		if res.Prefixes[i], err = url.QueryUnescape(res.Prefixes[i]); err != nil {
			return fmt.Errorf("%w: prefix: %v", errListXML, err)
		}
	}
	return nil
}
