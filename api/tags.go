package api

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
)

// tagCreation is lakeFS's TagCreation schema.
type tagCreation struct {
	ID    string `json:"id"`
	Ref   string `json:"ref"`
	Force *bool  `json:"force"`
}

// repoTag reads the repository and tag path parameters.
func repoTag(c *fiber.Ctx) (store.RepoID, store.TagID, error) {
	repo, err := param(c, "repository")
	if err != nil {
		return "", "", err
	}
	tag, err := param(c, "tag")
	if err != nil {
		return "", "", err
	}
	return store.RepoID(repo), store.TagID(tag), nil
}

// listTags lists a repository's tags by name.
func (s *Server) listTags(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	tags, hasMore, err := listByName(p, func(t *graph.Tag) string { return string(t.ID) }, nil,
		func(after string, amount int) ([]*graph.Tag, bool, error) {
			return s.graph.ListTags(ctx, store.RepoID(repo), after, amount)
		})
	if err != nil {
		return err
	}
	out := make([]refBody, 0, len(tags))
	for _, t := range tags {
		out = append(out, refBody{ID: string(t.ID), CommitID: string(t.CommitID)})
	}
	return c.JSON(newList(out, hasMore, func(r refBody) string { return r.ID }))
}

// createTag names the commit a reference resolves to (201).
func (s *Server) createTag(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	var req tagCreation
	if err := readJSON(c, &req); err != nil {
		return err
	}
	switch {
	case req.ID == "":
		return badRequest("missing tag id")
	case req.Ref == "":
		return badRequest("missing ref to tag")
	case req.Force != nil && *req.Force:
		return unsupported("force-replacing a tag")
	}
	t, err := s.graph.CreateTag(c.UserContext(), store.RepoID(repo), store.TagID(req.ID), store.Ref(req.Ref))
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(refBody{ID: string(t.ID), CommitID: string(t.CommitID)})
}

// getTag returns a tag and its commit.
func (s *Server) getTag(c *fiber.Ctx) error {
	repo, tag, err := repoTag(c)
	if err != nil {
		return err
	}
	t, err := s.graph.GetTag(c.UserContext(), repo, tag)
	if err != nil {
		return err
	}
	return c.JSON(refBody{ID: string(t.ID), CommitID: string(t.CommitID)})
}

// deleteTag deletes a tag (204).
func (s *Server) deleteTag(c *fiber.Ctx) error {
	repo, tag, err := repoTag(c)
	if err != nil {
		return err
	}
	if _, err := queryBool(c, "force", false); err != nil {
		return err
	}
	if err := s.graph.DeleteTag(c.UserContext(), repo, tag); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
