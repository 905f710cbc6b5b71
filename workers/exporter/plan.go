package exporter

import (
	"context"
	"slices"
	"strings"

	"github.com/lakeq/lakeq/store/tree"
)

// span is a closed interval [Lo, Hi] of paths that one task walks.
type span struct {
	Lo string `json:"lo"`
	Hi string `json:"hi"`
}

// spans returns the export's spans in path order, disjoint, at most
// Config.MaxTasks of them, and in full mode the number of objects (0 in
// diff mode). Full mode: one per range of the commit. Diff mode: the
// key intervals of the ranges found on only one side (a range whose id is
// on both sides covers the same paths with the same entries on both, so
// nothing in it differs), overlapping intervals joined. Every difference
// between the two trees lies in exactly one span.
func (h *Handler) spans(ctx context.Context, x *export) ([]span, int64, error) {
	right, err := h.graph.Trees().GetMetaRange(ctx, x.ns, x.commit.MetaRangeID)
	if err != nil {
		return nil, 0, classify(err)
	}
	if x.prev == nil {
		out := make([]span, 0, len(right))
		var total int64
		for _, r := range right {
			out = append(out, span{Lo: r.MinKey, Hi: r.MaxKey})
			total += r.Count
		}
		return joinSpans(out, h.cfg.MaxTasks), total, nil
	}
	left, err := h.graph.Trees().GetMetaRange(ctx, x.ns, x.prev.MetaRangeID)
	if err != nil {
		return nil, 0, classify(err)
	}
	return joinSpans(diffSpans(left, right), h.cfg.MaxTasks), 0, nil
}

// diffSpans returns the merged key intervals of the ranges that are on one
// side only.
func diffSpans(left, right []tree.RangeInfo) []span {
	inLeft := make(map[tree.RangeID]bool, len(left))
	for _, r := range left {
		inLeft[r.ID] = true
	}
	inRight := make(map[tree.RangeID]bool, len(right))
	for _, r := range right {
		inRight[r.ID] = true
	}
	var raw []span
	for _, r := range right {
		if !inLeft[r.ID] {
			raw = append(raw, span{Lo: r.MinKey, Hi: r.MaxKey})
		}
	}
	for _, r := range left {
		if !inRight[r.ID] {
			raw = append(raw, span{Lo: r.MinKey, Hi: r.MaxKey})
		}
	}
	slices.SortFunc(raw, func(a, b span) int { return strings.Compare(a.Lo, b.Lo) })
	var out []span
	for _, s := range raw {
		if n := len(out); n > 0 && s.Lo <= out[n-1].Hi {
			out[n-1].Hi = max(out[n-1].Hi, s.Hi)
			continue
		}
		out = append(out, s)
	}
	return out
}

// joinSpans joins neighbouring spans until there are at most n. A joined
// span covers the gap between the two, which holds no entry of interest
// (it is outside every range, or inside ranges equal on both sides).
func joinSpans(spans []span, n int) []span {
	for len(spans) > n {
		out := spans[:0]
		for i := 0; i < len(spans); i += 2 {
			s := spans[i]
			if i+1 < len(spans) {
				s.Hi = spans[i+1].Hi
			}
			out = append(out, s)
		}
		spans = out
	}
	return spans
}
