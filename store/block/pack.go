package block

import (
	"encoding/binary"
	"strings"
	"time"
	"unsafe"
)

// A packed page holds a listing page's items back to back in chunks of
// packChunk bytes, each item as a flags byte, its strings length-prefixed
// and its numbers as variable-length integers: about a third of the memory
// of the ListItems, for an S3 listing. An Iterator holds its page packed,
// so that many iterators each holding a page take little memory, unpacks
// one item at a time, and drops each chunk once it has unpacked it. The
// strings of unpacked items share the chunk, which is never written again.
// A page in chunks of a small-object size, not in one large buffer, takes
// no run of free pages from the heap, which a worker listing all along
// would otherwise fragment and grow.
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
	var chunks [][]byte
	var b []byte
	for i := range items {
		it := &items[i]
		n := 1 + 6*binary.MaxVarintLen64 + len(it.Key) + len(it.Object.Key) + len(it.Object.Bucket) +
			len(it.Object.ETag) + len(it.Object.ContentType)
		if cap(b)-len(b) < n {
			if len(b) > 0 {
				chunks = append(chunks, b)
			}
			b = make([]byte, 0, max(n, packChunk))
		}
		b = appendItem(b, it, bucket)
	}
	if len(b) > 0 {
		chunks = append(chunks, b)
	}
	return chunks
}

func appendItem(b []byte, it *ListItem, bucket string) []byte {
	o := &it.Object
	var flags byte
	if it.IsPrefix {
		flags |= packPrefix
	}
	if o.Key != it.Key {
		flags |= packOwnKey
	}
	if o.Bucket != bucket {
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
	if flags&packModified != 0 {
		b = binary.AppendVarint(b, o.LastModified.Unix())
		b = binary.AppendUvarint(b, uint64(o.LastModified.Nanosecond()))
	}
	return appendString(b, o.ContentType)
}

func appendString(b []byte, s string) []byte {
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
