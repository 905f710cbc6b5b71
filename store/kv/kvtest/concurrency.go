package kvtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

const (
	workers      = 8
	perWorker    = 25
	maxCASRounds = 100_000 // per worker: far beyond any fair schedule
)

// setConcurrently stores every key (value: "v:" + key) from several
// goroutines.
func setConcurrently(t *testing.T, s kv.Store, partition string, keys []string) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(workers)
	for _, k := range keys {
		g.Go(func() error {
			return s.Set(context.Background(), partition, k, []byte("v:"+k))
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// casIncrement adds one to the decimal counter stored at key by a
// read-modify-write loop over SetIf, retrying when another writer wins.
// It returns how many attempts lost the race.
func casIncrement(ctx context.Context, s kv.Store, partition, key string) (lost int, err error) {
	for range maxCASRounds {
		cur, err := s.Get(ctx, partition, key)
		var pred []byte
		n := 0
		switch {
		case errors.Is(err, kv.ErrNotFound):
			// pred stays nil: insert only if still absent.
		case err != nil:
			return lost, err
		default:
			pred = cur
			if n, err = strconv.Atoi(string(cur)); err != nil {
				return lost, fmt.Errorf("counter value %q: %w", cur, err)
			}
		}
		err = s.SetIf(ctx, partition, key, []byte(strconv.Itoa(n+1)), pred)
		if err == nil {
			return lost, nil
		}
		if !errors.Is(err, kv.ErrPredicateFailed) {
			return lost, err
		}
		lost++
	}
	return lost, fmt.Errorf("no CAS success in %d rounds", maxCASRounds)
}

// incrementConcurrently runs inc perWorker times in each of workers
// goroutines (w is the goroutine's number), each call adding one to the
// counter at p/counter, and checks that the counter ends at their number.
func incrementConcurrently(t *testing.T, s kv.Store, inc func(w int) error) {
	t.Helper()
	var g errgroup.Group
	for w := range workers {
		g.Go(func() error {
			for range perWorker {
				if err := inc(w); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "p", "counter", []byte(strconv.Itoa(workers*perWorker)))
}

func testSetIfConcurrent(t *testing.T, s kv.Store) {
	ctx := context.Background()
	lost := make([]int, workers)
	incrementConcurrently(t, s, func(w int) error {
		l, err := casIncrement(ctx, s, "p", "counter")
		lost[w] += l
		return err
	})
	total := 0
	for _, l := range lost {
		total += l
	}
	t.Logf("%d CAS increments, %d lost races retried", workers*perWorker, total)
}

func testIncrConcurrent(t *testing.T, s kv.Store) {
	ctx := context.Background()
	var g errgroup.Group
	seen := make([][]int64, workers)
	for w := range workers {
		g.Go(func() error {
			for range perWorker {
				n, err := s.Incr(ctx, "p", "n", 2)
				if err != nil {
					return err
				}
				seen[w] = append(seen[w], n)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	want := int64(2 * workers * perWorker)
	if n, err := s.Incr(ctx, "p", "n", 0); err != nil || n != want {
		t.Fatalf("counter = %d, %v; want %d", n, err, want)
	}
	// Every increment returned a distinct value: none was lost or doubled.
	distinct := map[int64]bool{}
	for _, vals := range seen {
		for _, v := range vals {
			if distinct[v] {
				t.Fatalf("two increments both returned %d", v)
			}
			distinct[v] = true
		}
	}
	if n, err := s.Incr(ctx, "p", "n", -want-3); err != nil || n != -3 {
		t.Fatalf("Incr by %d = %d, %v; want -3", -want-3, n, err)
	}
	if n, err := s.Incr(ctx, "p", "fresh", -1); err != nil || n != -1 {
		t.Fatalf("Incr of absent counter by -1 = %d, %v; want -1", n, err)
	}
}

func testIncrOverflow(t *testing.T, s kv.Store) {
	ctx := context.Background()
	tests := []struct {
		name         string
		start, delta int64
	}{
		{"Up", math.MaxInt64 - 1, 2},
		{"Down", math.MinInt64 + 1, -2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := s.Incr(ctx, "p", tc.name, tc.start); err != nil || n != tc.start {
				t.Fatalf("Incr(%d) = %d, %v", tc.start, n, err)
			}
			_, err := s.Incr(ctx, "p", tc.name, tc.delta)
			wantErr(t, "overflowing Incr", err, store.ErrInvalid)
			if n, err := s.Incr(ctx, "p", tc.name, 0); err != nil || n != tc.start {
				t.Fatalf("counter after failed Incr = %d, %v; want %d", n, err, tc.start)
			}
		})
	}
}

func testCountersApartFromValues(t *testing.T, s kv.Store) {
	ctx := context.Background()
	if _, err := s.Incr(ctx, "p", "counter", 3); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, "p", "counter")
	if got := scanAll(t, s, "p", ""); len(got) != 0 {
		t.Fatalf("scan lists counters: %q", keysOf(got))
	}
	mustSet(t, s, "p", "value", []byte("v"))
	if n, err := s.Incr(ctx, "p", "counter", 0); err != nil || n != 3 {
		t.Fatalf("counter after an unrelated Set = %d, %v; want 3", n, err)
	}
	if got := keysOf(scanAll(t, s, "p", "")); len(got) != 1 || got[0] != "value" {
		t.Fatalf("scan = %q, want [value]", got)
	}
}
