package tree

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/zeebo/xxh3"
	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/store"
)

// Writer streams entries in strictly increasing path order into
// content-defined ranges, and ranges into a metarange. It uploads up to
// Config.WriteConcurrency ranges while the caller keeps adding, so it holds
// at most that many ranges plus the pending one in memory, the pending one
// compactly encoded (see pendingRange), and with Config.SpillDir all but
// its last 16 KiB on disk. A Writer is not safe for concurrent use.
type Writer struct {
	m   *Manager
	ctx context.Context // the caller's context, for Close
	ns  Namespace
	g   *errgroup.Group
	gc  context.Context // canceled when an upload fails

	pending pendingRange
	spill   *spillFile // the pending range's filled chunks (Config.SpillDir)

	last    []byte // last key added, entry or range (a copy)
	hasLast bool

	ranges  []RangeInfo // output so far; FileSize comes from sizes
	sizesMu sync.Mutex
	sizes   map[int]int64 // file sizes reported by uploads, by index in ranges
	err     error         // sticky
	closed  bool
	discard bool // cut ranges but upload nothing
}

// NewWriter returns a Writer of a new tree in ns. ctx bounds every upload
// the writer makes, including the one Close makes.
func (m *Manager) NewWriter(ctx context.Context, ns Namespace) *Writer {
	w := &Writer{m: m, ctx: ctx, ns: ns}
	if m.cfg.SpillDir != "" {
		w.spill = &spillFile{dir: m.cfg.SpillDir}
		w.pending.spill = w.spill
	}
	w.g, w.gc = errgroup.WithContext(ctx)
	w.g.SetLimit(m.cfg.WriteConcurrency)
	if err := ns.Validate(); err != nil {
		w.err = err
	}
	return w
}

// Add appends a copy of e: the caller may reuse the memory of e's strings
// once it returns. e.Path must be a valid path after every key added
// before, else the error wraps ErrOutOfOrder (or store.ErrInvalidPath);
// the writer stays usable after such an error.
func (w *Writer) Add(e *store.Entry) error {
	if err := w.check(); err != nil {
		return err
	}
	if err := store.ValidatePath(e.Path); err != nil {
		return err
	}
	if w.hasLast && e.Path <= string(w.last) {
		return fmt.Errorf("%w: %q added after %q", ErrOutOfOrder, e.Path, w.last)
	}
	return w.add(e)
}

// add appends the encoding of e, which the caller guarantees is valid and
// in order.
func (w *Writer) add(e *store.Entry) error {
	p := &w.pending
	if err := p.add(e, w.m.newChunk); err != nil {
		w.err = err
		return err
	}
	w.last, w.hasLast = append(w.last[:0], e.Path...), true
	if w.m.isBoundary(e.Path) || p.count >= w.m.cfg.MaxEntries || p.canonical >= w.m.cfg.MaxBytes {
		return w.cut()
	}
	return nil
}

// isBoundary reports whether a range ends after path by content.
func (m *Manager) isBoundary(path string) bool {
	return xxh3.HashString(path)%uint64(m.cfg.TargetEntries) == 0
}

// endsOnBoundary reports whether a writer would certainly end a range
// after r's last key, whatever follows: on a content boundary, or by the
// entry cap. (A range ended by the byte cap is not recognised; treating it
// as open-ended only costs a read.)
func (m *Manager) endsOnBoundary(r *RangeInfo) bool {
	return m.isBoundary(r.MaxKey) || r.Count >= int64(m.cfg.MaxEntries)
}

// cut ends the pending range and starts its upload.
func (w *Writer) cut() error {
	run := w.pending
	// A spill file is the writer's, and writes are then synchronous: run
	// is encoded, and the file free again, before the next Add. The next
	// range takes over the buffers run coded its entries against.
	w.pending = pendingRange{spill: w.spill, last: run.last[:0], lastAddr: run.lastAddr[:0], lastType: run.lastType[:0]}
	id := run.id()
	idx := len(w.ranges)
	w.ranges = append(w.ranges, RangeInfo{
		ID:     id,
		MinKey: run.first,
		MaxKey: string(run.last),
		Count:  int64(run.count),
		Bytes:  run.size,
	})
	run.last, run.lastAddr, run.lastType = nil, nil, nil // the next range's now
	if w.discard {
		w.m.release(&run)
		return nil
	}
	if w.gc.Err() != nil {
		return w.fail()
	}
	upload := func() error {
		size, err := w.m.writeRange(w.gc, w.ns, id, &run)
		if err != nil {
			return err
		}
		w.sizesMu.Lock()
		if w.sizes == nil {
			w.sizes = make(map[int]int64)
		}
		w.sizes[idx] = size
		w.sizesMu.Unlock()
		return nil
	}
	if w.m.cfg.SyncWrites {
		if err := upload(); err != nil {
			w.err = err
			return err
		}
		return nil
	}
	w.g.Go(upload)
	return nil
}

// fail records the first upload error as the writer's error.
func (w *Writer) fail() error {
	if err := w.g.Wait(); err != nil {
		w.err = err
	} else {
		w.err = w.gc.Err()
	}
	return w.err
}

// writeRange stores range id holding the entries of run unless it exists
// already, and returns the file's size when known. It takes run over: its
// bytes are released once the file is encoded, before the upload. The file
// is encoded in memory, or, when it would not fit a recycled buffer and
// run has a spill file, into the spill file, so that a Writer's memory
// does not depend on how long its ranges are.
func (m *Manager) writeRange(ctx context.Context, ns Namespace, id RangeID, run *pendingRange) (int64, error) {
	var out fileOut
	if n := run.bytes(); run.spill != nil && n > maxPooledFile {
		out = run.spill.tail()
	} else {
		// The file takes fewer bytes than the pending entries, unless they
		// hold metadata: grown once, not doubled a dozen times.
		out = newMemoryOut(n)
	}
	encoded := false
	written, size, err := m.putFile(ctx, ns, makeKey(ns, kindRange, string(id)), ns.RangeKey(id), out, func(w io.Writer) error {
		defer m.release(run)
		encoded = true
		return encodeRange(w, run)
	})
	if !encoded {
		m.release(run)
	}
	if err != nil {
		return 0, fmt.Errorf("write range %s: %w", id, err)
	}
	if written {
		m.rangesWritten.Add(1)
	}
	return size, nil
}

// AddRange appends an existing range of ns without opening it. It is legal
// only when the writer has no pending entries (else ErrPendingEntries) and
// r.MinKey is after every key added before (else ErrOutOfOrder).
func (w *Writer) AddRange(r RangeInfo) error {
	if err := w.check(); err != nil {
		return err
	}
	if w.pending.count > 0 {
		return fmt.Errorf("%w: cannot add range %s before %d pending entries are cut", ErrPendingEntries, r.ID, w.pending.count)
	}
	if err := validateID(string(r.ID)); err != nil {
		return err
	}
	if r.MinKey == "" || r.MinKey > r.MaxKey || r.Count < 1 {
		return fmt.Errorf("%w: range %s: keys [%q, %q], %d entries", store.ErrInvalidValue, r.ID, r.MinKey, r.MaxKey, r.Count)
	}
	return w.addRange(&r)
}

// addRange appends r, a range of a stored metarange (so well-formed), when
// the writer has no pending entries.
func (w *Writer) addRange(r *RangeInfo) error {
	if err := w.gc.Err(); err != nil {
		return w.fail()
	}
	if w.hasLast && r.MinKey <= string(w.last) {
		return fmt.Errorf("%w: range %s starts at %q, not after %q", ErrOutOfOrder, r.ID, r.MinKey, w.last)
	}
	w.ranges = append(w.ranges, *r)
	w.last, w.hasLast = append(w.last[:0], r.MaxKey...), true
	return nil
}

// Pending reports whether the writer holds entries not yet cut into a
// range, that is, whether it is not at a range boundary.
func (w *Writer) Pending() bool { return w.pending.count > 0 }

// Ranges returns the ranges cut or added so far, in order. FileSize is
// reported only for ranges passed through and, after CloseRanges, for all.
func (w *Writer) Ranges() []RangeInfo {
	return slices.Clone(w.ranges)
}

// CloseRanges cuts the pending entries into a last range, waits for every
// upload, and returns all ranges written or passed through, in order. The
// writer cannot be used afterwards.
func (w *Writer) CloseRanges() ([]RangeInfo, error) {
	ranges, err := w.closeRanges()
	if err != nil {
		return nil, err
	}
	return slices.Clone(ranges), nil
}

// closeRanges is CloseRanges returning the writer's own slice.
func (w *Writer) closeRanges() ([]RangeInfo, error) {
	if err := w.check(); err != nil {
		w.Abort()
		return nil, err
	}
	if w.pending.count > 0 {
		if err := w.cut(); err != nil {
			w.Abort()
			return nil, err
		}
	}
	w.closed = true
	err := w.g.Wait()
	w.closeSpill()
	if err != nil {
		w.err = err
		return nil, err
	}
	for i, size := range w.sizes {
		w.ranges[i].FileSize = size
	}
	return w.ranges, nil
}

// Close is CloseRanges followed by writing the metarange of the ranges; it
// returns the metarange's id.
func (w *Writer) Close() (MetaRangeID, error) {
	ranges, err := w.closeRanges()
	if err != nil {
		return "", err
	}
	if w.discard {
		return "", nil
	}
	// The writer kept its ranges ordered and well-formed.
	return w.m.writeMetaRange(w.ctx, w.ns, ranges)
}

// Abort stops the writer without writing a metarange and waits for the
// uploads under way. Ranges already stored stay, unreferenced. Abort after
// Close does nothing.
func (w *Writer) Abort() {
	w.closed = true
	w.pending = pendingRange{}
	_ = w.g.Wait()
	w.closeSpill()
}

func (w *Writer) closeSpill() {
	if w.spill != nil {
		w.spill.close()
	}
}

func (w *Writer) check() error {
	switch {
	case w.closed:
		return ErrWriterClosed
	case w.err != nil:
		return w.err
	}
	return nil
}
