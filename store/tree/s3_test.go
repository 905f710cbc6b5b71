package tree

import (
	"context"
	"testing"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block/s3/miniotest"
)

// TestS3 runs the model test and a merge against a real MinIO server
// through the s3 block store (skipped without a MinIO binary, failed under
// CI=true).
func TestS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MinIO server")
	}
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "lake")
	ns := Namespace{Store: srv.NewStore(t), Bucket: "lake", Prefix: "repos/r1/"}

	t.Run("model", func(t *testing.T) {
		runModelApplyDiff(t, ns, 400, 8)
	})
	t.Run("merge", func(t *testing.T) {
		ctx := context.Background()
		m := newManager(t, Config{TargetEntries: 16})
		base := buildTree(t, m, ns, 2000)
		left := applyOne(t, m, ns, base, bulkEntry(100, 1))
		right := applyOne(t, m, ns, base, bulkEntry(1900, 2))
		merged, err := m.Merge(ctx, ns, base, left, right, MergeStrategyNone)
		if err != nil {
			t.Fatal(err)
		}
		if want := applyOne(t, m, ns, left, bulkEntry(1900, 2)); want != merged {
			t.Fatalf("merged %s, want %s", merged, want)
		}
		// A manager that wrote nothing reads everything back from S3.
		fresh := newManager(t, Config{TargetEntries: 16})
		got := readAllEntries(t, fresh, ns, merged)
		if len(got) != 2000 || !got[100].Equal(ptr(bulkEntry(100, 1))) || !got[1900].Equal(ptr(bulkEntry(1900, 2))) {
			t.Fatalf("read back %d entries", len(got))
		}
	})
	t.Run("spill", func(t *testing.T) {
		// Long ranges are encoded into the spill file and uploaded from
		// it, short ones from memory.
		entries := make([]store.Entry, 6000)
		for i := range entries {
			entries[i] = entryAt(keyOf(i), i)
		}
		m := newManager(t, Config{TargetEntries: 4096, SyncWrites: true, SpillDir: t.TempDir()})
		id := writeTree(t, m, ns, entries)
		requireEntries(t, readAllEntries(t, newManager(t, Config{}), ns, id), entries)
	})
}

func ptr[T any](v T) *T { return &v }
