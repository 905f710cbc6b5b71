package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/tree"
	"github.com/lakeq/lakeq/workers"
)

// A task reports the entries it wrote, and checks for cancellation, every
// progressEvery entries, and every 64 once progressAfter has passed since
// its last report: a slow source's entries reach the job's progress, saved
// every second, as they come.
const (
	progressEvery = 1000
	progressAfter = 250 * time.Millisecond
)

// shardResult is what a finished shard leaves for finalize.
type shardResult struct {
	Ranges  []tree.RangeInfo `json:"ranges"`
	Objects int64            `json:"objects"`
}

// RunTask lists one shard and writes its entries into range files, then
// stores the shard's range list under its index. A shard whose result is
// stored already (a redelivered task) is not listed again. A listing found
// out of order is redone through the external sort.
func (h *Handler) RunTask(ctx context.Context, rt *workers.Run, task workers.Task) error {
	return h.settle(ctx, rt, h.runTask(ctx, rt, task))
}

func (h *Handler) runTask(ctx context.Context, rt *workers.Run, task workers.Task) error {
	j := rt.Job()
	var st shardTask
	if err := json.Unmarshal(task.Payload, &st); err != nil {
		return permanent(fmt.Errorf("%w: import task %s: %v", store.ErrInvalidValue, task.ID, err))
	}
	if _, err := h.kv.Get(ctx, partition(j.ID), shardKey(st.Index)); err == nil {
		return nil
	}
	if rt.Canceled(ctx) {
		return workers.ErrCanceled
	}
	ns, err := h.graph.Namespace(ctx, j.Repo)
	if err != nil {
		return classify(err)
	}
	res, err := h.runShard(ctx, rt, ns, &st, false)
	if errors.Is(err, errUnordered) {
		rt.Logger().WarnContext(ctx, "source listing out of order; listing the shard again through an external sort",
			"shard", st.Index, "error", err.Error())
		res, err = h.runShard(ctx, rt, ns, &st, true)
	}
	if err != nil {
		return err
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := h.kv.Set(ctx, partition(j.ID), shardKey(st.Index), raw); err != nil {
		return fmt.Errorf("import shard %d: store result: %w", st.Index, err)
	}
	return nil
}

// runShard merges the shard's parts into one ordered run of entries and
// writes it into ranges. sortAll lists every part through the external
// sort.
func (h *Handler) runShard(ctx context.Context, rt *workers.Run, ns tree.Namespace, st *shardTask, sortAll bool) (*shardResult, error) {
	parts := make([]*partIter, 0, len(st.Parts))
	defer func() {
		for _, p := range parts {
			p.it.Close()
		}
	}()
	for i, sp := range st.Parts {
		// A merge needs a page of every part at once. Only its first part
		// takes listing slots: a shard holding some slots while it waited
		// for more could wait for ever, on itself or on other shards
		// doing the same. A merge's other parts hold a page each beyond
		// Config.ListPages.
		slots := h.listSlots
		if i > 0 {
			slots = nil
		}
		p, err := h.openPart(ctx, rt, sp, sortAll, slots)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	m := newMerger(parts)
	w := h.writer.NewWriter(ctx, ns)
	// pending: entries written since the last report; reported: before.
	var n, pending, pendingBytes, reported, reportedBytes int64
	lastReport := time.Now()
	report := func() {
		lastReport = time.Now()
		c, b := pending, pendingBytes
		rt.Progress(ctx, func(p *jobs.Progress) { p.Done += c; p.Bytes += b })
		reported, reportedBytes = reported+c, reportedBytes+b
		pending, pendingBytes = 0, 0
	}
	// fail ends a failed attempt: it takes back the progress the attempt
	// reported, which the next attempt, or the sorted listing, reports
	// again.
	fail := func(err error) (*shardResult, error) {
		w.Abort()
		if c, b := reported, reportedBytes; c > 0 {
			rt.Progress(ctx, func(p *jobs.Progress) { p.Done -= c; p.Bytes -= b })
		}
		return nil, err
	}
	for m.Next() {
		e := m.Entry()
		if err := w.Add(e); err != nil {
			return fail(classify(fmt.Errorf("import shard %d: %w", st.Index, err)))
		}
		n++
		pending++
		pendingBytes += e.Size
		if pending == progressEvery || pending%64 == 0 && time.Since(lastReport) >= progressAfter {
			report()
			if rt.Canceled(ctx) {
				return fail(workers.ErrCanceled)
			}
		}
	}
	if err := m.Err(); err != nil {
		if errors.Is(err, errUnordered) {
			return fail(err)
		}
		return fail(classify(fmt.Errorf("import shard %d: %w", st.Index, err)))
	}
	ranges, err := w.CloseRanges()
	if err != nil {
		return fail(classify(fmt.Errorf("import shard %d: write ranges: %w", st.Index, err)))
	}
	report()
	return &shardResult{Ranges: ranges, Objects: n}, nil
}

// openPart starts the listing of one part.
func (h *Handler) openPart(ctx context.Context, rt *workers.Run, sp sourcePart, sortAll bool, slots chan struct{}) (*partIter, error) {
	u, err := block.ParseURI(sp.URI)
	if err != nil {
		return nil, permanent(err)
	}
	t, err := h.sources.Resolve(u)
	if err != nil {
		return nil, permanent(err)
	}
	sorted := sortAll || sp.Sort
	prefix, startAfter := sp.listPrefix(t.Key)
	if sorted {
		// A store that lists out of order may not honour a start key
		// either: list the whole part's prefix and filter.
		startAfter = ""
	}
	var it objectIter = newListIter(ctx, t, prefix, startAfter, sp.After.last(), sp.UpTo.last(), h.cfg.PageSize, sorted, slots)
	if sorted {
		si, stats, err := newSortIter(ctx, it, h.cfg.TempDir, h.cfg.SortBuffer)
		if err != nil {
			return nil, classify(fmt.Errorf("list %s: %w", u, err))
		}
		rt.Logger().InfoContext(ctx, "sorted an unordered listing", "source", u.String(), "objects", stats.Objects, "runs", stats.Runs)
		it = si
	}
	return newPartIter(it, sp.Source, t.Key, sp.Dest, u), nil
}
