package tree

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"unsafe"

	"github.com/lakeq/lakeq/store"
)

// pendingRange is what a Writer holds of the range under way: its entries
// encoded back to back, each as its canonical encoding with the path and
// the address front-coded against the entry before (the length of the
// prefix they share, then the rest). Neighbouring paths, and the addresses
// of imported objects, share most of their bytes, so a pending entry takes
// a fraction of the memory of a store.Entry, and nothing in it is a
// pointer for the garbage collector to follow. The range's id is hashed
// from the canonical encodings as entries arrive.
type pendingRange struct {
	data      []byte
	count     int
	canonical int64 // bytes of the entries' canonical encodings
	expanded  int   // bytes of their paths and addresses, written out
	size      int64 // sum of the entries' Size
	first     string
	last      string // path of the last entry
	lastAddr  string // address of the last entry
	hash      *hasher
}

// add appends e, which sorts after every entry added before.
func (p *pendingRange) add(e *store.Entry) {
	if p.count == 0 {
		p.first = e.Path
		p.hash = newHasher(rangeTag)
	}
	p.canonical += int64(p.hash.addEntry(e))
	p.data = appendFrontCoded(p.data, e.Path, p.last)
	p.data = appendFrontCoded(p.data, e.Address, p.lastAddr)
	p.data = appendEntryTail(p.data, e)
	p.count++
	p.expanded += len(e.Path) + len(e.Address)
	p.size += e.Size
	p.last, p.lastAddr = e.Path, e.Address
}

// id returns the id of the range of the entries added.
func (p *pendingRange) id() RangeID { return RangeID(p.hash.sum()) }

// appendFrontCoded appends s as the length of the prefix it shares with
// prev, then the rest of s, length-prefixed.
func appendFrontCoded(b []byte, s, prev string) []byte {
	n := 0
	for n < len(s) && n < len(prev) && s[n] == prev[n] {
		n++
	}
	b = binary.AppendUvarint(b, uint64(n))
	return appendString(b, s[n:])
}

var errBadEncoding = errors.New("tree: malformed pending range encoding")

// pendingReader reads the entries of a pendingRange back as range file
// rows. The strings of the rows share memory with the pending bytes and
// with out, which holds the paths and addresses written out; they are
// valid only while both are neither modified nor reused.
type pendingReader struct {
	b   []byte
	out []byte // paths and addresses; never grows past its capacity
	err error
	// the previous row's path and address, for the front coding
	path, addr string
}

func (r *pendingReader) fail() {
	if r.err == nil {
		r.err = errBadEncoding
	}
	r.b = nil
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

func (r *pendingReader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// view returns a length-prefixed string that shares the pending bytes.
func (r *pendingReader) view() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	if n == 0 {
		return ""
	}
	s := unsafe.String(&r.b[0], int(n))
	r.b = r.b[n:]
	return s
}

// frontCoded returns a front-coded string written out into out.
func (r *pendingReader) frontCoded(prev string) string {
	shared := r.uvarint()
	rest := r.view()
	if r.err != nil || shared > uint64(len(prev)) {
		r.fail()
		return ""
	}
	n := int(shared) + len(rest)
	start := len(r.out)
	if n > cap(r.out)-start {
		r.fail() // would move what earlier rows point at
		return ""
	}
	if n == 0 {
		return ""
	}
	r.out = append(r.out, prev[:shared]...)
	r.out = append(r.out, rest...)
	return unsafe.String(&r.out[start], n)
}

// row reads the next entry into row.
func (r *pendingReader) row(row *rangeRow) error {
	row.Path = r.frontCoded(r.path)
	row.Address = r.frontCoded(r.addr)
	r.path, r.addr = row.Path, row.Address
	row.AddressType = store.AddressType(r.byte()).String()
	row.Size = r.varint()
	row.ETag = r.view()
	row.MTime = r.varint()
	row.ContentType = r.view()
	row.Metadata = ""
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
	}
	if r.err != nil {
		return r.err
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
