package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/tree"
)

// Path types of listings and diffs.
const (
	pathTypeObject       = "object"
	pathTypeCommonPrefix = "common_prefix"
)

// diffObjectStat is lakeFS's DiffObjectStat schema.
type diffObjectStat struct {
	Checksum    string            `json:"checksum"`
	Mtime       int64             `json:"mtime"`
	ContentType string            `json:"content_type"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// diffBody is lakeFS's Diff schema.
type diffBody struct {
	Type      string          `json:"type"`
	Path      string          `json:"path"`
	PathType  string          `json:"path_type"`
	SizeBytes *int64          `json:"size_bytes,omitempty"`
	Right     *diffObjectStat `json:"right,omitempty"`
}

// newDiffList converts a page of differences; with rightStats, changed and
// added objects carry their right-hand stats.
func newDiffList(items []graph.DiffItem, hasMore, rightStats bool) listResponse[diffBody] {
	out := make([]diffBody, 0, len(items))
	for _, d := range items {
		b := diffBody{Type: string(d.Type), Path: d.Path, PathType: pathTypeObject}
		if d.IsPrefix {
			b.PathType = pathTypeCommonPrefix
			out = append(out, b)
			continue
		}
		side := d.Right
		if d.Type == graph.DiffRemoved || side == nil {
			side = d.Left
		}
		if side != nil {
			size := side.Size
			b.SizeBytes = &size
		}
		if rightStats && d.Right != nil {
			b.Right = &diffObjectStat{
				Checksum:    d.Right.ETag,
				Mtime:       d.Right.MTime.Unix(),
				ContentType: contentTypeOrDefault(d.Right.ContentType),
				Metadata:    d.Right.Metadata,
			}
		}
		out = append(out, b)
	}
	return newList(out, hasMore, func(d diffBody) string { return d.Path })
}

// diffRefs lists the differences between two references. With type
// two_dot it compares the two trees; with three_dot (the default) it shows
// what right changed since its common ancestor with left.
func (s *Server) diffRefs(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	left, err := param(c, "leftRef")
	if err != nil {
		return err
	}
	right, err := param(c, "rightRef")
	if err != nil {
		return err
	}
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	rightStats, err := queryBool(c, "include_right_stats", false)
	if err != nil {
		return err
	}
	diffType := c.Query("type", "three_dot")
	if diffType != "two_dot" && diffType != "three_dot" {
		return badRequest("unknown diff type %q: want two_dot or three_dot", diffType)
	}
	ctx := c.UserContext()
	from := store.Ref(left)
	if diffType == "three_dot" {
		base, err := s.graph.MergeBase(ctx, store.RepoID(repo), store.Ref(left), store.Ref(right))
		if err != nil {
			return err
		}
		from = store.Ref(base.ID)
	}
	items, hasMore, err := s.graph.Diff(ctx, store.RepoID(repo), from, store.Ref(right), p.listOptions())
	if err != nil {
		return err
	}
	return c.JSON(newDiffList(items, hasMore, rightStats))
}

// mergeRequest is lakeFS's Merge schema.
type mergeRequest struct {
	Message     *string           `json:"message"`
	Metadata    map[string]string `json:"metadata"`
	Strategy    *string           `json:"strategy"`
	Force       *bool             `json:"force"`
	AllowEmpty  *bool             `json:"allow_empty"`
	SquashMerge *bool             `json:"squash_merge"`
}

// mergeResult is lakeFS's MergeResult schema.
type mergeResult struct {
	Reference string `json:"reference"`
}

// mergeStrategies maps lakeFS's strategy names.
var mergeStrategies = map[string]tree.MergeStrategy{
	"":            tree.MergeStrategyNone,
	"source-wins": tree.MergeStrategySourceWins,
	"dest-wins":   tree.MergeStrategyDestWins,
}

// merge merges a reference into a branch and answers with the merge
// commit's id; conflicts answer 409.
func (s *Server) merge(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	source, err := param(c, "sourceRef")
	if err != nil {
		return err
	}
	dest, err := param(c, "destinationBranch")
	if err != nil {
		return err
	}
	user, err := currentUser(c)
	if err != nil {
		return err
	}
	var req mergeRequest
	// The body is optional.
	if len(c.Request().Header.ContentType()) > 0 || c.Request().Header.ContentLength() > 0 {
		raw, err := readBody(c)
		if err != nil {
			return err
		}
		if len(raw) > 0 {
			if err := decodeJSON(raw, &req); err != nil {
				return err
			}
		}
	}
	if req.SquashMerge != nil && *req.SquashMerge {
		return unsupported("squash merges")
	}
	strategyName := ""
	if req.Strategy != nil {
		strategyName = *req.Strategy
	}
	strategy, ok := mergeStrategies[strategyName]
	if !ok {
		return badRequest("unknown merge strategy %q: want source-wins or dest-wins", strategyName)
	}
	params := graph.MergeParams{
		CommitParams: graph.CommitParams{
			Committer:  user.Name,
			Metadata:   req.Metadata,
			AllowEmpty: req.AllowEmpty != nil && *req.AllowEmpty,
		},
		Strategy: strategy,
	}
	if req.Message != nil {
		params.Message = *req.Message
	}
	commit, err := s.graph.Merge(c.UserContext(), store.RepoID(repo), store.Ref(source), store.BranchID(dest), params)
	if err != nil {
		return err
	}
	return c.JSON(mergeResult{Reference: string(commit.ID)})
}
