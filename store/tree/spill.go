package tree

import (
	"fmt"
	"os"
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

// write appends chunk c.
func (s *spillFile) write(c []byte) error {
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "lakeq-pending-*")
		if err != nil {
			return fmt.Errorf("tree: spill pending range: %w", err)
		}
		// Unnamed from the start: the file goes when it is closed or when
		// the process ends, however it ends.
		if err := os.Remove(f.Name()); err != nil {
			f.Close()
			return fmt.Errorf("tree: spill pending range: %w", err)
		}
		s.f = f
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
