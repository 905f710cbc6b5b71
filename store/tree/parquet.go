package tree

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"

	"github.com/lakeq/lakeq/store"
)

// rangeRow is one row of a range file: one entry, in plain columns that
// DuckDB, Spark and pandas read as is.
type rangeRow struct {
	Path        string `parquet:"path"`
	Address     string `parquet:"address"`
	AddressType string `parquet:"address_type"` // "relative" or "full"
	Size        int64  `parquet:"size"`
	ETag        string `parquet:"etag"`
	// MTime is unix nanoseconds; null when unknown.
	MTime       int64  `parquet:"mtime,optional,timestamp(nanosecond)"`
	ContentType string `parquet:"content_type"`
	// Metadata is the user metadata as a JSON object (a string column);
	// null when none.
	Metadata string `parquet:"metadata,optional"`
}

// metaRangeRow is one row of a metarange file: one range.
type metaRangeRow struct {
	MinKey   string `parquet:"min_key"`
	MaxKey   string `parquet:"max_key"`
	RangeID  string `parquet:"range_id,uncompressed"` // hex: snappy gains nothing
	Count    int64  `parquet:"count"`
	Bytes    int64  `parquet:"bytes"`
	FileSize int64  `parquet:"file_size"`
}

var (
	// rangeWriterOptions compress with Snappy (fastSnappy), in pages of
	// at most 64 KiB (which bounds a column's buffer) and row groups of at
	// most rangeRowGroup rows (which bounds the column chunks held until
	// the group is written), write straight to the fileOut (a buffer, or
	// one buffered already), and keep page bounds only where a query can
	// use them.
	rangeWriterOptions = []parquet.WriterOption{
		parquet.Compression(&fastSnappy{}),
		parquet.PageBufferSize(64 << 10),
		parquet.WriteBufferSize(0),
		parquet.MaxRowsPerRowGroup(rangeRowGroup),
		parquet.CreatedBy("lakeq", "", ""),
		parquet.SkipPageBounds("address"),
		parquet.SkipPageBounds("etag"),
		parquet.SkipPageBounds("content_type"),
		parquet.SkipPageBounds("metadata"),
	}
	metaRangeWriterOptions = []parquet.WriterOption{
		parquet.Compression(&parquet.Snappy),
		parquet.CreatedBy("lakeq", "", ""),
		parquet.SkipPageBounds("range_id"),
	}
	// fileOptions skip what lakeq never reads back: whole files are
	// decoded, so page indexes and bloom filters are not needed.
	fileOptions = []parquet.FileOption{
		parquet.SkipPageIndex(true),
		parquet.SkipBloomFilters(true),
	}
)

// rangeRowGroup is the most rows of a row group of a range file: as many
// as a range holds on average, so that encoding a long range takes the
// memory of an average one.
const rangeRowGroup = DefaultTargetEntries

// fastSnappy is the Snappy codec of range files. It encodes with s2's
// standard Snappy mode where parquet-go's codec takes the "better" one,
// whose tables, of 288 KiB for a page of 16 to 64 KiB against 64 KiB, a
// worker encoding ranges all along keeps in memory, and which takes more
// CPU. The blocks are Snappy all the same: every reader decodes them.
type fastSnappy struct{ snappy.Codec }

func (*fastSnappy) Encode(dst, src []byte) ([]byte, error) { return s2.EncodeSnappy(dst, src), nil }

// readRows decodes every row of the Parquet file data.
func readRows[T any](data []byte) ([]T, error) {
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)), fileOptions...)
	if err != nil {
		return nil, err
	}
	rows := make([]T, f.NumRows())
	r := parquet.NewGenericReader[T](f)
	defer r.Close()
	// A read ends at a row group's end: read on until all are read.
	n := 0
	for n < len(rows) {
		m, err := r.Read(rows[n:])
		n += m
		if errors.Is(err, io.EOF) || err == nil && m == 0 {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if n != len(rows) {
		return nil, fmt.Errorf("read %d of %d rows", n, len(rows))
	}
	return rows, nil
}

// rangeRows recycles the buffers of encodeRange, so that a worker writing
// ranges all day does not allocate them anew for each. (The Parquet writer
// itself is not reused: in parquet-go v0.32.0 a reset writer leaves
// path_in_schema out of the column chunks it writes.)
var rangeRows = sync.Pool{New: func() any {
	return &rowBuffers{rows: make([]rangeRow, encodeBatch), out: make([]byte, 0, batchBytes)}
}}

type rowBuffers struct {
	rows  []rangeRow
	out   []byte    // the paths, addresses and ETags of rows, written out
	prev  [2][]byte // the last path, address and content type of the batch before
	chunk []byte    // a spilled chunk of the pending range, read back
}

// encodeRange hands the Parquet writer encodeBatch rows at a time, with
// batchBytes for the strings they write out (a batch ends early when these
// do not fit), so that encoding a range takes the same memory whatever its
// length, beyond the Parquet writer's own pages.
const (
	encodeBatch = 256
	batchBytes  = 64 << 10
)

// encodeRange writes the range file of the entries of p to out.
func encodeRange(out io.Writer, p *pendingRange) error {
	rb := rangeRows.Get().(*rowBuffers)
	r := newPendingReader(p, rb.out, rb.chunk)
	defer func() {
		clear(rb.rows) // the rows share bytes that are reused next
		if cap(r.out) == batchBytes {
			rb.out = r.out[:0]
		}
		if cap(r.scratch) == pendingChunk {
			rb.chunk = r.scratch
		}
		rangeRows.Put(rb)
	}()
	w := parquet.NewGenericWriter[rangeRow](out, rangeWriterOptions...)
	for read := 0; read < p.count; {
		n, err := r.batch(rb.rows[:min(encodeBatch, p.count-read)], &rb.prev)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: %d entries, want %d", errBadEncoding, read, p.count)
		}
		// parquet-go copies every value into its own buffers.
		if _, err := w.Write(rb.rows[:n]); err != nil {
			return err
		}
		read += n
	}
	if r.more() {
		return fmt.Errorf("%w: more than %d entries", errBadEncoding, p.count)
	}
	if r.err != nil {
		return r.err
	}
	return w.Close()
}

func decodeRange(data []byte) ([]store.Entry, error) {
	rows, err := readRows[rangeRow](data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	entries := make([]store.Entry, len(rows))
	for i := range rows {
		r := &rows[i]
		e := &entries[i]
		e.Path = r.Path
		e.Address = r.Address
		switch r.AddressType {
		case "relative", "":
			e.AddressType = store.AddressRelative
		case "full":
			e.AddressType = store.AddressFull
		default:
			return nil, fmt.Errorf("%w: entry %q: address type %q", ErrCorrupt, r.Path, r.AddressType)
		}
		e.Size = r.Size
		e.ETag = r.ETag
		e.MTime = nanosMTime(r.MTime)
		e.ContentType = r.ContentType
		if r.Metadata != "" {
			if err := json.Unmarshal([]byte(r.Metadata), &e.Metadata); err != nil {
				return nil, fmt.Errorf("%w: entry %q: metadata: %w", ErrCorrupt, r.Path, err)
			}
			if len(e.Metadata) == 0 {
				e.Metadata = nil
			}
		}
	}
	return entries, nil
}

func encodeMetaRange(out io.Writer, ranges []RangeInfo) error {
	rows := make([]metaRangeRow, len(ranges))
	for i, r := range ranges {
		rows[i] = metaRangeRow{MinKey: r.MinKey, MaxKey: r.MaxKey, RangeID: string(r.ID), Count: r.Count, Bytes: r.Bytes, FileSize: r.FileSize}
	}
	return parquet.Write(out, rows, metaRangeWriterOptions...)
}

func decodeMetaRange(data []byte) ([]RangeInfo, error) {
	rows, err := readRows[metaRangeRow](data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	ranges := make([]RangeInfo, len(rows))
	for i, r := range rows {
		ranges[i] = RangeInfo{ID: RangeID(r.RangeID), MinKey: r.MinKey, MaxKey: r.MaxKey, Count: r.Count, Bytes: r.Bytes, FileSize: r.FileSize}
	}
	return ranges, nil
}

// readAll reads r completely, sized by hint when known.
func readAll(r io.Reader, hint int64) ([]byte, error) {
	if hint <= 0 {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, hint+1))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}
