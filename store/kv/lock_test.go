package kv_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/kv"
)

// leaser is a store that only takes leases: the key is held for the first
// two tries. Any other method but DeleteIf panics (a nil kv.Store).
type leaser struct {
	kv.Store
	tries    int
	released []byte
}

func (l *leaser) Lease(_ context.Context, partition, key, token string, ttl time.Duration) ([]byte, error) {
	l.tries++
	if l.tries <= 2 {
		return nil, nil
	}
	return []byte(token + " 42"), nil
}

func (l *leaser) DeleteIf(_ context.Context, partition, key string, pred []byte) error {
	l.released = pred
	return nil
}

// TestLockTakesLeasesFromLeaser: on a store that keeps leases by its own
// clock, Lock waits while the key is held, takes the lease the store
// stores, and releases exactly that value. It never reads or writes the
// key itself, nor the time.
func TestLockTakesLeasesFromLeaser(t *testing.T) {
	s := &leaser{}
	release, err := kv.Lock(context.Background(), s, "locks", "l", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if s.tries != 3 {
		t.Fatalf("took the lease on try %d, want 3", s.tries)
	}
	release()
	if !strings.HasSuffix(string(s.released), " 42") {
		t.Fatalf("released %q, want the value the store stored", s.released)
	}
}
