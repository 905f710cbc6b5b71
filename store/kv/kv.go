// Package kv defines the metadata key-value contract lakeq keeps refs,
// commits, staging and job state in, and helpers that work over any
// implementation.
//
// Keys live in partitions. A partition is the unit of ordering and atomicity:
// scans are ordered within one partition, and every operation touches exactly
// one. Implementations place a partition's keys together (the Redis
// implementation puts the partition in a hash tag, so one partition maps to
// one Cluster slot).
//
// Implementations: store/kv/redis (production) and store/kv/bolt (embedded,
// on disk, for `lakeq up`). Both pass the conformance suite in store/kv/kvtest.
package kv

import "context"

// Entry is one key and its value.
type Entry struct {
	Key   string
	Value []byte
}

// ScanOptions selects a page of an ordered scan.
type ScanOptions struct {
	// Prefix restricts the scan to keys that start with it; "" scans all.
	Prefix string
	// Start is the first key to return (inclusive); "" starts at Prefix.
	// Resuming after key k is Start = k + "\x00".
	Start string
	// Limit caps the page size; 0 means the implementation's default (1,000).
	Limit int
}

// DefaultScanLimit is the page size when ScanOptions.Limit is 0.
const DefaultScanLimit = 1000

// Store is the metadata key-value contract. Every method is safe for
// concurrent use. Values returned belong to the caller.
type Store interface {
	// Get returns the value of key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, partition, key string) ([]byte, error)
	// Set stores value under key unconditionally.
	Set(ctx context.Context, partition, key string, value []byte) error
	// SetIf stores value under key only if the current value equals pred
	// byte for byte; pred == nil means "only if key is absent". It returns
	// an error wrapping ErrPredicateFailed when the condition does not hold,
	// and then writes nothing.
	SetIf(ctx context.Context, partition, key string, value, pred []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, partition, key string) error
	// DeleteIf removes key only if its current value equals pred; it returns
	// an error wrapping ErrPredicateFailed otherwise (also when absent).
	DeleteIf(ctx context.Context, partition, key string, pred []byte) error
	// Scan returns up to opts.Limit entries of partition in ascending byte
	// order of key. A page shorter than the limit is the last one.
	Scan(ctx context.Context, partition string, opts ScanOptions) ([]Entry, error)
	// Incr atomically adds delta to the integer counter at key (absent
	// counts as 0) and returns the new value. Counters are separate from
	// Get/Set values: a key is used either as a counter or as a value.
	Incr(ctx context.Context, partition, key string, delta int64) (int64, error)
	// DropPartition removes every key of partition.
	DropPartition(ctx context.Context, partition string) error
	// Close releases the store's resources.
	Close() error
}
