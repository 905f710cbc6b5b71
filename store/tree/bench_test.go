package tree

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store"
)

// benchSizes are the tree sizes every benchmark runs at: the cost of a
// one-entry change must not grow with the tree.
var benchSizes = []int{1_000, 1_000_000}

// benchTree builds a tree of n entries in a fresh namespace, outside the
// timer.
func benchTree(b *testing.B, n int) (*Manager, Namespace, MetaRangeID) {
	b.Helper()
	m := newManager(b, Config{})
	ns := newNS(b, "")
	return m, ns, buildTree(b, m, ns, n)
}

// BenchmarkApplyOneChange applies a new version of one entry to a tree:
// one range read and rewritten, one metarange written.
func BenchmarkApplyOneChange(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			m, ns, base := benchTree(b, n)
			ctx := context.Background()
			before := m.Stats()
			runtime.GC()
			cpu := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				e := bulkEntry(n/2, i+1)
				if _, err := m.Apply(ctx, ns, base, SliceChanges([]Change{{Path: e.Path, Entry: &e}}), nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportCPU(b, cpuTime()-cpu)
			reportStats(b, before, m.Stats())
		})
	}
}

// BenchmarkDiff diffs a tree against itself with one entry changed.
func BenchmarkDiff(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			m, ns, base := benchTree(b, n)
			ctx := context.Background()
			changed := applyOne(b, m, ns, base, bulkEntry(n/2, 1))
			before := m.Stats()
			runtime.GC()
			cpu := cpuTime()
			b.ResetTimer()
			for range b.N {
				it, err := m.Diff(ctx, ns, base, changed)
				if err != nil {
					b.Fatal(err)
				}
				k := 0
				for it.Next() {
					k++
				}
				if err := it.Err(); err != nil || k != 1 {
					b.Fatalf("%d differences, %v", k, err)
				}
				it.Close()
			}
			b.StopTimer()
			reportCPU(b, cpuTime()-cpu)
			reportStats(b, before, m.Stats())
		})
	}
}

// BenchmarkMerge merges a source with one changed entry into a destination
// with another; each iteration merges a new source version, so it writes a
// range and a metarange. Every benchmark changes the entry in the middle of
// the tree (n/2): the cost of a change follows the size of the range it
// falls in, which varies from range to range but not with the tree's size.
func BenchmarkMerge(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			m, ns, base := benchTree(b, n)
			ctx := context.Background()
			dest := applyOne(b, m, ns, base, bulkEntry(n/4, 1))
			var opened int64
			var cpu time.Duration
			runtime.GC()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				source := applyOne(b, m, ns, base, bulkEntry(n/2, i+2))
				before, start := m.Stats(), cpuTime()
				b.StartTimer()
				if _, err := m.Merge(ctx, ns, base, source, dest, MergeStrategyNone); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - start
				opened += m.Stats().RangesOpened - before.RangesOpened
			}
			reportCPU(b, cpu)
			b.ReportMetric(float64(opened)/float64(b.N), "ranges-opened/op")
		})
	}
}

// reportCPU reports the process's CPU time per operation, a figure that
// machine load does not inflate the way it inflates ns/op.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// reportStats reports the ranges opened and written per operation.
func reportStats(b *testing.B, before, after Stats) {
	d := statsDelta(before, after)
	b.ReportMetric(float64(d.RangesOpened)/float64(b.N), "ranges-opened/op")
	b.ReportMetric(float64(d.RangesWritten)/float64(b.N), "ranges-written/op")
}

// BenchmarkEncodeRange encodes ranges of imported objects (full addresses,
// no metadata) of 1,024 and 8,192 entries into range files. It reports the
// bytes per entry of the file, of the pending range a Writer holds, and of
// the canonical encoding.
func BenchmarkEncodeRange(b *testing.B) {
	for _, n := range []int{1024, 8192} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			entries := make([]store.Entry, n)
			for i := range entries {
				k := fmt.Sprintf("imported/part-%03d/object-%08d.bin", i*100/n, i)
				entries[i] = store.Entry{
					Path:        k,
					Address:     "s3://source-bucket/data/" + k,
					AddressType: store.AddressFull,
					Size:        int64(1024 + i),
					ETag:        fmt.Sprintf("%032x", i*7919),
					MTime:       baseTime.Add(time.Duration(i) * time.Second),
				}
			}
			run := runOf(entries)
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := encodeRange(&buf, run); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len())/float64(n), "file-B/entry")
			b.ReportMetric(float64(run.bytes())/float64(n), "pending-B/entry")
			b.ReportMetric(float64(run.canonical)/float64(n), "canonical-B/entry")
		})
	}
}
