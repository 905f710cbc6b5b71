package kvtest

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/lakeq/lakeq/store/kv"
)

// Bench runs the kv.Store benchmarks (Get, Set, SetIf, Scan of a 100-entry
// page, Incr) against the stores newStore returns; newStore is called once
// per sub-benchmark and the store is closed when it ends.
func Bench(b *testing.B, newStore func(b *testing.B) kv.Store) {
	ctx := context.Background()
	open := func(b *testing.B) kv.Store {
		b.Helper()
		s := newStore(b)
		b.Cleanup(func() { _ = s.Close() })
		return s
	}
	value := make([]byte, 256)
	b.Run("Get", func(b *testing.B) {
		s := open(b)
		if err := s.Set(ctx, "bench", "key", value); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(value)))
		for b.Loop() {
			if _, err := s.Get(ctx, "bench", "key"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set", func(b *testing.B) {
		s := open(b)
		b.SetBytes(int64(len(value)))
		i := 0
		for b.Loop() {
			i++
			if err := s.Set(ctx, "bench", "key/"+strconv.Itoa(i%1000), value); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SetIf", func(b *testing.B) {
		s := open(b)
		cur := []byte("0")
		if err := s.Set(ctx, "bench", "cas", cur); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			next := []byte(strconv.Itoa(i))
			if err := s.SetIf(ctx, "bench", "cas", next, cur); err != nil {
				b.Fatal(err)
			}
			cur = next
		}
	})
	b.Run("ScanPage100", func(b *testing.B) {
		s := open(b)
		for i := range 1000 {
			if err := s.Set(ctx, "bench", fmt.Sprintf("k/%04d", i), value); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(100 * len(value)))
		i := 0
		for b.Loop() {
			i++
			start := fmt.Sprintf("k/%04d", (i*100)%900)
			page, err := s.Scan(ctx, "bench", kv.ScanOptions{Prefix: "k/", Start: start, Limit: 100})
			if err != nil || len(page) != 100 {
				b.Fatalf("Scan: %d entries, %v", len(page), err)
			}
		}
	})
	b.Run("Incr", func(b *testing.B) {
		s := open(b)
		for b.Loop() {
			if _, err := s.Incr(ctx, "bench", "n", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}
