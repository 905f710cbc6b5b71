package tree

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"time"

	"github.com/lakeq/lakeq/store"
)

// The canonical encodings below define ids; changing them changes every id.
// Each starts with a version tag; every field is length-prefixed (strings)
// or a fixed-width or varint integer, so that no two different contents
// encode the same.
const (
	rangeTag     = "lakeq.range.v1\n"
	metaRangeTag = "lakeq.metarange.v1\n"
)

// hasher computes a content id incrementally.
type hasher struct {
	h   hash.Hash
	buf []byte
}

func newHasher(tag string) *hasher {
	h := &hasher{h: sha256.New(), buf: make([]byte, 0, 512)}
	h.h.Write([]byte(tag))
	return h
}

// addEntry hashes e and returns the length of its encoding.
func (h *hasher) addEntry(e *store.Entry) int {
	h.buf = appendEntry(h.buf[:0], e)
	h.h.Write(h.buf)
	return len(h.buf)
}

func (h *hasher) addRange(r *RangeInfo) {
	b := h.buf[:0]
	b = appendString(b, string(r.ID))
	b = appendString(b, r.MinKey)
	b = appendString(b, r.MaxKey)
	b = binary.AppendVarint(b, r.Count)
	b = binary.AppendVarint(b, r.Bytes)
	h.buf = b
	h.h.Write(b)
}

func (h *hasher) sum() string {
	var s [sha256.Size]byte
	return hex.EncodeToString(h.h.Sum(s[:0]))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendEntry appends the canonical encoding of e: path, address, address
// type, size, etag, mtime (unix nanoseconds, 0 when unknown), content type,
// then the metadata pairs sorted by key.
func appendEntry(b []byte, e *store.Entry) []byte {
	b = appendString(b, e.Path)
	b = appendString(b, e.Address)
	b = append(b, byte(e.AddressType))
	b = binary.AppendVarint(b, e.Size)
	b = appendString(b, e.ETag)
	b = binary.AppendVarint(b, mtimeNanos(e.MTime))
	b = appendString(b, e.ContentType)
	return appendMetadata(b, e.Metadata)
}

// appendMetadata appends the number of pairs of md, then the pairs sorted
// by key.
func appendMetadata(b []byte, md map[string]string) []byte {
	b = binary.AppendUvarint(b, uint64(len(md)))
	switch len(md) {
	case 0:
	case 1:
		for k, v := range md {
			b = appendString(b, k)
			b = appendString(b, v)
		}
	default:
		keys := make([]string, 0, len(md))
		for k := range md {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = appendString(b, k)
			b = appendString(b, md[k])
		}
	}
	return b
}

// mtimeNanos maps a modification time to unix nanoseconds; the zero time
// (unknown) maps to 0, and 0 maps back to the zero time.
func mtimeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosMTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// rangeIDOf computes the id of a range holding entries.
func rangeIDOf(entries []store.Entry) (RangeID, int64) {
	h := newHasher(rangeTag)
	var n int64
	for i := range entries {
		n += int64(h.addEntry(&entries[i]))
	}
	return RangeID(h.sum()), n
}

// metaRangeIDOf computes the id of a metarange listing ranges.
func metaRangeIDOf(ranges []RangeInfo) MetaRangeID {
	h := newHasher(metaRangeTag)
	for i := range ranges {
		h.addRange(&ranges[i])
	}
	return MetaRangeID(h.sum())
}
