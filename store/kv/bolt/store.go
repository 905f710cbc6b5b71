package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

var _ kv.Store = (*Store)(nil)

// Names of the top-level buckets and of the format record.
var (
	valuesBucket   = []byte("values")
	countersBucket = []byte("counters")
	metaBucket     = []byte("meta")
	formatKey      = []byte("format")
	formatVersion  = []byte("1")
)

// Defaults applied to a zero Options.
const (
	// DefaultLockTimeout is how long Open waits for the file lock.
	DefaultLockTimeout = time.Second
	// DefaultFileMode is the mode of a newly created database file.
	DefaultFileMode os.FileMode = 0o600
)

// ctxCheckEvery is how many scanned entries pass between context checks.
const ctxCheckEvery = 256

// Options configure Open. The zero value is the production setting.
type Options struct {
	// LockTimeout bounds the wait for the exclusive file lock when another
	// Store holds the file; Open then fails with ErrLocked. Default
	// DefaultLockTimeout (1s).
	LockTimeout time.Duration
	// NoSync skips the fsync after each write transaction. Writes are then
	// faster, but an operating system crash or power loss can lose them or
	// corrupt the file: use it for tests and throw-away data only. Default
	// false.
	NoSync bool
	// FileMode is the permission of a newly created database file. Default
	// DefaultFileMode (0600).
	FileMode os.FileMode
}

// Store is a kv.Store in one bbolt file. It is safe for concurrent use:
// reads run in parallel, writes one at a time.
type Store struct {
	db     *bbolt.DB
	closed atomic.Bool
}

// Open opens the database file at path, creating it (and its directory)
// if needed. It fails with an error wrapping ErrLocked when another Store
// holds the file for longer than opts.LockTimeout.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.FileMode == 0 {
		opts.FileMode = DefaultFileMode
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open kv database %s: %w", path, err)
	}
	db, err := bbolt.Open(path, opts.FileMode, &bbolt.Options{
		Timeout:        opts.LockTimeout,
		NoSync:         opts.NoSync,
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open kv database %s: %w (waited %s; is another lakeq using this data directory?)",
			path, ErrLocked, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open kv database %s: %w", path, err)
	}
	if err := db.Update(initLayout); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open kv database %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// initLayout creates the top-level buckets of a new file and checks the
// format version of an existing one.
func initLayout(tx *bbolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return err
	}
	switch v := meta.Get(formatKey); {
	case v == nil:
		if err := meta.Put(formatKey, formatVersion); err != nil {
			return err
		}
	case !bytes.Equal(v, formatVersion):
		return fmt.Errorf("%w: format version %q, this lakeq reads %q", ErrCorrupt, v, formatVersion)
	}
	for _, name := range [][]byte{valuesBucket, countersBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Get returns a copy of the value of key in partition, or an error
// wrapping kv.ErrNotFound.
func (s *Store) Get(ctx context.Context, partition, key string) ([]byte, error) {
	if err := s.check(ctx, partition, key); err != nil {
		return nil, opError("get", partition, key, err)
	}
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := lookup(tx, valuesBucket, partition, key)
		if v == nil {
			return kv.ErrNotFound
		}
		out = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, opError("get", partition, key, translate(err))
	}
	return out, nil
}

// Set stores value under key in partition.
func (s *Store) Set(ctx context.Context, partition, key string, value []byte) error {
	if err := s.check(ctx, partition, key); err != nil {
		return opError("set", partition, key, err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return put(tx, valuesBucket, partition, key, value)
	})
	if err != nil {
		return opError("set", partition, key, translate(err))
	}
	return nil
}

// SetIf stores value under key if the current value equals pred, or, with
// pred == nil, if key is absent; otherwise it returns an error wrapping
// kv.ErrPredicateFailed and writes nothing. Read and write happen in one
// serializable transaction.
func (s *Store) SetIf(ctx context.Context, partition, key string, value, pred []byte) error {
	if err := s.check(ctx, partition, key); err != nil {
		return opError("set-if", partition, key, err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		cur := lookup(tx, valuesBucket, partition, key)
		if pred == nil && cur != nil || pred != nil && (cur == nil || !bytes.Equal(cur, pred)) {
			return kv.ErrPredicateFailed
		}
		return put(tx, valuesBucket, partition, key, value)
	})
	if err != nil {
		return opError("set-if", partition, key, translate(err))
	}
	return nil
}

// Delete removes key from partition; an absent key is not an error.
func (s *Store) Delete(ctx context.Context, partition, key string) error {
	if err := s.check(ctx, partition, key); err != nil {
		return opError("delete", partition, key, err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(valuesBucket).Bucket([]byte(partition))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(key))
	})
	if err != nil {
		return opError("delete", partition, key, translate(err))
	}
	return nil
}

// DeleteIf removes key if its current value equals pred; otherwise (also
// when key is absent) it returns an error wrapping kv.ErrPredicateFailed.
func (s *Store) DeleteIf(ctx context.Context, partition, key string, pred []byte) error {
	if err := s.check(ctx, partition, key); err != nil {
		return opError("delete-if", partition, key, err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		cur := lookup(tx, valuesBucket, partition, key)
		if cur == nil || !bytes.Equal(cur, pred) {
			return kv.ErrPredicateFailed
		}
		return tx.Bucket(valuesBucket).Bucket([]byte(partition)).Delete([]byte(key))
	})
	if err != nil {
		return opError("delete-if", partition, key, translate(err))
	}
	return nil
}

// Scan returns up to opts.Limit entries of partition in ascending byte
// order of key, read from one consistent snapshot.
func (s *Store) Scan(ctx context.Context, partition string, opts kv.ScanOptions) ([]kv.Entry, error) {
	limit, err := scanLimit(opts.Limit)
	if err == nil {
		err = s.check(ctx, partition, "-")
	}
	if err != nil {
		return nil, fmt.Errorf("bolt kv scan %q: %w", partition, err)
	}
	start := opts.Start
	if start < opts.Prefix {
		start = opts.Prefix
	}
	prefix := []byte(opts.Prefix)
	var out []kv.Entry
	err = s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(valuesBucket).Bucket([]byte(partition))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte(start)); k != nil && len(out) < limit; k, v = c.Next() {
			if !bytes.HasPrefix(k, prefix) {
				break
			}
			if len(out)%ctxCheckEvery == ctxCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			out = append(out, kv.Entry{Key: string(k), Value: bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bolt kv scan %q: %w", partition, translate(err))
	}
	return out, nil
}

// Incr adds delta to the counter at key in partition (absent counts as 0)
// and returns the new value. An addition that would overflow int64 fails
// with an error wrapping store.ErrInvalidValue and changes nothing.
func (s *Store) Incr(ctx context.Context, partition, key string, delta int64) (int64, error) {
	if err := s.check(ctx, partition, key); err != nil {
		return 0, opError("incr", partition, key, err)
	}
	var n int64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		var cur int64
		if v := lookup(tx, countersBucket, partition, key); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("%w: counter of %d bytes", ErrCorrupt, len(v))
			}
			cur = int64(binary.BigEndian.Uint64(v))
		}
		if delta > 0 && cur > math.MaxInt64-delta || delta < 0 && cur < math.MinInt64-delta {
			return fmt.Errorf("%w: counter %d + %d overflows int64", store.ErrInvalidValue, cur, delta)
		}
		n = cur + delta
		return put(tx, countersBucket, partition, key, binary.BigEndian.AppendUint64(nil, uint64(n)))
	})
	if err != nil {
		return 0, opError("incr", partition, key, translate(err))
	}
	return n, nil
}

// DropPartition removes every value and counter of partition.
func (s *Store) DropPartition(ctx context.Context, partition string) error {
	if err := s.check(ctx, partition, "-"); err != nil {
		return fmt.Errorf("bolt kv drop partition %q: %w", partition, err)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, root := range [][]byte{valuesBucket, countersBucket} {
			err := tx.Bucket(root).DeleteBucket([]byte(partition))
			if err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt kv drop partition %q: %w", partition, translate(err))
	}
	return nil
}

// Close waits for running transactions, closes the file and releases its
// lock. Later calls fail with kv.ErrClosed; closing twice is a no-op.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt kv close: %w", err)
	}
	return nil
}

// check rejects empty or oversized names, a closed store and a finished
// context before any transaction starts.
func (s *Store) check(ctx context.Context, partition, key string) error {
	if partition == "" || key == "" {
		return kv.ErrInvalidKey
	}
	if len(partition) > bbolt.MaxKeySize || len(key) > bbolt.MaxKeySize {
		return fmt.Errorf("%w: longer than %d bytes", kv.ErrInvalidKey, bbolt.MaxKeySize)
	}
	if s.closed.Load() {
		return kv.ErrClosed
	}
	return ctx.Err()
}

// lookup returns the value of key in partition under root, or nil. The
// slice points into the memory map: valid only inside tx.
func lookup(tx *bbolt.Tx, root []byte, partition, key string) []byte {
	b := tx.Bucket(root).Bucket([]byte(partition))
	if b == nil {
		return nil
	}
	return b.Get([]byte(key))
}

// put stores value under key in partition under root, creating the
// partition's bucket if needed. A nil value is stored as empty, so that it
// reads back as present.
func put(tx *bbolt.Tx, root []byte, partition, key string, value []byte) error {
	b, err := tx.Bucket(root).CreateBucketIfNotExists([]byte(partition))
	if err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	if err := b.Put([]byte(key), value); err != nil {
		if errors.Is(err, berrors.ErrValueTooLarge) {
			return fmt.Errorf("%w: %w", store.ErrInvalidValue, err)
		}
		return err
	}
	return nil
}

// translate maps bbolt's closed-database error to kv.ErrClosed.
func translate(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) || errors.Is(err, berrors.ErrTxClosed) {
		return fmt.Errorf("%w: %w", kv.ErrClosed, err)
	}
	return err
}

// opError wraps err with the operation and the key it concerned.
func opError(op, partition, key string, err error) error {
	return fmt.Errorf("bolt kv %s %q/%q: %w", op, partition, key, err)
}

// scanLimit returns the page size for limit: 0 means kv.DefaultScanLimit.
func scanLimit(limit int) (int, error) {
	switch {
	case limit == 0:
		return kv.DefaultScanLimit, nil
	case limit < 0:
		return 0, fmt.Errorf("%w: negative scan limit %d", store.ErrInvalid, limit)
	}
	return limit, nil
}
