package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/jobs"
	"github.com/lakeq/lakeq/store/kv"
)

// bound is one end of a shard: the listing item (object or common prefix)
// the shard ends after. See lastKeyOf.
type bound struct {
	Key    string `json:"key"`
	Prefix bool   `json:"prefix,omitempty"`
}

// last returns the largest key the bound covers, "" for nil.
func (b *bound) last() string {
	if b == nil {
		return ""
	}
	return lastKeyOf(block.ListItem{Key: b.Key, IsPrefix: b.Prefix})
}

// sourcePart is one source's share of a shard.
type sourcePart struct {
	// Source is the index of the source in the request's paths.
	Source int `json:"source"`
	// URI is the source (a common prefix); Dest the destination prefix.
	URI  string `json:"uri"`
	Dest string `json:"dest"`
	// After and UpTo bound the part's keys: After < key <= UpTo; nil is
	// unbounded.
	After *bound `json:"after,omitempty"`
	UpTo  *bound `json:"up_to,omitempty"`
	// First is the first listing item in the part when it was planned
	// (nil: unknown). The part is listed from the longest common prefix
	// of First and UpTo, so that the store walks only its own keys; keys
	// written after planning that sort before First are not imported.
	First *bound `json:"first,omitempty"`
	// Sort lists the part through the external sort from the start: its
	// top-level listing was already out of order.
	Sort bool `json:"sort,omitempty"`
}

// shardTask is the payload of one task: the parts it merges into one
// ordered run of entries. Shards are disjoint and ordered by destination
// path in index order.
type shardTask struct {
	Index int          `json:"index"`
	Parts []sourcePart `json:"parts"`
}

// taskID names shard i's task.
func taskID(i int) string { return fmt.Sprintf("shard-%05d", i) }

// plan is an import's division into shards, stored once in the KV so that
// a redelivered Run fans out the same tasks.
type plan struct {
	Tasks []shardTask `json:"tasks"`
	// Prefixes are the destinations of the common-prefix sources: the
	// commit replaces everything under them.
	Prefixes []string `json:"prefixes"`
	// Objects are the object sources, described at planning time, in path
	// order.
	Objects []store.Entry `json:"objects,omitempty"`
}

// KV layout of an import's working state, in the job's work partition
// (jobs.WorkPartition, which the job's expiry drops, so that no ending
// leaves it behind; an import that ends by itself drops it at once, see
// dropState):
//
//	import/plan            the plan, stored once
//	import/shard/<index>   a shard's result, its ranges
const (
	stateKeyPrefix = "import/"
	planKey        = stateKeyPrefix + "plan"
	shardKeyPrefix = stateKeyPrefix + "shard/"
)

func partition(id store.JobID) string { return jobs.WorkPartition(id) }

// dropState deletes the working state of import id. The partition also
// holds the job's task ledger, which is the runner's: only the keys of
// the import go.
func (h *Handler) dropState(ctx context.Context, id store.JobID) error {
	for {
		page, err := h.kv.Scan(ctx, partition(id), kv.ScanOptions{Prefix: stateKeyPrefix})
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := h.kv.Delete(ctx, partition(id), e.Key); err != nil {
				return err
			}
		}
		if len(page) < kv.DefaultScanLimit {
			return nil
		}
	}
}

func shardKey(i int) string { return fmt.Sprintf("%s%05d", shardKeyPrefix, i) }

// loadOrMakePlan returns the job's stored plan, or makes one and stores it
// (the first stored plan wins, so concurrent deliveries agree).
func (h *Handler) loadOrMakePlan(ctx context.Context, id store.JobID, req *jobs.ImportRequest) (*plan, error) {
	if p, err := h.loadPlan(ctx, id); err == nil || !errors.Is(err, kv.ErrNotFound) {
		return p, err
	}
	p, err := h.makePlan(ctx, req)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	err = h.kv.SetIf(ctx, partition(id), planKey, raw, nil)
	if errors.Is(err, kv.ErrPredicateFailed) {
		return h.loadPlan(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("store plan: %w", err)
	}
	return p, nil
}

func (h *Handler) loadPlan(ctx context.Context, id store.JobID) (*plan, error) {
	raw, err := h.kv.Get(ctx, partition(id), planKey)
	if err != nil {
		return nil, err
	}
	var p plan
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode plan: %w", err)
	}
	return &p, nil
}

// makePlan lists the top of every common-prefix source and describes
// every object source.
func (h *Handler) makePlan(ctx context.Context, req *jobs.ImportRequest) (*plan, error) {
	p := &plan{}
	var prefixSources []int
	for i, path := range req.Paths {
		u, err := path.Source()
		if err != nil {
			return nil, permanent(err)
		}
		switch path.Type {
		case jobs.ImportCommonPrefix:
			prefixSources = append(prefixSources, i)
			p.Prefixes = append(p.Prefixes, path.Destination)
		case jobs.ImportObject:
			e, err := h.describeObject(ctx, u, path.Destination)
			if err != nil {
				return nil, err
			}
			p.Objects = append(p.Objects, e)
		}
	}
	// Objects by path; of two with the same path, the later source wins.
	slices.SortStableFunc(p.Objects, func(a, b store.Entry) int { return strings.Compare(a.Path, b.Path) })
	p.Objects = lastOfEachPath(p.Objects)
	perSource := max(1, h.cfg.MaxShards/max(1, len(prefixSources)))
	for _, group := range overlapGroups(req, prefixSources) {
		if len(group) > 1 {
			// Overlapping destinations: one shard merges the sources whole.
			var parts []sourcePart
			for _, i := range group {
				parts = append(parts, sourcePart{Source: i, URI: req.Paths[i].Path, Dest: req.Paths[i].Destination})
			}
			p.Tasks = append(p.Tasks, shardTask{Parts: parts})
			continue
		}
		i := group[0]
		parts, err := h.splitSource(ctx, sourcePart{Source: i, URI: req.Paths[i].Path, Dest: req.Paths[i].Destination}, perSource)
		if err != nil {
			return nil, err
		}
		for _, part := range parts {
			p.Tasks = append(p.Tasks, shardTask{Parts: []sourcePart{part}})
		}
	}
	for i := range p.Tasks {
		p.Tasks[i].Index = i
	}
	return p, nil
}

// lastOfEachPath keeps, of consecutive entries with the same path, the last.
func lastOfEachPath(es []store.Entry) []store.Entry {
	out := es[:0]
	for _, e := range es {
		if n := len(out); n > 0 && out[n-1].Path == e.Path {
			out[n-1] = e
			continue
		}
		out = append(out, e)
	}
	return out
}

// overlapGroups groups the common-prefix sources whose destination key
// spaces overlap (one destination is a prefix of the other), in
// destination order. Distinct groups cover disjoint, ordered key spaces:
// all paths under a prefix sort together.
func overlapGroups(req *jobs.ImportRequest, sources []int) [][]int {
	sorted := slices.Clone(sources)
	slices.SortStableFunc(sorted, func(a, b int) int {
		return strings.Compare(req.Paths[a].Destination, req.Paths[b].Destination)
	})
	var groups [][]int
	root := ""
	for _, i := range sorted {
		d := req.Paths[i].Destination
		if n := len(groups); n > 0 && strings.HasPrefix(d, root) {
			groups[n-1] = append(groups[n-1], i)
			continue
		}
		groups = append(groups, []int{i})
		root = d
	}
	return groups
}

// describeObject stats an object source and returns its entry.
func (h *Handler) describeObject(ctx context.Context, u block.URI, dest string) (store.Entry, error) {
	t, err := h.sources.Resolve(u)
	if err != nil {
		return store.Entry{}, permanent(err)
	}
	info, err := t.Store.Stat(ctx, t.Bucket, t.Key)
	if err != nil {
		return store.Entry{}, classify(fmt.Errorf("source object %s: %w", u, err))
	}
	return store.Entry{
		Path:        dest,
		Address:     u.String(),
		AddressType: store.AddressFull,
		Size:        info.Size,
		ETag:        info.ETag,
		MTime:       info.LastModified,
		ContentType: info.ContentType,
	}, nil
}

// splitSource cuts one source into at most maxShards parts by listing its
// top level with the delimiter "/": each common prefix weighs
// Config.PrefixWeight and each object 1, and a part closes once its weight
// reaches the target, which doubles (merging neighbouring parts) whenever
// there would be more than maxShards. Only the first Config.PlanItems items
// are looked at; the last part runs to the end of the source.
func (h *Handler) splitSource(ctx context.Context, src sourcePart, maxShards int) ([]sourcePart, error) {
	u, err := block.ParseURI(src.URI)
	if err != nil {
		return nil, permanent(err)
	}
	t, err := h.sources.Resolve(u)
	if err != nil {
		return nil, permanent(err)
	}
	it := block.ListAll(ctx, t.Store, t.Bucket, block.ListOptions{Prefix: t.Key, Delimiter: "/", MaxKeys: h.cfg.PageSize})
	var parts []sourcePart
	cur := src
	target := int64(h.cfg.PrefixWeight)
	var weight int64
	last := ""
	for n := 0; n < h.cfg.PlanItems && it.Next(); n++ {
		item := it.Item()
		if last != "" && item.Key <= last {
			// The store does not list in order: one part, sorted.
			whole := src
			whole.Sort = true
			return []sourcePart{whole}, nil
		}
		last = item.Key
		if cur.First == nil {
			cur.First = &bound{Key: item.Key, Prefix: item.IsPrefix}
		}
		if item.IsPrefix {
			weight += int64(h.cfg.PrefixWeight)
		} else {
			weight++
		}
		if weight < target {
			continue
		}
		b := &bound{Key: item.Key, Prefix: item.IsPrefix}
		cur.UpTo = b
		parts = append(parts, cur)
		cur = src
		cur.After = b
		weight = 0
		if len(parts) >= maxShards {
			parts = mergePairs(parts)
			target *= 2
		}
	}
	if err := it.Err(); err != nil {
		return nil, classify(fmt.Errorf("list %s: %w", u, err))
	}
	if len(parts) > 0 && (weight == 0 || len(parts) >= maxShards) {
		// Nothing after the last cut (yet), or no room for another part:
		// the last part runs to the end.
		parts[len(parts)-1].UpTo = nil
		return parts, nil
	}
	return append(parts, cur), nil
}

// mergePairs joins neighbouring parts two by two.
func mergePairs(parts []sourcePart) []sourcePart {
	out := parts[:0]
	for i := 0; i < len(parts); i += 2 {
		p := parts[i]
		if i+1 < len(parts) {
			p.UpTo = parts[i+1].UpTo
		}
		out = append(out, p)
	}
	return out
}

// listPrefix returns the prefix to list part p with, the longest common
// prefix of its first item and its upper bound, and the exclusive start
// key within it ("" for none). Every key of the part as planned starts
// with the prefix: all strings between two strings share their common
// prefix.
func (p *sourcePart) listPrefix(sourcePrefix string) (prefix, startAfter string) {
	prefix = sourcePrefix
	if p.First != nil && p.UpTo != nil {
		prefix = commonPrefix(p.First.Key, p.UpTo.last())
		if !strings.HasPrefix(prefix, sourcePrefix) {
			prefix = sourcePrefix
		}
	}
	if after := p.After.last(); after > prefix {
		startAfter = after
	}
	return prefix, startAfter
}

// commonPrefix returns the longest common prefix of a and b, cut back to
// whole UTF-8 characters.
func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	for i > 0 && i < len(a) && !utf8.RuneStart(a[i]) {
		i--
	}
	return a[:i]
}
