package api

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
)

// commitVersion is the commit record version lakeFS reports for commits
// whose parents are ordered destination first, as lakeq's are.
const commitVersion = 1

// commitBody is lakeFS's Commit schema.
type commitBody struct {
	ID           string            `json:"id"`
	Parents      []string          `json:"parents"`
	Committer    string            `json:"committer"`
	Message      string            `json:"message"`
	CreationDate int64             `json:"creation_date"`
	MetaRangeID  string            `json:"meta_range_id"`
	Metadata     map[string]string `json:"metadata"`
	Generation   int64             `json:"generation"`
	Version      int               `json:"version"`
}

func newCommitBody(c *graph.Commit) commitBody {
	parents := make([]string, 0, len(c.Parents))
	for _, p := range c.Parents {
		parents = append(parents, string(p))
	}
	md := c.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return commitBody{
		ID:           string(c.ID),
		Parents:      parents,
		Committer:    c.Committer,
		Message:      c.Message,
		CreationDate: c.CreationDate.Unix(),
		MetaRangeID:  string(c.MetaRangeID),
		Metadata:     md,
		Generation:   c.Generation,
		Version:      commitVersion,
	}
}

// commitCreation is lakeFS's CommitCreation schema.
type commitCreation struct {
	Message    *string           `json:"message"`
	Metadata   map[string]string `json:"metadata"`
	Date       *int64            `json:"date"`
	AllowEmpty *bool             `json:"allow_empty"`
	Force      *bool             `json:"force"`
}

// commit commits a branch's staged changes (201 with the commit).
func (s *Server) commit(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	user, err := currentUser(c)
	if err != nil {
		return err
	}
	if c.Query("source_metarange") != "" {
		return unsupported("committing a source metarange")
	}
	var req commitCreation
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Message == nil {
		return badRequest("missing commit message")
	}
	params := graph.CommitParams{
		Message:    *req.Message,
		Committer:  user.Name,
		Metadata:   req.Metadata,
		AllowEmpty: req.AllowEmpty != nil && *req.AllowEmpty,
	}
	if req.Date != nil {
		if *req.Date < 0 {
			return badRequest("date must be a non-negative Unix time")
		}
		params.Date = time.Unix(*req.Date, 0).UTC()
	}
	commit, err := s.graph.Commit(c.UserContext(), repo, branch, params)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(newCommitBody(commit))
}

// getCommit returns one commit by id (any reference expression works).
func (s *Server) getCommit(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	id, err := param(c, "commitId")
	if err != nil {
		return err
	}
	commit, err := s.graph.GetCommit(c.UserContext(), store.RepoID(repo), store.Ref(id))
	if err != nil {
		return err
	}
	return c.JSON(newCommitBody(commit))
}

// logCommits lists a reference's history, newest first. Besides lakeFS's
// paging it honours first_parent, limit (no paging past amount), since
// (stop at the first older commit) and stop_at (stop after that commit).
// Filtering by objects or prefixes is not supported.
func (s *Server) logCommits(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	ref, err := param(c, "ref")
	if err != nil {
		return err
	}
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	firstParent, err := queryBool(c, "first_parent", false)
	if err != nil {
		return err
	}
	limit, err := queryBool(c, "limit", false)
	if err != nil {
		return err
	}
	if c.Query("objects") != "" || c.Query("prefixes") != "" {
		return unsupported("filtering the log by objects or prefixes")
	}
	var since time.Time
	if v := c.Query("since"); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			return badRequest("query parameter since: %q is not an RFC 3339 date-time", v)
		}
	}
	ctx := c.UserContext()
	var stopAt store.CommitID
	if v := c.Query("stop_at"); v != "" {
		sc, err := s.graph.GetCommit(ctx, store.RepoID(repo), store.Ref(v))
		if err != nil {
			return err
		}
		stopAt = sc.ID
	}
	commits, hasMore, err := s.graph.Log(ctx, store.RepoID(repo), store.Ref(ref), graph.LogOptions{
		FirstParent: firstParent,
		After:       store.CommitID(p.After),
		Amount:      p.Amount,
	})
	if err != nil {
		return err
	}
	out := make([]commitBody, 0, len(commits))
	for _, cm := range commits {
		if !since.IsZero() && cm.CreationDate.Before(since) {
			hasMore = false
			break
		}
		out = append(out, newCommitBody(cm))
		if stopAt != "" && cm.ID == stopAt {
			hasMore = false
			break
		}
	}
	if limit {
		hasMore = false
	}
	return c.JSON(newList(out, hasMore, func(cm commitBody) string { return cm.ID }))
}
