package tree

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/lakeq/lakeq/store"
)

// pendingRange is what a Writer holds of the range under way: its entries
// encoded back to back in chunks, each relative to the entry before it.
// The path and the address are front-coded (the length of the prefix they
// share with the entry before's, then the rest), an ETag of 32 hex digits
// is held as its 16 bytes, the modification time as the difference from
// the entry before's, and a content type equal to the entry before's as a
// flag. Neighbouring entries, above all imported objects, share most of
// their bytes, so a pending entry takes a fraction of the memory of a
// store.Entry, and nothing in it is a pointer for the garbage collector to
// follow. Chunks of one size are recycled (Manager.newChunk), so a range
// that grows copies nothing and leaves nothing behind. A range with a
// spill file writes each chunk it has filled there and fills the same
// chunk again, so it holds one chunk in memory however long it grows.
//
// The range's id is hashed from the canonical encodings as entries arrive.
type pendingRange struct {
	chunks    [][]byte   // no entry spans two chunks
	spill     *spillFile // when not nil, holds the chunks before the last
	count     int
	canonical int64 // bytes of the entries' canonical encodings
	size      int64 // sum of the entries' Size
	first     string
	hash      *hasher
	// the last entry's fields the next one is encoded against, copied:
	// the caller may reuse an entry's memory once it is added
	last, lastAddr, lastType []byte
	lastMTime                int64
}

// The first byte of a pending entry after its path and address: the
// address type, and flags.
const (
	pendingTypeMask = 0x3f
	pendingHexETag  = 1 << 6 // 16 bytes follow: the ETag's hex digits
	pendingSameType = 1 << 7 // the content type is the entry before's
)

// add appends e, which sorts after every entry added before. A chunk that
// has no room for it is written to the spill file and reused, or, without
// one, followed by one from newChunk (nil: allocate), which takes at least
// the bytes asked for. An error is the spill file's: e is not added.
func (p *pendingRange) add(e *store.Entry, newChunk func(min int) []byte) error {
	if err := p.room(maxPendingLen(e), newChunk); err != nil {
		return err
	}
	if p.count == 0 {
		p.first = strings.Clone(e.Path)
		p.hash = newHasher(rangeTag)
	}
	p.canonical += int64(p.hash.addEntry(e))
	c := &p.chunks[len(p.chunks)-1]
	*c = p.appendEntry(*c, e)
	p.count++
	p.size += e.Size
	return nil
}

// room makes sure the last chunk has room for n more bytes.
func (p *pendingRange) room(n int, newChunk func(min int) []byte) error {
	last := len(p.chunks) - 1
	if last >= 0 && cap(p.chunks[last])-len(p.chunks[last]) >= n {
		return nil
	}
	if newChunk == nil {
		newChunk = func(min int) []byte { return make([]byte, 0, max(min, pendingChunk)) }
	}
	if last < 0 || p.spill == nil {
		p.chunks = append(p.chunks, newChunk(n))
		return nil
	}
	c := p.chunks[last]
	if len(c) > 0 {
		if err := p.spill.write(c); err != nil {
			return err
		}
	}
	if cap(c) < n {
		c = newChunk(n) // the smaller one is left to the garbage collector
	}
	p.chunks[last] = c[:0]
	return nil
}

// appendEntry appends the pending encoding of e against the entry before.
func (p *pendingRange) appendEntry(b []byte, e *store.Entry) []byte {
	b = appendFrontCoded(b, e.Path, p.last)
	b = appendFrontCoded(b, e.Address, p.lastAddr)
	flags := byte(e.AddressType) & pendingTypeMask
	var etag [16]byte
	if isHexETag(e.ETag) {
		hex.Decode(etag[:], []byte(e.ETag))
		flags |= pendingHexETag
	}
	if e.ContentType == string(p.lastType) {
		flags |= pendingSameType
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, e.Size)
	if flags&pendingHexETag != 0 {
		b = append(b, etag[:]...)
	} else {
		b = appendString(b, e.ETag)
	}
	mtime := mtimeNanos(e.MTime)
	b = binary.AppendVarint(b, mtime-p.lastMTime)
	if flags&pendingSameType == 0 {
		b = appendString(b, e.ContentType)
	}
	p.last = append(p.last[:0], e.Path...)
	p.lastAddr = append(p.lastAddr[:0], e.Address...)
	p.lastType = append(p.lastType[:0], e.ContentType...)
	p.lastMTime = mtime
	return appendMetadata(b, e.Metadata)
}

// maxPendingLen bounds the bytes of e's pending encoding.
func maxPendingLen(e *store.Entry) int {
	n := len(e.Path) + len(e.Address) + len(e.ETag) + len(e.ContentType) + (8+2*len(e.Metadata))*binary.MaxVarintLen64
	for k, v := range e.Metadata {
		n += len(k) + len(v)
	}
	return n
}

// isHexETag reports whether etag is 32 lowercase hex digits (an MD5, as
// S3 reports for an object uploaded in one part), which hex-encoding its
// 16 bytes gives back.
func isHexETag(etag string) bool {
	if len(etag) != 32 {
		return false
	}
	for i := range len(etag) {
		if c := etag[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// bytes returns the bytes of the pending range's encoding, in memory and
// spilled.
func (p *pendingRange) bytes() int {
	n := 0
	if p.spill != nil {
		n = int(p.spill.size)
	}
	for _, c := range p.chunks {
		n += len(c)
	}
	return n
}

// id returns the id of the range of the entries added.
func (p *pendingRange) id() RangeID { return RangeID(p.hash.sum()) }

// appendFrontCoded appends s as the length of the prefix it shares with
// prev, then the rest of s, length-prefixed.
func appendFrontCoded(b []byte, s string, prev []byte) []byte {
	n := 0
	for n < len(s) && n < len(prev) && s[n] == prev[n] {
		n++
	}
	b = binary.AppendUvarint(b, uint64(n))
	return appendString(b, s[n:])
}

var (
	errBadEncoding = errors.New("tree: malformed pending range encoding")
	// errOutFull reports that out has no room for the next row's path
	// and address; the reader is left as it was before that row.
	errOutFull = errors.New("tree: no room for the row's path and address")
)

// pendingReader reads the entries of a pendingRange back as range file
// rows, a batch at a time. The strings of the rows share memory with the
// pending chunks (or with scratch, for a spilled one) and with out, which
// holds the paths, addresses and hex ETags written out; they are valid only
// while these are neither modified nor reused, that is, until the next
// batch. A batch ends with a spilled chunk, whose bytes the next one
// overwrites.
type pendingReader struct {
	b       []byte   // the rest of the chunk being read
	chunks  [][]byte // the chunks in memory after it
	spill   *spillFile
	spilled int   // the spilled chunks read
	off     int64 // where the next spilled chunk starts
	scratch []byte
	// inScratch reports that b is a spilled chunk, read into scratch
	inScratch bool
	out       []byte // never grows past its capacity
	err       error
	full      bool // out had no room for a string of the row being read
	// the fields of the row before, to which the next is coded
	path, addr, ctype string
	mtime             int64
}

// newPendingReader reads p; out and scratch (may be nil) are its buffers
// for the strings written out and for spilled chunks.
func newPendingReader(p *pendingRange, out, scratch []byte) pendingReader {
	return pendingReader{chunks: p.chunks, spill: p.spill, out: out[:0], scratch: scratch}
}

// more reports whether bytes remain to be read.
func (r *pendingReader) more() bool {
	if len(r.b) > 0 || r.spill != nil && r.spilled < len(r.spill.lens) {
		return true
	}
	for _, c := range r.chunks {
		if len(c) > 0 {
			return true
		}
	}
	return false
}

// load makes b the next chunk once b is used up, reading a spilled one
// into scratch, over the one before; it reports whether bytes remain.
func (r *pendingReader) load() bool {
	for len(r.b) == 0 {
		switch {
		case r.spill != nil && r.spilled < len(r.spill.lens):
			var err error
			r.scratch, err = r.spill.readAt(r.spilled, r.off, r.scratch)
			if err != nil {
				r.err = err
				r.b, r.chunks, r.spill = nil, nil, nil
				return false
			}
			r.b, r.inScratch = r.scratch, true
			r.off += int64(len(r.scratch))
			r.spilled++
		case len(r.chunks) > 0:
			r.b, r.chunks, r.inScratch = r.chunks[0], r.chunks[1:], false
		default:
			return false
		}
	}
	return true
}

// batch reads rows into dst until dst is full, out has no room for the
// next row, a spilled chunk or the entries run out; it returns how many it
// read. It reads at least one row while entries remain: out grows for a
// row that does not fit an empty out. A batch reuses out and scratch, so
// prev keeps the last path, address and content type of the batch before,
// to which its first row is coded. It keeps them in turns in its two
// buffers: they may be kept already, from a batch before, in the other.
func (r *pendingReader) batch(dst []rangeRow, prev *[2][]byte) (int, error) {
	kept := append(append(append(prev[1][:0], r.path...), r.addr...), r.ctype...)
	prev[0], prev[1] = kept, prev[0]
	np, na := len(r.path), len(r.addr)
	r.path, r.addr, r.ctype = viewOf(kept[:np]), viewOf(kept[np:np+na]), viewOf(kept[np+na:])
	r.out = r.out[:0]
	n := 0
	for n < len(dst) {
		if len(r.b) == 0 && r.inScratch && n > 0 {
			break // the next chunk is read over the rows' bytes
		}
		if !r.load() {
			break
		}
		err := r.row(&dst[n])
		switch {
		case err == nil:
			n++
		case !errors.Is(err, errOutFull):
			return n, err
		case n > 0:
			return n, nil
		default: // a row longer than out
			r.out = make([]byte, 0, 2*cap(r.out)+1)
		}
	}
	return n, r.err
}

func (r *pendingReader) fail() {
	if r.err == nil {
		r.err = errBadEncoding
	}
	r.b, r.chunks, r.spill = nil, nil, nil
}

func (r *pendingReader) uvarint() uint64 { return readNumber(r, binary.Uvarint) }
func (r *pendingReader) varint() int64   { return readNumber(r, binary.Varint) }

// readNumber reads a variable-length integer with read.
func readNumber[T uint64 | int64](r *pendingReader, read func([]byte) (T, int)) T {
	v, n := read(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// next returns the next n bytes.
func (r *pendingReader) next(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

// view returns a length-prefixed string that shares the pending bytes.
func (r *pendingReader) view() string { return viewOf(r.next(r.uvarint())) }

// viewOf returns a string that shares b's memory.
func viewOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// room reports whether out has room for n more bytes; when it has not,
// the row being read does not fit.
func (r *pendingReader) room(n int) bool {
	if n > cap(r.out)-len(r.out) {
		r.full = true // growing out would move what earlier rows point at
		return false
	}
	return true
}

// frontCoded returns a front-coded string written out into out.
func (r *pendingReader) frontCoded(prev string) string {
	shared := r.uvarint()
	rest := r.view()
	if r.err != nil || shared > uint64(len(prev)) {
		r.fail()
		return ""
	}
	if !r.room(int(shared) + len(rest)) {
		return ""
	}
	start := len(r.out)
	r.out = append(r.out, prev[:shared]...)
	r.out = append(r.out, rest...)
	return viewOf(r.out[start:])
}

// etag returns the ETag, written out into out when held as its bytes.
func (r *pendingReader) etag(flags byte) string {
	if flags&pendingHexETag == 0 {
		return r.view()
	}
	raw := r.next(16)
	if r.err != nil || !r.room(32) {
		return ""
	}
	start := len(r.out)
	r.out = hex.AppendEncode(r.out, raw)
	return viewOf(r.out[start:])
}

// row reads the next entry into row. When out has no room for its
// strings, it returns errOutFull and leaves the reader as it was.
func (r *pendingReader) row(row *rangeRow) error {
	b, mark := r.b, len(r.out)
	path := r.frontCoded(r.path)
	addr := r.frontCoded(r.addr)
	flags := r.next(1)
	if r.err != nil {
		return r.err
	}
	size := r.varint()
	etag := r.etag(flags[0])
	mtime := r.mtime + r.varint()
	ctype := r.ctype
	if flags[0]&pendingSameType == 0 {
		ctype = r.view()
	}
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
	}
	switch {
	case r.err != nil:
		return r.err
	case r.full:
		r.b, r.out, r.full = b, r.out[:mark], false
		return errOutFull
	}
	r.path, r.addr, r.ctype, r.mtime = path, addr, ctype, mtime
	*row = rangeRow{
		Path:        path,
		Address:     addr,
		AddressType: store.AddressType(flags[0] & pendingTypeMask).String(),
		Size:        size,
		ETag:        etag,
		MTime:       mtime,
		ContentType: ctype,
	}
	if n > 0 {
		md := make(map[string]string, n)
		for range n {
			k := r.view()
			md[k] = r.view()
		}
		if r.err != nil {
			return r.err
		}
		b, err := json.Marshal(md)
		if err != nil {
			return fmt.Errorf("encode metadata of %q: %w", row.Path, err)
		}
		row.Metadata = string(b)
	}
	return nil
}
