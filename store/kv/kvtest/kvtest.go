// Package kvtest is the conformance suite for kv.Store implementations.
// Every implementation's tests call Run, so that all of them keep the same
// promises: byte-ordered scans, atomic compare-and-swap, separate counters,
// isolated partitions, copied values, and the kv error sentinels.
//
// Two behaviours the kv.Store comments leave open are pinned here so that
// both implementations agree: a negative ScanOptions.Limit fails with an
// error wrapping store.ErrInvalid, and an Incr that would overflow int64
// fails with an error wrapping store.ErrInvalid and leaves the counter as
// it was.
package kvtest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/lakeq/lakeq/store/kv"
)

// Run runs the conformance suite. newStore must return a fresh, empty store
// for the subtest t; the suite closes it when t ends. Subtests run in
// parallel, so newStore may be called concurrently.
func Run(t *testing.T, newStore func(t *testing.T) kv.Store) {
	t.Helper()
	open := func(t *testing.T) kv.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil && !errors.Is(err, kv.ErrClosed) {
				t.Errorf("close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s kv.Store)
	}{
		{"GetMissing", testGetMissing},
		{"SetGet", testSetGet},
		{"SetIfAbsent", testSetIfAbsent},
		{"SetIfPredicate", testSetIfPredicate},
		{"SetIfConcurrent", testSetIfConcurrent},
		{"Delete", testDelete},
		{"DeleteIf", testDeleteIf},
		{"ScanOrderPrefixStartLimit", testScanOrderPrefixStartLimit},
		{"ScanBinaryKeys", testScanBinaryKeys},
		{"ScanPaging", testScanPaging},
		{"ScanDefaultLimit", testScanDefaultLimit},
		{"ScanNegativeLimit", testScanNegativeLimit},
		{"IncrConcurrent", testIncrConcurrent},
		{"IncrOverflow", testIncrOverflow},
		{"CountersApartFromValues", testCountersApartFromValues},
		{"DropPartition", testDropPartition},
		{"PartitionsIsolated", testPartitionsIsolated},
		{"ValuesCopied", testValuesCopied},
		{"CanceledContext", testCanceledContext},
		{"EmptyKeyRejected", testEmptyKeyRejected},
		{"LockExclusive", testLockExclusive},
		{"LockLease", testLockLease},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t))
		})
	}
	t.Run("Closed", func(t *testing.T) {
		t.Parallel()
		testClosed(t, newStore(t))
	})
}

// mustSet stores value or fails t.
func mustSet(t *testing.T, s kv.Store, partition, key string, value []byte) {
	t.Helper()
	if err := s.Set(context.Background(), partition, key, value); err != nil {
		t.Fatalf("Set(%q, %q): %v", partition, key, err)
	}
}

// wantValue fails t unless key holds want.
func wantValue(t *testing.T, s kv.Store, partition, key string, want []byte) {
	t.Helper()
	got, err := s.Get(context.Background(), partition, key)
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", partition, key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q, %q) = %q, want %q", partition, key, got, want)
	}
}

// wantMissing fails t unless key is absent.
func wantMissing(t *testing.T, s kv.Store, partition, key string) {
	t.Helper()
	got, err := s.Get(context.Background(), partition, key)
	if !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("Get(%q, %q) = %q, %v; want error wrapping kv.ErrNotFound", partition, key, got, err)
	}
}

// wantErr fails t unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one wrapping %v", what, err, target)
	}
}

// scanAll returns every entry of partition with prefix, through kv.Scan.
func scanAll(t *testing.T, s kv.Store, partition, prefix string) []kv.Entry {
	t.Helper()
	var out []kv.Entry
	it := kv.Scan(context.Background(), s, partition, prefix, "", 0)
	for it.Next() {
		out = append(out, it.Entry())
	}
	if err := it.Err(); err != nil {
		t.Fatalf("scan %q prefix %q: %v", partition, prefix, err)
	}
	return out
}

// keysOf returns the keys of entries.
func keysOf(entries []kv.Entry) []string {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	return keys
}
