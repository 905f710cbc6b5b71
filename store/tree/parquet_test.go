package tree

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// plainRange is how an outside reader sees a range file: plain columns,
// read by name with parquet-go's generic reader.
type plainRange struct {
	Path        string    `parquet:"path"`
	Address     string    `parquet:"address"`
	AddressType string    `parquet:"address_type"`
	Size        int64     `parquet:"size"`
	ETag        string    `parquet:"etag"`
	MTime       time.Time `parquet:"mtime,optional,timestamp(nanosecond)"`
	ContentType string    `parquet:"content_type"`
	Metadata    *string   `parquet:"metadata,optional"`
}

type plainMetaRange struct {
	MinKey  string `parquet:"min_key"`
	MaxKey  string `parquet:"max_key"`
	RangeID string `parquet:"range_id"`
	Count   int64  `parquet:"count"`
	Bytes   int64  `parquet:"bytes"`
}

func readObject(t *testing.T, ns Namespace, key string) []byte {
	t.Helper()
	rc, _, err := ns.Store.Get(context.Background(), ns.Bucket, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParquetFilesArePlain(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{TargetEntries: 1 << 20})
	ns := newNS(t, "ns/")
	entries := []store.Entry{
		{Path: "a.csv", Address: "data/p1/a", Size: 10, ETag: "e1", MTime: baseTime, ContentType: "text/csv",
			Metadata: map[string]string{"owner": "ann", "team": "x"}},
		{Path: "b/c.bin", Address: "s3://ext/c.bin", AddressType: store.AddressFull, Size: 20, ETag: "e2"},
	}
	id := writeTree(t, m, ns, entries)
	ranges, err := m.GetMetaRange(ctx, ns, id)
	if err != nil || len(ranges) != 1 {
		t.Fatalf("metarange: %v %v", ranges, err)
	}

	data := readObject(t, ns, "ns/_lakeq/ranges/"+string(ranges[0].ID))
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range f.Schema().Fields() {
		names = append(names, c.Name())
	}
	want := []string{"path", "address", "address_type", "size", "etag", "mtime", "content_type", "metadata"}
	if len(names) != len(want) {
		t.Fatalf("columns %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("columns %v, want %v", names, want)
		}
	}
	r := parquet.NewGenericReader[plainRange](bytes.NewReader(data))
	rows := make([]plainRange, 10)
	n, err := r.Read(rows)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	r.Close()
	if n != 2 {
		t.Fatalf("read %d rows, want 2", n)
	}
	a, b := rows[0], rows[1]
	if a.Path != "a.csv" || a.Address != "data/p1/a" || a.AddressType != "relative" || a.Size != 10 || a.ETag != "e1" ||
		!a.MTime.Equal(baseTime) || a.ContentType != "text/csv" || a.Metadata == nil {
		t.Fatalf("row 0: %+v", a)
	}
	var md map[string]string
	if err := json.Unmarshal([]byte(*a.Metadata), &md); err != nil || md["owner"] != "ann" || md["team"] != "x" {
		t.Fatalf("row 0 metadata %q: %v", *a.Metadata, err)
	}
	if b.Path != "b/c.bin" || b.AddressType != "full" || b.Metadata != nil || !b.MTime.IsZero() {
		t.Fatalf("row 1: %+v (want null metadata and mtime)", b)
	}

	data = readObject(t, ns, "ns/_lakeq/metaranges/"+string(id))
	mrows, err := parquet.Read[plainMetaRange](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(mrows) != 1 || mrows[0].RangeID != string(ranges[0].ID) || mrows[0].MinKey != "a.csv" ||
		mrows[0].MaxKey != "b/c.bin" || mrows[0].Count != 2 || mrows[0].Bytes != 30 {
		t.Fatalf("metarange rows %+v", mrows)
	}
}

func TestIDsIgnoreRepresentation(t *testing.T) {
	// Equal logical content gives equal ids, whatever the time zone of the
	// mtime or the order metadata was built in.
	a := []store.Entry{{Path: "x", Address: "d/x", MTime: baseTime, Metadata: map[string]string{"a": "1", "b": "2"}}}
	b := []store.Entry{{Path: "x", Address: "d/x", MTime: baseTime.In(time.FixedZone("x", 3600)), Metadata: map[string]string{"b": "2", "a": "1"}}}
	c := []store.Entry{{Path: "x", Address: "d/x", MTime: baseTime, Metadata: map[string]string{"a": "1", "b": "3"}}}
	ida, _ := rangeIDOf(a)
	idb, _ := rangeIDOf(b)
	idc, _ := rangeIDOf(c)
	if ida != idb {
		t.Fatalf("equal content, different ids %s %s", ida, idb)
	}
	if ida == idc {
		t.Fatal("different metadata, same id")
	}
	// Length prefixes keep field boundaries apart.
	d, _ := rangeIDOf([]store.Entry{{Path: "ab", Address: "c"}})
	e, _ := rangeIDOf([]store.Entry{{Path: "a", Address: "bc"}})
	if d == e {
		t.Fatal("shifted field boundary, same id")
	}
}

func TestCorruptFileDetected(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{})
	ns := newNS(t, "")
	id := writeTree(t, m, ns, []store.Entry{entryAt("a", 1), entryAt("b", 2)})
	ranges, err := m.GetMetaRange(ctx, ns, id)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the range file with a valid file of other content.
	other := newNS(t, "")
	oid := writeTree(t, m, other, []store.Entry{entryAt("a", 9)})
	oranges, err := m.GetMetaRange(ctx, other, oid)
	if err != nil {
		t.Fatal(err)
	}
	data := readObject(t, other, other.RangeKey(oranges[0].ID))
	key := ns.RangeKey(ranges[0].ID)
	if _, err := ns.Store.Put(ctx, ns.Bucket, key, bytes.NewReader(data), int64(len(data)), block.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	fresh := newManager(t, Config{})
	if _, err := fresh.GetRange(ctx, ns, ranges[0].ID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("swapped range file: %v, want ErrCorrupt", err)
	}
	if _, err := fresh.GetRange(ctx, ns, RangeID(oid[:60]+"0000")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing range: %v, want ErrNotFound", err)
	}
	if _, err := fresh.GetMetaRange(ctx, ns, "zz"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("malformed id: %v, want ErrInvalid", err)
	}
}

// runOf encodes entries as a Writer holds a pending range.
func runOf(entries []store.Entry) *pendingRange {
	var p pendingRange
	for i := range entries {
		p.add(&entries[i], nil)
	}
	return &p
}

// TestEncodeRangeFromPending: a range file encoded from a pending range
// reads back as its entries, with the id of the entries, and owns its
// bytes: reusing the pending bytes afterwards changes nothing. The range
// spans several batches, some ended early by long addresses, one address
// longer than a batch's room.
func TestEncodeRangeFromPending(t *testing.T) {
	entries := make([]store.Entry, 3*encodeBatch+50)
	for i := range entries {
		entries[i] = entryAt(keyOf(i), i) // some with metadata, some full addresses
	}
	entries[7].Metadata = map[string]string{"a<b>": "x&y", "": "empty key", "ключ": "значение"}
	entries[8].ETag, entries[8].ContentType, entries[8].MTime = "", "", time.Time{}
	entries[9].Address = ""                                  // nothing shared, nothing after
	entries[10].Address = entries[11].Address                // the next shares all of it
	entries[12].Address = entries[11].Address[:3]            // a prefix of the one before
	entries[13].Address = entries[12].Address + "\x00\xff日本" // extends it
	entries[14].ETag = strings.ToUpper(entries[14].ETag)     // not held as bytes
	entries[15].ETag += "-3"                                 // a multipart upload's
	entries[16].ContentType = "text/plain"
	for i := 300; i < 330; i++ {
		entries[i].Address = strings.Repeat(string(rune('a'+i%26)), batchBytes/8)
	}
	entries[400].Address = strings.Repeat("long", batchBytes) // longer than a batch's room
	entries[401].Address = entries[400].Address + "/next"
	run := runOf(entries)
	if got, _ := rangeIDOf(entries); run.id() != got {
		t.Fatalf("pending id %s, entries' id %s", run.id(), got)
	}
	if canonical := len(appendEntries(entries)); run.canonical != int64(canonical) {
		t.Fatalf("pending counts %d canonical bytes, want %d", run.canonical, canonical)
	}
	if run.bytes() >= int(run.canonical) {
		t.Errorf("pending range takes %d bytes, no fewer than the canonical %d", run.bytes(), run.canonical)
	}
	var buf bytes.Buffer
	if err := encodeRange(&buf, run); err != nil {
		t.Fatal(err)
	}
	for _, c := range run.chunks {
		for i := range c {
			c[i] = 0xff
		}
	}
	got, err := decodeRange(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	requireEntries(t, got, entries)

	// A malformed pending range is an error, not a panic or a short file.
	two := runOf(entries[:2])
	truncated, more, fewer := *two, *two, *two
	truncated.chunks = [][]byte{two.chunks[0][:20]}
	more.count, fewer.count = 3, 1
	for name, bad := range map[string]*pendingRange{"truncated": &truncated, "count high": &more, "count low": &fewer} {
		if err := encodeRange(&bytes.Buffer{}, bad); !errors.Is(err, errBadEncoding) {
			t.Errorf("%s: %v, want errBadEncoding", name, err)
		}
	}
}

// TestPendingReaderBatches: a batch ends when its room for paths and
// addresses is full, without losing the row that did not fit, and a row
// longer than that room makes it grow; the first row of each batch is
// front-coded against the last of the batch before.
func TestPendingReaderBatches(t *testing.T) {
	entries := make([]store.Entry, 7)
	for i := range entries {
		entries[i] = store.Entry{Path: keyOf(i), Address: "s3://bucket/" + strings.Repeat("x", 3000) + keyOf(i)}
	}
	entries[5].Address = strings.Repeat("y", 20000)
	sizes, got := readBatches(t, runOf(entries), 8<<10)
	// 8 KiB holds two of the 3 KiB addresses; the 20,000-byte one grows
	// the room, which then holds it and the last.
	if want := []int{2, 2, 1, 2}; !slices.Equal(sizes, want) {
		t.Errorf("batches of %v rows, want %v", sizes, want)
	}
	for i, row := range got {
		if row.Path != entries[i].Path || row.Address != entries[i].Address {
			t.Errorf("row %d: %q at %.20q…, want %q at %.20q…", i, row.Path, row.Address, entries[i].Path, entries[i].Address)
		}
	}
}

// appendEntries is the canonical encoding of entries, back to back.
func appendEntries(entries []store.Entry) []byte {
	var b []byte
	for i := range entries {
		b = appendEntry(b, &entries[i])
	}
	return b
}

// readBatches reads p batch by batch, with room for outBytes of strings,
// and returns the rows of each batch and copies of all the rows.
func readBatches(t *testing.T, p *pendingRange, outBytes int) (sizes []int, got []rangeRow) {
	t.Helper()
	r := newPendingReader(p, make([]byte, 0, outBytes), nil)
	rows := make([]rangeRow, p.count)
	var prev [2][]byte
	for r.more() {
		n, err := r.batch(rows, &prev)
		if err != nil || n == 0 {
			t.Fatalf("batch %d: %d rows, %v", len(sizes), n, err)
		}
		sizes = append(sizes, n)
		for _, row := range rows[:n] {
			row.Path, row.Address, row.ContentType = strings.Clone(row.Path), strings.Clone(row.Address), strings.Clone(row.ContentType)
			got = append(got, row)
		}
	}
	return sizes, got
}
