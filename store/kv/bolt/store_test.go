package bolt_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/lakeq/lakeq/store/kv"
	"github.com/lakeq/lakeq/store/kv/bolt"
	"github.com/lakeq/lakeq/store/kv/kvtest"
)

// open opens a new database file in a temporary directory.
func open(tb testing.TB, opts bolt.Options) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(filepath.Join(tb.TempDir(), "kv.db"), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestEmbeddedBoltConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Store { return open(t, bolt.Options{}) })
}

func TestOpenLockedFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	first, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	second, err := bolt.Open(path, bolt.Options{LockTimeout: 200 * time.Millisecond})
	if !errors.Is(err, bolt.ErrLocked) {
		if second != nil {
			_ = second.Close()
		}
		t.Fatalf("second Open: %v, want error wrapping ErrLocked", err)
	}
	if waited := time.Since(begin); waited > 5*time.Second {
		t.Fatalf("second Open took %s", waited)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "dir", "kv.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"b", "a", "c"} {
		if err := s.Set(ctx, "p", k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Incr(ctx, "p", "n", 41); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page, err := s.Scan(ctx, "p", kv.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range page {
		got = append(got, e.Key+"="+string(e.Value))
	}
	if strings.Join(got, ",") != "a=va,b=vb,c=vc" {
		t.Fatalf("after reopen: %q", got)
	}
	if n, err := s.Incr(ctx, "p", "n", 1); err != nil || n != 42 {
		t.Fatalf("counter after reopen = %d, %v; want 42", n, err)
	}
}

func TestUnknownFormatRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("format"), []byte("99"))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := bolt.Open(path, bolt.Options{})
	if !errors.Is(err, bolt.ErrCorrupt) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("Open of format 99: %v, want error wrapping ErrCorrupt", err)
	}
}

func TestOversizedNamesRejected(t *testing.T) {
	ctx := context.Background()
	s := open(t, bolt.Options{})
	defer s.Close()
	long := strings.Repeat("x", bbolt.MaxKeySize+1)
	tests := []struct{ name, partition, key string }{
		{"Key", "p", long},
		{"Partition", long, "k"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Set(ctx, tc.partition, tc.key, []byte("v")); !errors.Is(err, kv.ErrInvalidKey) {
				t.Fatalf("Set: %v, want error wrapping kv.ErrInvalidKey", err)
			}
		})
	}
	atLimit := strings.Repeat("y", bbolt.MaxKeySize)
	if err := s.Set(ctx, atLimit, atLimit, []byte("v")); err != nil {
		t.Fatalf("Set with %d-byte names: %v", bbolt.MaxKeySize, err)
	}
}

func BenchmarkEmbeddedBolt(b *testing.B) {
	kvtest.Bench(b, func(b *testing.B) kv.Store { return open(b, bolt.Options{}) })
}
