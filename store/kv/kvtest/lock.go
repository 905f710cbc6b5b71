package kvtest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/kv"
)

// testLockExclusive: sections under kv.Lock never overlap. Each adds one
// to a counter by a plain Get and Set, which overlapping sections would
// lose updates of, and notes that it is inside, which an overlap would
// find taken.
func testLockExclusive(t *testing.T, s kv.Store) {
	ctx := context.Background()
	mustSet(t, s, "p", "counter", []byte("0"))
	incrementConcurrently(t, s, func(int) error {
		release, err := kv.Lock(ctx, s, "locks", "l", time.Minute)
		if err != nil {
			return err
		}
		defer release()
		if err := s.SetIf(ctx, "p", "inside", []byte("x"), nil); err != nil {
			return errors.New("two sections under the lock at once")
		}
		raw, err := s.Get(ctx, "p", "counter")
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(raw))
		return errors.Join(s.Set(ctx, "p", "counter", []byte(strconv.Itoa(n+1))), s.Delete(ctx, "p", "inside"))
	})
	if _, err := s.Get(ctx, "locks", "l"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("the lock after every release: %v, want it absent", err)
	}
}

// testLockLease: a lock whose holder keeps it past its lease is taken by
// the next taker, whose lock the late holder's release leaves alone; a
// taker waiting on a live lease gives up with its context.
func testLockLease(t *testing.T, s kv.Store) {
	ctx := context.Background()
	late, err := kv.Lock(ctx, s, "locks", "l", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	next, err := kv.Lock(ctx, s, "locks", "l", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Fatalf("took a held lock after %v, before its lease ran out", waited)
	}
	late() // past its lease: must not release the next holder's lock
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := kv.Lock(wctx, s, "locks", "l", time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while another holds a live lease: %v, want %v", err, context.DeadlineExceeded)
	}
	next()
	again, err := kv.Lock(ctx, s, "locks", "l", time.Minute)
	if err != nil {
		t.Fatalf("Lock after the release: %v", err)
	}
	again()
}
