package block

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// A packed page holds a listing page's items back to back in chunks of
// packChunk bytes, each item as a flags byte, its strings length-prefixed
// and its numbers as variable-length integers: about a third of the memory
// of the ListItems, for an S3 listing. An Iterator holds its page packed,
// so that many iterators each holding a page take little memory, unpacks
// one item at a time, and drops each chunk once it has unpacked it. The
// strings of unpacked items share the chunk, which is never written again,
// unless the iterator's caller lets it recycle the chunks of the pages it
// has used up (Iterator.SetReuse). A page in chunks of a small-object
// size, not in one large buffer, takes no run of free pages from the
// heap, which a worker listing all along would otherwise fragment and
// grow.
//
// Only plain pages are packed: items without metadata, whose modification
// times are in UTC (or zero). Others are kept as they are.

// packChunk is the size of the chunks of a packed page; an item longer
// than a chunk gets one of its own.
const packChunk = 16 << 10

// Flags of a packed item.
const (
	packPrefix    = 1 << iota // IsPrefix
	packOwnKey                // Object.Key differs from Key: it follows
	packOwnBucket             // Object.Bucket differs from the listing's: it follows
	packModified              // LastModified is not zero: it follows
)

// packable reports whether items can be packed and unpacked unchanged.
func packable(items []ListItem) bool {
	for i := range items {
		o := &items[i].Object
		if o.Metadata != nil || !o.LastModified.IsZero() && o.LastModified.Location() != time.UTC {
			return false
		}
	}
	return true
}

// packItems returns items packed, in chunks; bucket is the listing's.
func packItems(items []ListItem, bucket string) [][]byte {
	return PackPage(ListPage{Items: items}, bucket).chunks
}

// PackPage returns page packed; bucket is the listing's. Its items'
// metadata is not packed (see PageBuilder.Add).
func PackPage(page ListPage, bucket string) PackedPage {
	pb := NewPageBuilder(bucket)
	for i := range page.Items {
		pb.Add(&page.Items[i])
	}
	return pb.Page(page.Truncated)
}

// A PackedPage is a listing page packed (see PageBuilder), as a
// PackedLister returns it.
type PackedPage struct {
	chunks [][]byte
	count  int
	last   string
	// Truncated reports that more items follow; list again with
	// StartAfter = LastKey.
	Truncated bool
}

// Len returns how many items the page holds.
func (p PackedPage) Len() int { return p.count }

// LastKey returns the key of the page's last item ("" when it is empty).
func (p PackedPage) LastKey() string { return p.last }

// Items returns the page's items, unpacked; bucket is the listing's.
func (p PackedPage) Items(bucket string) []ListItem {
	items := make([]ListItem, 0, p.count)
	for _, c := range p.chunks {
		for len(c) > 0 {
			var it ListItem
			c = unpackItem(c, bucket, &it)
			items = append(items, it)
		}
	}
	return items
}

// A PageBuilder packs a listing page an item at a time, as a store decodes
// it, so that the page is never held as ListItems: the packed form is
// what an Iterator keeps. It is not safe for concurrent use.
type PageBuilder struct {
	bucket string
	chunks [][]byte
	b      []byte // the chunk being filled
	count  int
	// lastAt is where the last item starts in b, or -1 (DropLast).
	lastAt int
	// last and prev are the keys of the last two items.
	last, prev []byte
}

// NewPageBuilder returns an empty PageBuilder of a listing of bucket.
func NewPageBuilder(bucket string) *PageBuilder {
	return &PageBuilder{bucket: bucket, lastAt: -1}
}

// Add packs a copy of it. The modification time keeps its instant, not
// its location, and metadata is not packed: an item with metadata must not
// be added.
func (pb *PageBuilder) Add(it *ListItem) {
	o := &it.Object
	b := startItem(pb, len(it.Key)+len(o.Key)+len(o.Bucket)+len(o.ETag)+len(o.ContentType), it.Key)
	var flags byte
	if it.IsPrefix {
		flags |= packPrefix
	}
	if o.Key != it.Key {
		flags |= packOwnKey
	}
	if o.Bucket != pb.bucket {
		flags |= packOwnBucket
	}
	if !o.LastModified.IsZero() {
		flags |= packModified
	}
	b = append(b, flags)
	b = appendString(b, it.Key)
	if flags&packOwnKey != 0 {
		b = appendString(b, o.Key)
	}
	if flags&packOwnBucket != 0 {
		b = appendString(b, o.Bucket)
	}
	b = binary.AppendVarint(b, o.Size)
	b = appendString(b, o.ETag)
	b = appendModified(b, o.LastModified)
	pb.b = appendString(b, o.ContentType)
}

// AddObject packs an object of the listing's bucket with no content type,
// from the bytes of its key and ETag, which it copies.
func (pb *PageBuilder) AddObject(key []byte, size int64, etag []byte, modified time.Time) {
	b := startItem(pb, len(key)+len(etag), key)
	var flags byte
	if !modified.IsZero() {
		flags |= packModified
	}
	b = append(b, flags)
	b = appendString(b, key)
	b = binary.AppendVarint(b, size)
	b = appendString(b, etag)
	b = appendModified(b, modified)
	pb.b = appendString(b, "")
}

// chunks recycles the chunks of packChunk bytes of the packed pages that
// an Iterator's caller has used up (Iterator.SetReuse).
var chunks = sync.Pool{New: func() any { return new([packChunk]byte) }}

// newChunk returns an empty chunk for an item of n bytes: a recycled one
// if it fits.
func newChunk(n int) []byte {
	if n > packChunk {
		return make([]byte, 0, n)
	}
	return chunks.Get().(*[packChunk]byte)[:0]
}

// putChunk recycles c, which nothing may read or write any more.
func putChunk(c []byte) {
	if cap(c) == packChunk {
		chunks.Put((*[packChunk]byte)(c[:packChunk]))
	}
}

// startItem makes room in the chunk being filled for an item whose
// strings take n bytes and whose key is key, counts it, and returns the
// chunk to append the item to.
func startItem[T string | []byte](pb *PageBuilder, n int, key T) []byte {
	n += 1 + 6*binary.MaxVarintLen64
	if cap(pb.b)-len(pb.b) < n {
		if len(pb.b) > 0 {
			pb.chunks = append(pb.chunks, pb.b)
		}
		pb.b = newChunk(n)
	}
	pb.lastAt = len(pb.b)
	pb.last, pb.prev = append(pb.prev[:0], key...), pb.last
	pb.count++
	return pb.b
}

// DropLast removes the item added last. It cannot remove the one before.
func (pb *PageBuilder) DropLast() {
	if pb.lastAt < 0 {
		panic("block: PageBuilder.DropLast without an item added since the last drop")
	}
	pb.b = pb.b[:pb.lastAt]
	pb.lastAt = -1
	pb.last, pb.prev = pb.prev, pb.last
	pb.count--
}

// Len returns how many items the builder holds.
func (pb *PageBuilder) Len() int { return pb.count }

// Follows reports whether key sorts after the last item's, or the
// builder is empty.
func (pb *PageBuilder) Follows(key []byte) bool {
	return pb.count == 0 || bytes.Compare(key, pb.last) > 0
}

// LastKey returns the key of the last item ("" when there is none).
func (pb *PageBuilder) LastKey() string {
	if pb.count == 0 {
		return ""
	}
	return string(pb.last)
}

// Append moves the items of q, a builder of the same bucket, after those
// of pb; q is not used again.
func (pb *PageBuilder) Append(q *PageBuilder) {
	if q.count == 0 {
		return
	}
	if len(pb.b) > 0 {
		pb.chunks = append(pb.chunks, pb.b)
	}
	pb.chunks = append(pb.chunks, q.chunks...)
	pb.b, pb.lastAt = q.b, q.lastAt
	if q.count == 1 {
		pb.prev = pb.last // the item before q's only one is pb's last
	} else {
		pb.prev = q.prev
	}
	pb.last = q.last
	pb.count += q.count
	*q = PageBuilder{}
}

// Page returns the page built: the builder is not used again.
func (pb *PageBuilder) Page(truncated bool) PackedPage {
	if len(pb.b) > 0 {
		pb.chunks = append(pb.chunks, pb.b)
	}
	p := PackedPage{chunks: pb.chunks, count: pb.count, Truncated: truncated}
	if pb.count > 0 {
		p.last = string(pb.last)
	}
	*pb = PageBuilder{}
	return p
}

func appendModified(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendString[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// unpackItem reads the first item of b, which packItems wrote with
// bucket, into it, and returns the rest of b.
func unpackItem(b []byte, bucket string, it *ListItem) []byte {
	flags := b[0]
	b = b[1:]
	*it = ListItem{IsPrefix: flags&packPrefix != 0}
	it.Key, b = readString(b)
	it.Object.Key, it.Object.Bucket = it.Key, bucket
	if flags&packOwnKey != 0 {
		it.Object.Key, b = readString(b)
	}
	if flags&packOwnBucket != 0 {
		it.Object.Bucket, b = readString(b)
	}
	size, n := binary.Varint(b)
	it.Object.Size, b = size, b[n:]
	it.Object.ETag, b = readString(b)
	if flags&packModified != 0 {
		sec, n := binary.Varint(b)
		b = b[n:]
		nsec, n := binary.Uvarint(b)
		b = b[n:]
		it.Object.LastModified = time.Unix(sec, int64(nsec)).UTC()
	}
	it.Object.ContentType, b = readString(b)
	return b
}

// readString reads a length-prefixed string that shares b's memory.
func readString(b []byte) (string, []byte) {
	n, k := binary.Uvarint(b)
	b = b[k:]
	if n == 0 {
		return "", b
	}
	return unsafe.String(&b[0], int(n)), b[n:]
}

// cloneItem returns it with strings of its own (bucket, the listing's, is
// shared).
func cloneItem(it ListItem, bucket string) ListItem {
	o := &it.Object
	key := strings.Clone(it.Key)
	if o.Key == it.Key {
		o.Key = key
	} else {
		o.Key = strings.Clone(o.Key)
	}
	it.Key = key
	if o.Bucket != bucket {
		o.Bucket = strings.Clone(o.Bucket)
	}
	o.ETag, o.ContentType = strings.Clone(o.ETag), strings.Clone(o.ContentType)
	return it
}
