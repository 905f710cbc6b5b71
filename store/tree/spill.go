package tree

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
)

// spillFile holds on disk the chunks a pending range has filled, all but
// the one being filled (Config.SpillDir), so that a Writer keeps one chunk
// in memory however long its ranges. It is the Writer's, and holds one
// range at a time: the Writer writes synchronously, so a range is encoded
// before the next one spills.
type spillFile struct {
	dir  string
	f    *os.File // opened when the first chunk spills
	lens []int    // the chunks written, in order
	size int64    // their bytes
}

// open makes the file, once.
func (s *spillFile) open() error {
	if s.f != nil {
		return nil
	}
	f, err := os.CreateTemp(s.dir, "lakeq-pending-*")
	if err != nil {
		return err
	}
	// Unnamed from the start: the file goes when it is closed or when the
	// process ends, however it ends.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return err
	}
	s.f = f
	return nil
}

// write appends chunk c.
func (s *spillFile) write(c []byte) error {
	if err := s.open(); err != nil {
		return fmt.Errorf("tree: spill pending range: %w", err)
	}
	if _, err := s.f.WriteAt(c, s.size); err != nil {
		return fmt.Errorf("tree: spill pending range: %w", err)
	}
	s.lens = append(s.lens, len(c))
	s.size += int64(len(c))
	return nil
}

// readAt reads the i-th chunk written, at offset off, into buf (grown when
// too small) and returns it.
func (s *spillFile) readAt(i int, off int64, buf []byte) ([]byte, error) {
	n := s.lens[i]
	if cap(buf) < n {
		buf = make([]byte, max(n, pendingChunk))
	}
	buf = buf[:n]
	if _, err := s.f.ReadAt(buf, off); err != nil {
		return buf, fmt.Errorf("tree: read back pending range: %w", err)
	}
	return buf, nil
}

// tail returns a fileOut that writes after the chunks written: the range
// file of the range they hold is encoded there as they are read back, and
// uploaded from there.
func (s *spillFile) tail() *spillTail {
	return &spillTail{s: s, base: s.size}
}

// spillTail is a file written into a spill file after a pending range's
// chunks, through a recycled buffer. Its bytes stay until the spill file
// holds the next range, which a Writer that spills starts only once the
// upload is done.
type spillTail struct {
	s    *spillFile
	base int64 // where the file starts
	n    int64 // the bytes written through to the spill file
	w    *bufio.Writer
	err  error // sticky
}

func (t *spillTail) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if t.w == nil {
		if t.err = t.s.open(); t.err != nil {
			return 0, t.err
		}
		t.w = tailBuffers.Get().(*bufio.Writer)
		t.w.Reset((*tailFile)(t))
	}
	n, err := t.w.Write(p)
	t.err = err
	return n, err
}

// finish writes out what the buffer holds and returns the file written.
func (t *spillTail) finish() (io.Reader, int64, error) {
	if t.w != nil {
		err := t.w.Flush()
		t.w.Reset(nil)
		tailBuffers.Put(t.w)
		t.w = nil
		if t.err == nil {
			t.err = err
		}
	}
	if t.err != nil {
		return nil, 0, fmt.Errorf("tree: write range file to spill file: %w", t.err)
	}
	return io.NewSectionReader(t.s.f, t.base, t.n), t.n, nil
}

// recycle: the bytes in the spill file are overwritten by the next range.
func (t *spillTail) recycle() {}

// tailFile is what a spillTail's buffer writes to: the spill file.
type tailFile spillTail

func (f *tailFile) Write(p []byte) (int, error) {
	n, err := f.s.f.WriteAt(p, f.base+f.n)
	f.n += int64(n)
	return n, err
}

// tailBuffers buffer the writes of range files into spill files, which
// come a page header or a page at a time: one is held while a range is
// encoded.
var tailBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}

// reset forgets the chunks written; the next range overwrites them.
func (s *spillFile) reset() {
	s.lens = s.lens[:0]
	s.size = 0
}

// close closes the file, which removes it.
func (s *spillFile) close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	s.reset()
}
