package tree

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

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
	// rangeWriterOptions compress with snappy, and keep page bounds only
	// where a query can use them.
	rangeWriterOptions = []parquet.WriterOption{
		parquet.Compression(&parquet.Snappy),
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

// readRows decodes every row of the Parquet file data.
func readRows[T any](data []byte) ([]T, error) {
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)), fileOptions...)
	if err != nil {
		return nil, err
	}
	rows := make([]T, f.NumRows())
	r := parquet.NewGenericReader[T](f)
	defer r.Close()
	n, err := r.Read(rows)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if n != len(rows) {
		return nil, fmt.Errorf("read %d of %d rows", n, len(rows))
	}
	return rows, nil
}

func encodeRange(buf *bytes.Buffer, entries []store.Entry) error {
	rows := make([]rangeRow, len(entries))
	for i := range entries {
		e := &entries[i]
		r := &rows[i]
		r.Path = e.Path
		r.Address = e.Address
		r.AddressType = e.AddressType.String()
		r.Size = e.Size
		r.ETag = e.ETag
		r.MTime = mtimeNanos(e.MTime)
		r.ContentType = e.ContentType
		if len(e.Metadata) > 0 {
			b, err := json.Marshal(e.Metadata)
			if err != nil {
				return fmt.Errorf("encode metadata of %q: %w", e.Path, err)
			}
			r.Metadata = string(b)
		}
	}
	return parquet.Write(buf, rows, rangeWriterOptions...)
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

func encodeMetaRange(buf *bytes.Buffer, ranges []RangeInfo) error {
	rows := make([]metaRangeRow, len(ranges))
	for i, r := range ranges {
		rows[i] = metaRangeRow{MinKey: r.MinKey, MaxKey: r.MaxKey, RangeID: string(r.ID), Count: r.Count, Bytes: r.Bytes, FileSize: r.FileSize}
	}
	return parquet.Write(buf, rows, metaRangeWriterOptions...)
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
