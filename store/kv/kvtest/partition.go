package kvtest

import (
	"context"
	"testing"

	"github.com/lakeq/lakeq/store/kv"
)

func testDropPartition(t *testing.T, s kv.Store) {
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		mustSet(t, s, "drop", k, []byte(k))
		mustSet(t, s, "keep", k, []byte(k))
	}
	if _, err := s.Incr(ctx, "drop", "n", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, "keep", "n", 7); err != nil {
		t.Fatal(err)
	}
	if err := s.DropPartition(ctx, "drop"); err != nil {
		t.Fatalf("DropPartition: %v", err)
	}
	for _, k := range []string{"a", "b", "c"} {
		wantMissing(t, s, "drop", k)
		wantValue(t, s, "keep", k, []byte(k))
	}
	if got := scanAll(t, s, "drop", ""); len(got) != 0 {
		t.Fatalf("dropped partition still lists %q", keysOf(got))
	}
	if n, err := s.Incr(ctx, "drop", "n", 0); err != nil || n != 0 {
		t.Fatalf("dropped counter = %d, %v; want 0", n, err)
	}
	if n, err := s.Incr(ctx, "keep", "n", 0); err != nil || n != 7 {
		t.Fatalf("kept counter = %d, %v; want 7", n, err)
	}
	if err := s.DropPartition(ctx, "never-written"); err != nil {
		t.Fatalf("DropPartition of absent partition: %v", err)
	}
	// The partition is usable again.
	mustSet(t, s, "drop", "a", []byte("again"))
	wantValue(t, s, "drop", "a", []byte("again"))
}

func testPartitionsIsolated(t *testing.T, s kv.Store) {
	ctx := context.Background()
	// Names that are prefixes of each other, that contain the characters an
	// implementation may use to build its keys, and that collide if an
	// escaping scheme is not one-to-one.
	partitions := []string{
		"a", "ab", "a:", "a:v", "a:k", "a}", "{a}", "}{", "{", "}", "%7B", "%7Ba%7D", "%",
		"a/b", "a\x00", "\x00", "\xff", "日本", "a b",
	}
	for _, p := range partitions {
		mustSet(t, s, p, "k", []byte(p))
		mustSet(t, s, p, "only/"+p, []byte(p))
		if _, err := s.Incr(ctx, p, "n", int64(len(p))); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range partitions {
		wantValue(t, s, p, "k", []byte(p))
		got := scanAll(t, s, p, "")
		if len(got) != 2 || got[0].Key != "k" || got[1].Key != "only/"+p {
			t.Fatalf("partition %q lists %q, want [k only/%s]", p, keysOf(got), p)
		}
		if n, err := s.Incr(ctx, p, "n", 0); err != nil || n != int64(len(p)) {
			t.Fatalf("partition %q counter = %d, %v; want %d", p, n, err, len(p))
		}
	}
	if err := s.DropPartition(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, "a", "k")
	for _, p := range partitions[1:] {
		wantValue(t, s, p, "k", []byte(p))
	}
}
