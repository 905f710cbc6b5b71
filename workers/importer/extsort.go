package importer

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// objectOverhead approximates the memory of one buffered object besides
// its key and ETag bytes.
const objectOverhead = 96

// sortIter yields the objects of an unordered source in ascending key
// order, once each (a key listed twice is kept once). It reads the whole
// source first: batches of up to bufBytes are sorted in memory and, when
// the source is larger than one batch, spilled as sorted runs to temporary
// files that are then merged. Memory stays bounded by bufBytes plus one
// read buffer per run.
type sortIter struct {
	mem   []object // the whole source, when it fit in one batch
	pos   int
	runs  runHeap
	files []*os.File
	cur   object
	last  string
	has   bool
	err   error
}

// sortStats describe an external sort, for logs and tests.
type sortStats struct {
	Objects int64
	Runs    int
}

// newSortIter sorts src (which it consumes and closes) with at most
// bufBytes of objects in memory, spilling runs into dir.
func newSortIter(ctx context.Context, src objectIter, dir string, bufBytes int64) (*sortIter, sortStats, error) {
	defer src.Close()
	s := &sortIter{}
	var st sortStats
	var buf []object
	var size int64
	spill := func() error {
		sortObjects(buf)
		f, err := writeRun(dir, buf)
		if err != nil {
			return err
		}
		s.files = append(s.files, f)
		st.Runs++
		buf, size = buf[:0], 0
		return nil
	}
	for src.Next() {
		o := *src.Object()
		buf = append(buf, o)
		st.Objects++
		size += int64(len(o.Key)+len(o.ETag)) + objectOverhead
		if size >= bufBytes {
			if err := ctx.Err(); err != nil {
				s.Close()
				return nil, st, err
			}
			if err := spill(); err != nil {
				s.Close()
				return nil, st, err
			}
		}
	}
	if err := src.Err(); err != nil {
		s.Close()
		return nil, st, err
	}
	if len(s.files) == 0 {
		sortObjects(buf)
		s.mem = buf
		return s, st, nil
	}
	if len(buf) > 0 {
		if err := spill(); err != nil {
			s.Close()
			return nil, st, err
		}
	}
	for i, f := range s.files {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			s.Close()
			return nil, st, fmt.Errorf("external sort: rewind run %d: %w", i, err)
		}
		r := &runReader{r: bufio.NewReaderSize(f, 64<<10), seq: i}
		if r.next() {
			s.runs = append(s.runs, r)
		} else if r.err != nil {
			s.Close()
			return nil, st, r.err
		}
	}
	heap.Init(&s.runs)
	return s, st, nil
}

func sortObjects(buf []object) {
	slices.SortStableFunc(buf, func(a, b object) int { return strings.Compare(a.Key, b.Key) })
}

func (s *sortIter) Next() bool {
	if s.err != nil {
		return false
	}
	for {
		var o object
		switch {
		case s.mem != nil || len(s.files) == 0:
			if s.pos >= len(s.mem) {
				return false
			}
			o = s.mem[s.pos]
			s.pos++
		default:
			if len(s.runs) == 0 {
				return false
			}
			r := s.runs[0]
			o = r.cur
			if r.next() {
				heap.Fix(&s.runs, 0)
			} else {
				if r.err != nil {
					s.err = r.err
					return false
				}
				heap.Pop(&s.runs)
			}
		}
		if s.has && o.Key == s.last {
			continue // listed twice
		}
		s.cur, s.last, s.has = o, o.Key, true
		return true
	}
}

func (s *sortIter) Object() *object { return &s.cur }
func (s *sortIter) Err() error      { return s.err }

// Close closes the run files, which removes them.
func (s *sortIter) Close() {
	for _, f := range s.files {
		f.Close()
	}
	s.files, s.runs, s.mem = nil, nil, nil
}

// writeRun writes sorted objects to a new temporary file in dir, unnamed
// from the start: it goes when it is closed or when the process ends,
// however it ends.
func writeRun(dir string, objs []object) (*os.File, error) {
	f, err := os.CreateTemp(dir, "lakeq-import-run-*")
	if err != nil {
		return nil, fmt.Errorf("external sort: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("external sort: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	var scratch [binary.MaxVarintLen64]byte
	putUvarint := func(v uint64) {
		n := binary.PutUvarint(scratch[:], v)
		w.Write(scratch[:n])
	}
	putVarint := func(v int64) {
		n := binary.PutVarint(scratch[:], v)
		w.Write(scratch[:n])
	}
	for i := range objs {
		o := &objs[i]
		putUvarint(uint64(len(o.Key)))
		w.WriteString(o.Key)
		putUvarint(uint64(len(o.ETag)))
		w.WriteString(o.ETag)
		putVarint(o.Size)
		putVarint(unixNanos(o.MTime))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, fmt.Errorf("external sort: write run: %w", err)
	}
	return f, nil
}

// runReader reads one sorted run back.
type runReader struct {
	r   *bufio.Reader
	seq int // run number: equal keys come out in run order
	cur object
	err error
}

// next reads the next object into cur and reports whether there was one.
func (r *runReader) next() bool {
	klen, err := binary.ReadUvarint(r.r)
	if errors.Is(err, io.EOF) {
		return false
	}
	if err != nil {
		r.err = fmt.Errorf("external sort: read run: %w", err)
		return false
	}
	key, err := readString(r.r, klen)
	if err != nil {
		r.err = err
		return false
	}
	elen, err := binary.ReadUvarint(r.r)
	if err != nil {
		r.err = fmt.Errorf("external sort: read run: %w", err)
		return false
	}
	etag, err := readString(r.r, elen)
	if err != nil {
		r.err = err
		return false
	}
	size, err := binary.ReadVarint(r.r)
	if err != nil {
		r.err = fmt.Errorf("external sort: read run: %w", err)
		return false
	}
	mtime, err := binary.ReadVarint(r.r)
	if err != nil {
		r.err = fmt.Errorf("external sort: read run: %w", err)
		return false
	}
	r.cur = object{Key: key, ETag: etag, Size: size, MTime: fromUnixNanos(mtime)}
	return true
}

func readString(r *bufio.Reader, n uint64) (string, error) {
	if n > 1<<20 {
		return "", fmt.Errorf("external sort: corrupt run: field of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("external sort: read run: %w", err)
	}
	return string(b), nil
}

// runHeap orders runs by their current key, then by run number.
type runHeap []*runReader

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if h[i].cur.Key != h[j].cur.Key {
		return h[i].cur.Key < h[j].cur.Key
	}
	return h[i].seq < h[j].seq
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

// unixNanos encodes t for a run file; the zero time is 0.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNanos decodes what unixNanos encoded.
func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
