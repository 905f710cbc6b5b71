package tree

import (
	"bytes"
	"encoding/json"
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
	RangeID  string `parquet:"range_id"`
	Count    int64  `parquet:"count"`
	Bytes    int64  `parquet:"bytes"`
	FileSize int64  `parquet:"file_size"`
}

var writerOptions = []parquet.WriterOption{
	parquet.Compression(&parquet.Snappy),
	parquet.CreatedBy("lakeq", "", ""),
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
	return parquet.Write(buf, rows, writerOptions...)
}

func decodeRange(data []byte) ([]store.Entry, error) {
	rows, err := parquet.Read[rangeRow](bytes.NewReader(data), int64(len(data)))
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
	return parquet.Write(buf, rows, writerOptions...)
}

func decodeMetaRange(data []byte) ([]RangeInfo, error) {
	rows, err := parquet.Read[metaRangeRow](bytes.NewReader(data), int64(len(data)))
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
