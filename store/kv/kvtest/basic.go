package kvtest

import (
	"bytes"
	"context"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/kv"
)

func testGetMissing(t *testing.T, s kv.Store) {
	ctx := context.Background()
	wantMissing(t, s, "never-written", "k")
	mustSet(t, s, "p", "k", []byte("v"))
	wantMissing(t, s, "p", "other")
	wantMissing(t, s, "p", "k\x00")
	wantMissing(t, s, "p", "K")
	_, err := s.Get(ctx, "p", "missing")
	wantErr(t, "Get missing", err, store.ErrNotFound)
}

func testSetGet(t *testing.T, s kv.Store) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	tests := []struct {
		name  string
		key   string
		value []byte
	}{
		{"Small", "small", []byte("hello")},
		{"Empty", "empty", []byte{}},
		{"Binary", "binary", []byte{0x00, 0xff, 0x01, 0x00, '\r', '\n'}},
		{"Unicode", "unicode/日本", []byte("värde ✓")},
		{"Large", "large", big},
		{"BinaryKey", "\x00\xff\r\n", []byte("x")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustSet(t, s, "p", tc.key, tc.value)
			wantValue(t, s, "p", tc.key, tc.value)
		})
	}
	t.Run("Overwrite", func(t *testing.T) {
		mustSet(t, s, "p", "over", []byte("first, longer value"))
		mustSet(t, s, "p", "over", []byte("second"))
		wantValue(t, s, "p", "over", []byte("second"))
		if n := len(scanAll(t, s, "p", "over")); n != 1 {
			t.Fatalf("scan after overwrite lists %d entries, want 1", n)
		}
	})
	t.Run("NilValue", func(t *testing.T) {
		mustSet(t, s, "p", "nil", nil)
		got, err := s.Get(context.Background(), "p", "nil")
		if err != nil || len(got) != 0 {
			t.Fatalf("Get after Set(nil) = %q, %v; want empty value", got, err)
		}
	})
}

func testSetIfAbsent(t *testing.T, s kv.Store) {
	ctx := context.Background()
	if err := s.SetIf(ctx, "p", "k", []byte("one"), nil); err != nil {
		t.Fatalf("SetIf absent: %v", err)
	}
	wantValue(t, s, "p", "k", []byte("one"))
	err := s.SetIf(ctx, "p", "k", []byte("two"), nil)
	wantErr(t, "SetIf nil pred on present key", err, kv.ErrPredicateFailed)
	wantErr(t, "SetIf nil pred on present key", err, store.ErrConflict)
	wantValue(t, s, "p", "k", []byte("one"))

	// A present empty value is not absence.
	mustSet(t, s, "p", "empty", []byte{})
	err = s.SetIf(ctx, "p", "empty", []byte("x"), nil)
	wantErr(t, "SetIf nil pred on empty value", err, kv.ErrPredicateFailed)
	wantValue(t, s, "p", "empty", []byte{})

	// After a delete the key is absent again.
	if err := s.Delete(ctx, "p", "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetIf(ctx, "p", "k", []byte("three"), nil); err != nil {
		t.Fatalf("SetIf after delete: %v", err)
	}
	wantValue(t, s, "p", "k", []byte("three"))
}

func testSetIfPredicate(t *testing.T, s kv.Store) {
	ctx := context.Background()
	tests := []struct {
		name    string
		current []byte // nil: key absent
		pred    []byte
		ok      bool
	}{
		{"Equal", []byte("v1"), []byte("v1"), true},
		{"Different", []byte("v1"), []byte("v2"), false},
		{"PrefixOfCurrent", []byte("v1"), []byte("v"), false},
		{"LongerThanCurrent", []byte("v1"), []byte("v1\x00"), false},
		{"AbsentKey", nil, []byte("v1"), false},
		{"AbsentKeyEmptyPred", nil, []byte{}, false},
		{"EmptyEqual", []byte{}, []byte{}, true},
		{"EmptyCurrent", []byte{}, []byte("x"), false},
		{"BinaryEqual", []byte{0, 0xff, 0}, []byte{0, 0xff, 0}, true},
		{"BinaryDifferent", []byte{0, 0xff, 0}, []byte{0, 0xfe, 0}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "k/" + tc.name
			if tc.current != nil {
				mustSet(t, s, "p", key, tc.current)
			}
			err := s.SetIf(ctx, "p", key, []byte("new"), tc.pred)
			if tc.ok {
				if err != nil {
					t.Fatalf("SetIf: %v", err)
				}
				wantValue(t, s, "p", key, []byte("new"))
				return
			}
			wantErr(t, "SetIf", err, kv.ErrPredicateFailed)
			if tc.current == nil {
				wantMissing(t, s, "p", key)
			} else {
				wantValue(t, s, "p", key, tc.current)
			}
		})
	}
}

func testDelete(t *testing.T, s kv.Store) {
	ctx := context.Background()
	mustSet(t, s, "p", "a", []byte("1"))
	mustSet(t, s, "p", "b", []byte("2"))
	if err := s.Delete(ctx, "p", "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, s, "p", "a")
	wantValue(t, s, "p", "b", []byte("2"))
	if got := keysOf(scanAll(t, s, "p", "")); len(got) != 1 || got[0] != "b" {
		t.Fatalf("scan after delete = %q, want [b]", got)
	}
	if err := s.Delete(ctx, "p", "a"); err != nil {
		t.Fatalf("Delete absent key: %v", err)
	}
	if err := s.Delete(ctx, "never-written", "a"); err != nil {
		t.Fatalf("Delete in absent partition: %v", err)
	}
}

func testDeleteIf(t *testing.T, s kv.Store) {
	ctx := context.Background()
	mustSet(t, s, "p", "k", []byte("v1"))

	err := s.DeleteIf(ctx, "p", "k", []byte("v2"))
	wantErr(t, "DeleteIf wrong pred", err, kv.ErrPredicateFailed)
	wantErr(t, "DeleteIf wrong pred", err, store.ErrConflict)
	wantValue(t, s, "p", "k", []byte("v1"))

	err = s.DeleteIf(ctx, "p", "absent", []byte("v1"))
	wantErr(t, "DeleteIf absent key", err, kv.ErrPredicateFailed)
	err = s.DeleteIf(ctx, "p", "absent", nil)
	wantErr(t, "DeleteIf absent key, nil pred", err, kv.ErrPredicateFailed)

	if err := s.DeleteIf(ctx, "p", "k", []byte("v1")); err != nil {
		t.Fatalf("DeleteIf matching pred: %v", err)
	}
	wantMissing(t, s, "p", "k")
	if got := scanAll(t, s, "p", ""); len(got) != 0 {
		t.Fatalf("scan after DeleteIf = %q, want none", keysOf(got))
	}
	err = s.DeleteIf(ctx, "p", "k", []byte("v1"))
	wantErr(t, "DeleteIf twice", err, kv.ErrPredicateFailed)

	mustSet(t, s, "p", "empty", []byte{})
	if err := s.DeleteIf(ctx, "p", "empty", []byte{}); err != nil {
		t.Fatalf("DeleteIf empty value: %v", err)
	}
	wantMissing(t, s, "p", "empty")
}

func testValuesCopied(t *testing.T, s kv.Store) {
	ctx := context.Background()
	in := []byte("abc")
	mustSet(t, s, "p", "k", in)
	in[0] = 'X'
	wantValue(t, s, "p", "k", []byte("abc"))

	got, err := s.Get(ctx, "p", "k")
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'Y'
	wantValue(t, s, "p", "k", []byte("abc"))

	page, err := s.Scan(ctx, "p", kv.ScanOptions{})
	if err != nil || len(page) != 1 {
		t.Fatalf("Scan = %v, %v; want one entry", page, err)
	}
	page[0].Value[0] = 'Z'
	wantValue(t, s, "p", "k", []byte("abc"))

	val, pred := []byte("def"), []byte("abc")
	if err := s.SetIf(ctx, "p", "k", val, pred); err != nil {
		t.Fatal(err)
	}
	val[0], pred[0] = 'X', 'X'
	wantValue(t, s, "p", "k", []byte("def"))
}

func testCanceledContext(t *testing.T, s kv.Store) {
	mustSet(t, s, "p", "k", []byte("v"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "p", "k"); return err }},
		{"Set", func() error { return s.Set(ctx, "p", "new", []byte("v")) }},
		{"SetIf", func() error { return s.SetIf(ctx, "p", "new", []byte("v"), nil) }},
		{"Delete", func() error { return s.Delete(ctx, "p", "k") }},
		{"DeleteIf", func() error { return s.DeleteIf(ctx, "p", "k", []byte("v")) }},
		{"Scan", func() error { _, err := s.Scan(ctx, "p", kv.ScanOptions{}); return err }},
		{"Incr", func() error { _, err := s.Incr(ctx, "p", "n", 1); return err }},
		{"DropPartition", func() error { return s.DropPartition(ctx, "p") }},
		{"Iterator", func() error {
			it := kv.Scan(ctx, s, "p", "", "", 0)
			for it.Next() {
			}
			return it.Err()
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			wantErr(t, op.name, op.call(), context.Canceled)
		})
	}
	// Nothing was written or removed.
	wantValue(t, s, "p", "k", []byte("v"))
	wantMissing(t, s, "p", "new")
	if n, err := s.Incr(context.Background(), "p", "n", 0); err != nil || n != 0 {
		t.Fatalf("counter after canceled Incr = %d, %v; want 0", n, err)
	}
}

func testEmptyKeyRejected(t *testing.T, s kv.Store) {
	ctx := context.Background()
	names := []struct{ partition, key string }{{"", "k"}, {"p", ""}, {"", ""}}
	for _, n := range names {
		ops := []struct {
			name string
			call func() error
		}{
			{"Get", func() error { _, err := s.Get(ctx, n.partition, n.key); return err }},
			{"Set", func() error { return s.Set(ctx, n.partition, n.key, []byte("v")) }},
			{"SetIf", func() error { return s.SetIf(ctx, n.partition, n.key, []byte("v"), nil) }},
			{"Delete", func() error { return s.Delete(ctx, n.partition, n.key) }},
			{"DeleteIf", func() error { return s.DeleteIf(ctx, n.partition, n.key, []byte("v")) }},
			{"Incr", func() error { _, err := s.Incr(ctx, n.partition, n.key, 1); return err }},
		}
		for _, op := range ops {
			what := op.name + "(" + n.partition + ", " + n.key + ")"
			err := op.call()
			wantErr(t, what, err, kv.ErrInvalidKey)
			wantErr(t, what, err, store.ErrInvalid)
		}
	}
	_, err := s.Scan(ctx, "", kv.ScanOptions{})
	wantErr(t, "Scan empty partition", err, kv.ErrInvalidKey)
	wantErr(t, "DropPartition empty partition", s.DropPartition(ctx, ""), kv.ErrInvalidKey)
	if got := scanAll(t, s, "p", ""); len(got) != 0 {
		t.Fatalf("rejected calls wrote %q", keysOf(got))
	}
}

func testClosed(t *testing.T, s kv.Store) {
	ctx := context.Background()
	mustSet(t, s, "p", "k", []byte("v"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ops := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, "p", "k"); return err }},
		{"Set", func() error { return s.Set(ctx, "p", "k", []byte("v")) }},
		{"SetIf", func() error { return s.SetIf(ctx, "p", "k", []byte("w"), []byte("v")) }},
		{"Delete", func() error { return s.Delete(ctx, "p", "k") }},
		{"DeleteIf", func() error { return s.DeleteIf(ctx, "p", "k", []byte("v")) }},
		{"Scan", func() error { _, err := s.Scan(ctx, "p", kv.ScanOptions{}); return err }},
		{"Incr", func() error { _, err := s.Incr(ctx, "p", "n", 1); return err }},
		{"DropPartition", func() error { return s.DropPartition(ctx, "p") }},
	}
	for _, op := range ops {
		wantErr(t, op.name+" after Close", op.call(), kv.ErrClosed)
	}
}
