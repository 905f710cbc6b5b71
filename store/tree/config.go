package tree

import "fmt"

// Defaults of Config.
const (
	DefaultTargetEntries    = 1024
	DefaultMaxBytes         = 16 << 20
	DefaultCacheRanges      = 1024
	DefaultCacheBytes       = 64 << 20
	DefaultKnownIDs         = 1 << 16
	DefaultWriteConcurrency = 4
)

// Config tunes a Manager. The zero value is usable: every zero field takes
// its default.
type Config struct {
	// TargetEntries is the mean number of entries of a range: a range ends
	// after a key whose path hash is a multiple of TargetEntries. Default
	// 1,024.
	TargetEntries int
	// MaxEntries forces a range boundary once a range holds this many
	// entries. Default 8 × TargetEntries.
	MaxEntries int
	// MaxBytes forces a range boundary once the canonical encoding of a
	// range's entries reaches this many bytes. Default 16 MiB.
	MaxBytes int64
	// CacheRanges is how many decoded ranges and metaranges the Manager
	// keeps in its LRU cache. Default 1,024.
	CacheRanges int
	// CacheBytes bounds the memory of the cache too: the decoded files'
	// strings and structs. A file larger than this is not cached. Default
	// 64 MiB.
	CacheBytes int64
	// KnownIDs is how many range and metarange files the Manager remembers
	// as already stored, so that writing them again costs no Stat. Default
	// 65,536.
	KnownIDs int
	// WriteConcurrency is how many range files one Writer encodes and
	// uploads at the same time. Default 4.
	WriteConcurrency int
	// ManagerEncodes, when positive, is how many range files all the
	// Writers of the Manager encode at the same time: a range being
	// encoded is held twice (pending, and as Parquet pages), and encoding
	// takes CPU only, so more encodes than cores buy nothing.
	// Default 0: only WriteConcurrency bounds them.
	ManagerEncodes int
	// ManagerUploads, when positive, is how many encoded range files all
	// the Writers of the Manager upload at the same time; an upload holds
	// only the file's bytes. Default 0: only WriteConcurrency bounds them.
	ManagerUploads int
	// SyncWrites makes a Writer upload each range before the Add that cut
	// it returns, instead of alongside the Adds that follow: a Writer then
	// holds one range at a time. For many Writers at once, whose memory
	// matters more than each one's speed.
	SyncWrites bool
	// SpillDir, with SyncWrites, makes a Writer keep in memory only the
	// chunk of its pending range it is filling, about 16 KiB, and write
	// the chunks it has filled to an unnamed file in this directory,
	// read back when the range is encoded; a range file of more than
	// 64 KiB is encoded into the same file and uploaded from it. The
	// Writer's memory is then the same however long its ranges, at the
	// cost of writing and reading about 40 bytes per entry, and the
	// file's bytes again for a long range. Default "": pending ranges and
	// range files are held in memory.
	SpillDir string
}

// Validate reports whether c (after defaults) is usable.
func (c Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.TargetEntries < 1:
		return fmt.Errorf("%w: tree TargetEntries %d: must be positive", errInvalidConfig, c.TargetEntries)
	case d.MaxEntries < 1:
		return fmt.Errorf("%w: tree MaxEntries %d: must be positive", errInvalidConfig, c.MaxEntries)
	case d.MaxBytes < 1:
		return fmt.Errorf("%w: tree MaxBytes %d: must be positive", errInvalidConfig, c.MaxBytes)
	case d.CacheRanges < 1:
		return fmt.Errorf("%w: tree CacheRanges %d: must be positive", errInvalidConfig, c.CacheRanges)
	case d.CacheBytes < 1:
		return fmt.Errorf("%w: tree CacheBytes %d: must be positive", errInvalidConfig, c.CacheBytes)
	case d.KnownIDs < 1:
		return fmt.Errorf("%w: tree KnownIDs %d: must be positive", errInvalidConfig, c.KnownIDs)
	case d.WriteConcurrency < 1:
		return fmt.Errorf("%w: tree WriteConcurrency %d: must be positive", errInvalidConfig, c.WriteConcurrency)
	case d.ManagerEncodes < 0:
		return fmt.Errorf("%w: tree ManagerEncodes %d: must not be negative", errInvalidConfig, c.ManagerEncodes)
	case d.ManagerUploads < 0:
		return fmt.Errorf("%w: tree ManagerUploads %d: must not be negative", errInvalidConfig, c.ManagerUploads)
	case d.SpillDir != "" && !d.SyncWrites:
		return fmt.Errorf("%w: tree SpillDir needs SyncWrites: a Writer spills one range at a time", errInvalidConfig)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.TargetEntries == 0 {
		c.TargetEntries = DefaultTargetEntries
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = 8 * c.TargetEntries
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.CacheRanges == 0 {
		c.CacheRanges = DefaultCacheRanges
	}
	if c.CacheBytes == 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.KnownIDs == 0 {
		c.KnownIDs = DefaultKnownIDs
	}
	if c.WriteConcurrency == 0 {
		c.WriteConcurrency = DefaultWriteConcurrency
	}
	return c
}
