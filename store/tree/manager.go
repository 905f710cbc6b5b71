package tree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

// Manager reads and writes trees. It is safe for concurrent use; one
// Manager serves any number of namespaces.
//
// A Manager remembers which files exist (Config.KnownIDs) and does not
// write them again; range and metarange files are immutable and must not
// be deleted while a Manager that may have seen them runs.
type Manager struct {
	cfg   Config
	cache *lru.Cache[cacheKey, *decoded]
	// known remembers files known to exist, with their sizes.
	known *lru.Cache[cacheKey, int64]
	// encodes and uploads hold a token per range being encoded, or
	// uploaded, when Config.ManagerEncodes or ManagerUploads bound them
	// (nil otherwise).
	encodes, uploads chan struct{}
	// chunks recycles the chunks of Writers' pending ranges once encoded.
	chunks sync.Pool
	loads  singleflight.Group

	rangesOpened      atomic.Int64
	rangesWritten     atomic.Int64
	metaRangesWritten atomic.Int64
	cacheHits         atomic.Int64
	cacheMisses       atomic.Int64
	cacheBytes        atomic.Int64 // of the files in cache
}

// decoded is the cached content of one file.
type decoded struct {
	entries []store.Entry // a range
	ranges  []RangeInfo   // a metarange
	size    int64         // estimated memory (decodedSize)
}

// newDecoded returns a cache entry of a range's entries or a metarange's
// ranges, with its size.
func newDecoded(entries []store.Entry, ranges []RangeInfo) *decoded {
	d := &decoded{entries: entries, ranges: ranges}
	d.size = int64(cap(entries))*int64(unsafe.Sizeof(store.Entry{})) + int64(cap(ranges))*int64(unsafe.Sizeof(RangeInfo{}))
	for i := range entries {
		e := &entries[i]
		d.size += int64(len(e.Path) + len(e.Address) + len(e.ETag) + len(e.ContentType))
		for k, v := range e.Metadata {
			d.size += int64(len(k) + len(v) + 32) // and the map's slot
		}
	}
	for i := range ranges {
		r := &ranges[i]
		d.size += int64(len(r.ID) + len(r.MinKey) + len(r.MaxKey))
	}
	return d
}

// Stats are a Manager's cumulative counters.
type Stats struct {
	// RangesOpened counts every range read (GetRange, iterators, Apply,
	// Diff, Merge, Replace), whether served by the cache or not.
	RangesOpened int64
	// RangesWritten counts range files uploaded; a range the manager
	// knows to exist (it wrote or read it) is not uploaded again.
	RangesWritten int64
	// MetaRangesWritten counts metarange files uploaded, likewise.
	MetaRangesWritten int64
	// CacheHits and CacheMisses count reads of ranges and metaranges
	// served by, or missing from, the cache.
	CacheHits, CacheMisses int64
	// CacheBytes is the estimated memory of the files in the cache now.
	CacheBytes int64
}

// NewManager returns a Manager configured by cfg.
func NewManager(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m := &Manager{cfg: cfg}
	cache, err := lru.NewWithEvict(cfg.CacheRanges, func(_ cacheKey, d *decoded) { m.cacheBytes.Add(-d.size) })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	known, err := lru.New[cacheKey, int64](cfg.KnownIDs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidConfig, err)
	}
	m.cache, m.known = cache, known
	if cfg.ManagerEncodes > 0 {
		m.encodes = make(chan struct{}, cfg.ManagerEncodes)
	}
	if cfg.ManagerUploads > 0 {
		m.uploads = make(chan struct{}, cfg.ManagerUploads)
	}
	return m, nil
}

// Config returns the Manager's configuration with defaults applied.
func (m *Manager) Config() Config { return m.cfg }

// Stats returns a snapshot of the cumulative counters.
func (m *Manager) Stats() Stats {
	return Stats{
		RangesOpened:      m.rangesOpened.Load(),
		RangesWritten:     m.rangesWritten.Load(),
		MetaRangesWritten: m.metaRangesWritten.Load(),
		CacheHits:         m.cacheHits.Load(),
		CacheMisses:       m.cacheMisses.Load(),
		CacheBytes:        m.cacheBytes.Load(),
	}
}

// EmptyMetaRange returns the id of the metarange with no ranges, writing it
// to ns if it is not there yet.
func (m *Manager) EmptyMetaRange(ctx context.Context, ns Namespace) (MetaRangeID, error) {
	return m.WriteMetaRange(ctx, ns, nil)
}

// WriteMetaRange writes the metarange listing ranges (ordered, disjoint,
// already stored in ns) and returns its id. A metarange already stored is
// not written again.
func (m *Manager) WriteMetaRange(ctx context.Context, ns Namespace, ranges []RangeInfo) (MetaRangeID, error) {
	if err := ns.Validate(); err != nil {
		return "", err
	}
	if err := validateRanges(ranges); err != nil {
		return "", err
	}
	return m.writeMetaRange(ctx, ns, cloneRanges(ranges))
}

// writeMetaRange writes the metarange of valid ranges, which it keeps.
func (m *Manager) writeMetaRange(ctx context.Context, ns Namespace, ranges []RangeInfo) (MetaRangeID, error) {
	if ranges == nil {
		ranges = []RangeInfo{}
	}
	id := metaRangeIDOf(ranges)
	key := makeKey(ns, kindMetaRange, string(id))
	written, _, err := m.putFile(ctx, ns, key, ns.MetaRangeKey(id), newMemoryOut(0), func(w io.Writer) error {
		return encodeMetaRange(w, ranges)
	})
	if err != nil {
		return "", fmt.Errorf("write metarange %s: %w", id, err)
	}
	if written {
		m.metaRangesWritten.Add(1)
	}
	m.remember(key, newDecoded(nil, ranges))
	return id, nil
}

func validateRanges(ranges []RangeInfo) error {
	for i := range ranges {
		r := &ranges[i]
		if err := validateID(string(r.ID)); err != nil {
			return fmt.Errorf("range %d: %w", i, err)
		}
		if r.MinKey == "" || r.MinKey > r.MaxKey || r.Count < 1 {
			return fmt.Errorf("%w: range %d (%s): keys [%q, %q], %d entries", store.ErrInvalidValue, i, r.ID, r.MinKey, r.MaxKey, r.Count)
		}
		if i > 0 && ranges[i-1].MaxKey >= r.MinKey {
			return fmt.Errorf("%w: range %d starts at %q, not after the previous range's end %q", ErrOutOfOrder, i, r.MinKey, ranges[i-1].MaxKey)
		}
	}
	return nil
}

// GetMetaRange returns the ranges of metarange id, in key order.
func (m *Manager) GetMetaRange(ctx context.Context, ns Namespace, id MetaRangeID) ([]RangeInfo, error) {
	ranges, err := m.metaRange(ctx, ns, id)
	if err != nil {
		return nil, err
	}
	return cloneRanges(ranges), nil
}

// GetRange returns the entries of range id, in path order. The entries'
// Metadata maps are shared with the cache and must not be modified.
func (m *Manager) GetRange(ctx context.Context, ns Namespace, id RangeID) ([]store.Entry, error) {
	entries, err := m.rangeEntries(ctx, ns, id)
	if err != nil {
		return nil, err
	}
	out := make([]store.Entry, len(entries))
	copy(out, entries)
	return out, nil
}

// metaRange returns the cached, shared ranges of metarange id.
func (m *Manager) metaRange(ctx context.Context, ns Namespace, id MetaRangeID) ([]RangeInfo, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	if err := validateID(string(id)); err != nil {
		return nil, fmt.Errorf("metarange: %w", err)
	}
	d, err := m.load(ctx, ns, makeKey(ns, kindMetaRange, string(id)), ns.MetaRangeKey(id), func(data []byte) (*decoded, error) {
		ranges, err := decodeMetaRange(data)
		if err != nil {
			return nil, err
		}
		if got := metaRangeIDOf(ranges); got != id {
			return nil, fmt.Errorf("%w: content hashes to %s", ErrCorrupt, got)
		}
		return newDecoded(nil, ranges), nil
	})
	if err != nil {
		if errors.Is(err, block.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s: %w", ErrMetaRangeNotFound, id, err)
		}
		return nil, fmt.Errorf("read metarange %s: %w", id, err)
	}
	return d.ranges, nil
}

// rangeEntries returns the cached, shared entries of range id; it counts as
// one range opened.
func (m *Manager) rangeEntries(ctx context.Context, ns Namespace, id RangeID) ([]store.Entry, error) {
	if err := ns.Validate(); err != nil {
		return nil, err
	}
	if err := validateID(string(id)); err != nil {
		return nil, fmt.Errorf("range: %w", err)
	}
	m.rangesOpened.Add(1)
	d, err := m.load(ctx, ns, makeKey(ns, kindRange, string(id)), ns.RangeKey(id), func(data []byte) (*decoded, error) {
		entries, err := decodeRange(data)
		if err != nil {
			return nil, err
		}
		if got, _ := rangeIDOf(entries); got != id {
			return nil, fmt.Errorf("%w: content hashes to %s", ErrCorrupt, got)
		}
		if len(entries) == 0 {
			return nil, fmt.Errorf("%w: range has no entries", ErrCorrupt)
		}
		return newDecoded(entries, nil), nil
	})
	if err != nil {
		if errors.Is(err, block.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s: %w", ErrRangeNotFound, id, err)
		}
		return nil, fmt.Errorf("read range %s: %w", id, err)
	}
	return d.entries, nil
}

// remember caches d under key, within Config.CacheBytes: the least
// recently used files make room for it, and a file larger than the bound
// is not cached. Files are named by their content, so one cached already
// is the same.
func (m *Manager) remember(key cacheKey, d *decoded) {
	if d.size > m.cfg.CacheBytes {
		return
	}
	if found, _ := m.cache.ContainsOrAdd(key, d); found {
		return
	}
	m.cacheBytes.Add(d.size)
	for m.cacheBytes.Load() > m.cfg.CacheBytes {
		if _, _, ok := m.cache.RemoveOldest(); !ok {
			return
		}
	}
}

// load returns the decoded file at objKey through the cache; concurrent
// misses of the same file share one read.
func (m *Manager) load(ctx context.Context, ns Namespace, key cacheKey, objKey string, decode func([]byte) (*decoded, error)) (*decoded, error) {
	if d, ok := m.cache.Get(key); ok {
		m.cacheHits.Add(1)
		return d, nil
	}
	m.cacheMisses.Add(1)
	flightKey := fmt.Sprintf("%p\x00%s\x00%s\x00%d\x00%s", key.store, key.bucket, key.prefix, key.kind, key.id)
	v, err, _ := m.loads.Do(flightKey, func() (any, error) {
		if d, ok := m.cache.Get(key); ok {
			return d, nil
		}
		rc, info, err := ns.Store.Get(ctx, ns.Bucket, objKey, nil)
		if err != nil {
			return nil, err
		}
		data, err := readAll(rc, info.Size)
		rc.Close()
		if err != nil {
			return nil, err
		}
		d, err := decode(data)
		if err != nil {
			return nil, err
		}
		m.remember(key, d)
		m.known.Add(key, int64(len(data)))
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*decoded), nil
}

// putFile stores the file encode writes to out at objKey unless it is
// known to exist already. It reports whether it wrote, and the file's size
// when known. It encodes holding an encode slot and uploads holding an
// upload slot (Config.ManagerEncodes, ManagerUploads), so that the files
// many Writers hold at once are bounded.
//
// A file the manager does not know is uploaded without first asking
// whether it exists: files are named by their content, so writing one that
// exists rewrites the same bytes, and on a remote store the extra round
// trip of the question costs more than the rare rewrite.
func (m *Manager) putFile(ctx context.Context, ns Namespace, key cacheKey, objKey string, out fileOut, encode func(io.Writer) error) (bool, int64, error) {
	if size, ok := m.known.Get(key); ok {
		out.recycle()
		return false, size, nil
	}
	var body io.Reader
	var size int64
	err := withSlot(ctx, m.encodes, func() (err error) {
		if err = encode(out); err == nil {
			body, size, err = out.finish()
		}
		return err
	})
	if err != nil {
		return false, 0, err
	}
	err = withSlot(ctx, m.uploads, func() error {
		_, err := ns.Store.Put(ctx, ns.Bucket, objKey, body, size, block.PutOptions{ContentType: parquetContentType})
		return err
	})
	if err != nil {
		// Not recycled: a failed request's body may still be read.
		return false, 0, err
	}
	out.recycle()
	m.known.Add(key, size)
	return true, size, nil
}

// fileOut is where putFile has a file encoded before it uploads it: a
// recycled buffer (memoryOut), or a spill file (spillFile.tail).
type fileOut interface {
	io.Writer
	// finish ends the writes and returns the file for the upload.
	finish() (body io.Reader, size int64, err error)
	// recycle gives back what holds the file, once it is uploaded.
	recycle()
}

// memoryOut is a fileOut in a buffer of fileBuffers.
type memoryOut struct{ *bytes.Buffer }

// newMemoryOut returns a memoryOut with room for hint bytes.
func newMemoryOut(hint int) memoryOut {
	buf := fileBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	buf.Grow(hint)
	return memoryOut{buf}
}

func (o memoryOut) finish() (io.Reader, int64, error) { return o.Buffer, int64(o.Len()), nil }

func (o memoryOut) recycle() {
	if o.Cap() <= maxPooledFile {
		fileBuffers.Put(o.Buffer)
	}
}

// fileBuffers recycles the buffers files are encoded into, up to
// maxPooledFile bytes: a range file of imported objects of the average
// length is about 40 KB. Larger ones are left to the garbage collector, so
// that the pool does not keep buffers of the longest ranges a worker meets
// (a Writer with a spill file encodes those into it).
var fileBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledFile = 64 << 10

// withSlot runs f holding a token of slots (nil: no bound).
func withSlot(ctx context.Context, slots chan struct{}, f func() error) error {
	if slots != nil {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-slots }()
	}
	return f()
}

// newChunk returns an empty chunk for the encodings of a range's entries,
// with room for at least min bytes: a recycled one when one is at hand.
func (m *Manager) newChunk(min int) []byte {
	if min > pendingChunk {
		return make([]byte, 0, min)
	}
	if c, ok := m.chunks.Get().(*[]byte); ok {
		return (*c)[:0]
	}
	return make([]byte, 0, pendingChunk)
}

// release takes back the chunks of a range that is no longer needed, and
// frees its spill file for the next range. Chunks made larger for a long
// entry are left to the garbage collector.
func (m *Manager) release(p *pendingRange) {
	for _, c := range p.chunks {
		if cap(c) == pendingChunk {
			m.chunks.Put(&c)
		}
	}
	if p.spill != nil {
		p.spill.reset()
	}
}

// pendingChunk is the size of the chunks of pending ranges: a range of the
// default 1,024 entries of imported objects takes about 40 KiB pending.
const pendingChunk = 16 << 10

const parquetContentType = "application/vnd.apache.parquet"

func cloneRanges(r []RangeInfo) []RangeInfo {
	if r == nil {
		return []RangeInfo{}
	}
	out := make([]RangeInfo, len(r))
	copy(out, r)
	return out
}
