package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

var (
	_ kv.Store  = (*Store)(nil)
	_ kv.Leaser = (*Store)(nil)
)

// Store is a kv.Store on Redis. It is safe for concurrent use.
type Store struct {
	client goredis.UniversalClient
	prefix string
	owned  bool // Close closes client
	closed atomic.Bool
}

// New connects to the Redis that cfg names and checks it answers PING
// within ctx. The returned Store owns its client: Close disconnects.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := cfg.newClient()
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis kv: ping: %w", err)
	}
	return &Store{client: client, prefix: cfg.KeyPrefix, owned: true}, nil
}

// NewFromClient returns a Store that keeps its keys under prefix (""
// selects DefaultKeyPrefix) in client. The caller keeps ownership of
// client: Close does not close it. For context deadlines to bound calls,
// client should have ContextTimeoutEnabled set.
func NewFromClient(client goredis.UniversalClient, prefix string) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidConfig)
	}
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	return &Store{client: client, prefix: prefix}, nil
}

// Get returns the value of key in partition, or an error wrapping
// kv.ErrNotFound.
func (s *Store) Get(ctx context.Context, partition, key string) ([]byte, error) {
	if err := s.check(ctx, partition, key); err != nil {
		return nil, opError("get", partition, key, err)
	}
	k := partitionKeys(s.prefix, partition)
	v, err := s.client.HGet(ctx, k.values, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, opError("get", partition, key, kv.ErrNotFound)
	}
	if err != nil {
		return nil, opError("get", partition, key, s.translate(ctx, err))
	}
	return v, nil
}

// Set stores value under key in partition.
func (s *Store) Set(ctx context.Context, partition, key string, value []byte) error {
	if err := s.check(ctx, partition, key); err != nil {
		return opError("set", partition, key, err)
	}
	k := partitionKeys(s.prefix, partition)
	if err := setScript.Run(ctx, s.client, []string{k.values, k.index}, key, nonNil(value)).Err(); err != nil {
		return opError("set", partition, key, s.translate(ctx, err))
	}
	return nil
}

// SetIf stores value under key if the current value equals pred, or, with
// pred == nil, if key is absent; otherwise it returns an error wrapping
// kv.ErrPredicateFailed and writes nothing.
func (s *Store) SetIf(ctx context.Context, partition, key string, value, pred []byte) error {
	if err := s.check(ctx, partition, key); err != nil {
		return opError("set-if", partition, key, err)
	}
	k := partitionKeys(s.prefix, partition)
	mode := "1"
	if pred == nil {
		mode = "0"
	}
	ok, err := setIfScript.Run(ctx, s.client, []string{k.values, k.index},
		key, nonNil(value), nonNil(pred), mode).Int()
	if err != nil {
		return opError("set-if", partition, key, s.translate(ctx, err))
	}
	if ok != 1 {
		return opError("set-if", partition, key, kv.ErrPredicateFailed)
	}
	return nil
}

// Lease stores a lease of token for ttl under key when the key is absent
// or holds a lease that has run out by the Redis server's clock, and
// returns the value it stored, or nil while a live lease holds the key
// (kv.Leaser). Every process sharing the server shares its clock.
func (s *Store) Lease(ctx context.Context, partition, key, token string, ttl time.Duration) ([]byte, error) {
	if err := s.check(ctx, partition, key); err != nil {
		return nil, opError("lease", partition, key, err)
	}
	k := partitionKeys(s.prefix, partition)
	v, err := leaseScript.Run(ctx, s.client, []string{k.values, k.index}, key, token, strconv.FormatInt(ttl.Nanoseconds(), 10)).Text()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, nil
	case err != nil:
		return nil, opError("lease", partition, key, s.translate(ctx, err))
	}
	return []byte(v), nil
}

// Delete removes key from partition; an absent key is not an error.
func (s *Store) Delete(ctx context.Context, partition, key string) error {
	if err := s.check(ctx, partition, key); err != nil {
		return opError("delete", partition, key, err)
	}
	k := partitionKeys(s.prefix, partition)
	if err := deleteScript.Run(ctx, s.client, []string{k.values, k.index}, key).Err(); err != nil {
		return opError("delete", partition, key, s.translate(ctx, err))
	}
	return nil
}

// DeleteIf removes key if its current value equals pred; otherwise (also
// when key is absent) it returns an error wrapping kv.ErrPredicateFailed.
func (s *Store) DeleteIf(ctx context.Context, partition, key string, pred []byte) error {
	if err := s.check(ctx, partition, key); err != nil {
		return opError("delete-if", partition, key, err)
	}
	k := partitionKeys(s.prefix, partition)
	ok, err := deleteIfScript.Run(ctx, s.client, []string{k.values, k.index}, key, nonNil(pred)).Int()
	if err != nil {
		return opError("delete-if", partition, key, s.translate(ctx, err))
	}
	if ok != 1 {
		return opError("delete-if", partition, key, kv.ErrPredicateFailed)
	}
	return nil
}

// Scan returns up to opts.Limit entries of partition in ascending byte
// order of key, with their values, in one round trip.
func (s *Store) Scan(ctx context.Context, partition string, opts kv.ScanOptions) ([]kv.Entry, error) {
	limit, err := scanLimit(opts.Limit)
	if err == nil {
		err = s.check(ctx, partition, "-")
	}
	if err != nil {
		return nil, fmt.Errorf("redis kv scan %q: %w", partition, err)
	}
	k := partitionKeys(s.prefix, partition)
	lower, upper := lexRange(opts.Prefix, opts.Start)
	res, err := scanScript.Run(ctx, s.client, []string{k.values, k.index}, lower, upper, limit).Slice()
	if err != nil {
		return nil, fmt.Errorf("redis kv scan %q: %w", partition, s.translate(ctx, err))
	}
	entries := make([]kv.Entry, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		key, ok1 := res[i].(string)
		val, ok2 := res[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("redis kv scan %q: unexpected reply element types %T, %T", partition, res[i], res[i+1])
		}
		entries = append(entries, kv.Entry{Key: key, Value: []byte(val)})
	}
	return entries, nil
}

// Incr adds delta to the counter at key in partition (absent counts as 0)
// and returns the new value. An addition that would overflow int64 fails
// with an error wrapping store.ErrInvalidValue and changes nothing.
func (s *Store) Incr(ctx context.Context, partition, key string, delta int64) (int64, error) {
	if err := s.check(ctx, partition, key); err != nil {
		return 0, opError("incr", partition, key, err)
	}
	k := partitionKeys(s.prefix, partition)
	n, err := s.client.HIncrBy(ctx, k.counters, key, delta).Result()
	if err != nil {
		var rerr goredis.Error
		if errors.As(err, &rerr) && strings.Contains(rerr.Error(), "overflow") {
			// Redis reports "ERR increment or decrement would overflow".
			err = fmt.Errorf("%w: %w", store.ErrInvalidValue, err)
		}
		return 0, opError("incr", partition, key, s.translate(ctx, err))
	}
	return n, nil
}

// DropPartition removes every value and counter of partition.
func (s *Store) DropPartition(ctx context.Context, partition string) error {
	if err := s.check(ctx, partition, "-"); err != nil {
		return fmt.Errorf("redis kv drop partition %q: %w", partition, err)
	}
	k := partitionKeys(s.prefix, partition)
	if err := s.client.Unlink(ctx, k.values, k.index, k.counters).Err(); err != nil {
		return fmt.Errorf("redis kv drop partition %q: %w", partition, s.translate(ctx, err))
	}
	return nil
}

// Close marks the store closed, so that later calls fail with kv.ErrClosed,
// and closes the client if New created it. Closing twice is a no-op.
func (s *Store) Close() error {
	if s.closed.Swap(true) || !s.owned {
		return nil
	}
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("redis kv close: %w", err)
	}
	return nil
}

// check rejects empty names, a closed store and a finished context before
// any I/O.
func (s *Store) check(ctx context.Context, partition, key string) error {
	if partition == "" || key == "" {
		return kv.ErrInvalidKey
	}
	if s.closed.Load() {
		return kv.ErrClosed
	}
	return ctx.Err()
}

// translate maps go-redis's closed-client error to kv.ErrClosed and makes
// sure an error caused by ctx ending wraps ctx's error.
func (s *Store) translate(ctx context.Context, err error) error {
	if errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("%w: %w", kv.ErrClosed, err)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// opError wraps err with the operation and the key it concerned.
func opError(op, partition, key string, err error) error {
	return fmt.Errorf("redis kv %s %q/%q: %w", op, partition, key, err)
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

// nonNil returns b, or an empty slice for nil, so that go-redis sends an
// empty string.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
