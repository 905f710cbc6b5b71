package api

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
)

// refBody is lakeFS's Ref schema: a branch or tag and its commit.
type refBody struct {
	ID       string `json:"id"`
	CommitID string `json:"commit_id"`
}

// branchCreation is lakeFS's BranchCreation schema.
type branchCreation struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	Force  *bool  `json:"force"`
	Hidden *bool  `json:"hidden"`
}

// resetCreation is lakeFS's ResetCreation schema.
type resetCreation struct {
	Type  string  `json:"type"`
	Path  *string `json:"path"`
	Force *bool   `json:"force"`
}

// commitOverrides is lakeFS's CommitOverrides schema.
type commitOverrides struct {
	Message  *string           `json:"message"`
	Metadata map[string]string `json:"metadata"`
}

// revertCreation is lakeFS's RevertCreation schema.
type revertCreation struct {
	Ref             string           `json:"ref"`
	ParentNumber    *int             `json:"parent_number"`
	CommitOverrides *commitOverrides `json:"commit_overrides"`
	Force           *bool            `json:"force"`
	AllowEmpty      *bool            `json:"allow_empty"`
}

// repoBranch reads the repository and branch path parameters.
func repoBranch(c *fiber.Ctx) (store.RepoID, store.BranchID, error) {
	repo, err := param(c, "repository")
	if err != nil {
		return "", "", err
	}
	branch, err := param(c, "branch")
	if err != nil {
		return "", "", err
	}
	return store.RepoID(repo), store.BranchID(branch), nil
}

// listBranches lists a repository's branches by name.
func (s *Server) listBranches(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	if _, err := queryBool(c, "show_hidden", false); err != nil {
		return err
	}
	ctx := c.UserContext()
	branches, hasMore, err := listByName(p, func(b *graph.Branch) string { return string(b.ID) }, nil,
		func(after string, amount int) ([]*graph.Branch, bool, error) {
			return s.graph.ListBranches(ctx, store.RepoID(repo), after, amount)
		})
	if err != nil {
		return err
	}
	out := make([]refBody, 0, len(branches))
	for _, b := range branches {
		out = append(out, refBody{ID: string(b.ID), CommitID: string(b.CommitID)})
	}
	return c.JSON(newList(out, hasMore, func(r refBody) string { return r.ID }))
}

// createBranch creates a branch at a reference and answers 201 with the
// commit id as a plain body, as lakeFS does.
func (s *Server) createBranch(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	var req branchCreation
	if err := readJSON(c, &req); err != nil {
		return err
	}
	switch {
	case req.Name == "":
		return badRequest("missing branch name")
	case req.Source == "":
		return badRequest("missing source reference")
	case req.Hidden != nil && *req.Hidden:
		return unsupported("hidden branches")
	}
	b, err := s.graph.CreateBranch(c.UserContext(), store.RepoID(repo), store.BranchID(req.Name), store.Ref(req.Source))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(http.StatusCreated).SendString(string(b.CommitID))
}

// getBranch returns a branch and its head commit.
func (s *Server) getBranch(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	b, err := s.graph.GetBranch(c.UserContext(), repo, branch)
	if err != nil {
		return err
	}
	return c.JSON(refBody{ID: string(b.ID), CommitID: string(b.CommitID)})
}

// deleteBranch deletes a branch and its uncommitted changes (204); the
// default branch cannot be deleted (403).
func (s *Server) deleteBranch(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	if _, err := queryBool(c, "force", false); err != nil {
		return err
	}
	if err := s.graph.DeleteBranch(c.UserContext(), repo, branch); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// resetBranch drops uncommitted changes: all of them (type "reset"), those
// of one object (type "object") or those under a prefix (type
// "common_prefix").
func (s *Server) resetBranch(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	var req resetCreation
	if err := readJSON(c, &req); err != nil {
		return err
	}
	ctx := c.UserContext()
	switch req.Type {
	case "reset":
		err = s.graph.ResetBranch(ctx, repo, branch)
	case pathTypeObject, pathTypeCommonPrefix:
		path := ""
		if req.Path != nil {
			path = *req.Path
		}
		if req.Type == pathTypeObject && path == "" {
			return badRequest("missing path of the object to reset")
		}
		err = s.graph.ResetPath(ctx, repo, branch, path, req.Type == pathTypeCommonPrefix)
	default:
		return badRequest("unknown reset type %q: want reset, object or common_prefix", req.Type)
	}
	if err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// hardResetBranch points a branch at a reference, dropping its
// uncommitted changes (204).
func (s *Server) hardResetBranch(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	ref, err := requiredQuery(c, "ref")
	if err != nil {
		return err
	}
	if _, err := queryBool(c, "force", false); err != nil {
		return err
	}
	if err := s.graph.HardResetBranch(c.UserContext(), repo, branch, store.Ref(ref)); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// revertBranch commits, on a branch, the inverse of the changes a commit
// made (204).
func (s *Server) revertBranch(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	user, err := currentUser(c)
	if err != nil {
		return err
	}
	var req revertCreation
	if err := readJSON(c, &req); err != nil {
		return err
	}
	switch {
	case req.Ref == "":
		return badRequest("missing ref to revert")
	case req.ParentNumber == nil:
		return badRequest("missing parent_number")
	case *req.ParentNumber < 0:
		return badRequest("parent_number must not be negative")
	}
	params := graph.CommitParams{Committer: user.Name, AllowEmpty: req.AllowEmpty != nil && *req.AllowEmpty}
	if o := req.CommitOverrides; o != nil {
		if o.Message != nil {
			params.Message = *o.Message
		}
		params.Metadata = o.Metadata
	}
	if _, err := s.graph.Revert(c.UserContext(), repo, branch, store.Ref(req.Ref), *req.ParentNumber, params); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// diffBranch lists a branch's uncommitted changes.
func (s *Server) diffBranch(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	items, hasMore, err := s.graph.DiffUncommitted(c.UserContext(), repo, branch, p.listOptions())
	if err != nil {
		return err
	}
	return c.JSON(newDiffList(items, hasMore, false))
}
