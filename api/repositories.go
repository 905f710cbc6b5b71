package api

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
)

// defaultBranchName is the default branch of a new repository when the
// request names none, as in lakeFS.
const defaultBranchName = "main"

// repositoryBody is lakeFS's Repository schema.
type repositoryBody struct {
	ID               string `json:"id"`
	CreationDate     int64  `json:"creation_date"`
	DefaultBranch    string `json:"default_branch"`
	StorageNamespace string `json:"storage_namespace"`
	ReadOnly         bool   `json:"read_only"`
}

func newRepositoryBody(r *graph.Repository) repositoryBody {
	return repositoryBody{
		ID:               string(r.ID),
		CreationDate:     r.CreationDate.Unix(),
		DefaultBranch:    string(r.DefaultBranch),
		StorageNamespace: r.StorageNamespace,
	}
}

// repositoryCreation is lakeFS's RepositoryCreation schema.
type repositoryCreation struct {
	Name             string  `json:"name"`
	StorageNamespace string  `json:"storage_namespace"`
	DefaultBranch    *string `json:"default_branch"`
	SampleData       *bool   `json:"sample_data"`
	ReadOnly         *bool   `json:"read_only"`
	StorageID        *string `json:"storage_id"`
}

// validate checks what the store does not: required fields and the options
// lakeq does not offer.
func (r *repositoryCreation) validate() error {
	switch {
	case r.Name == "":
		return badRequest("missing repository name")
	case r.StorageNamespace == "":
		return badRequest("missing storage_namespace")
	case r.SampleData != nil && *r.SampleData:
		return unsupported("sample_data")
	case r.ReadOnly != nil && *r.ReadOnly:
		return unsupported("read-only repositories")
	case r.StorageID != nil && *r.StorageID != "":
		return badRequest("unknown storage_id %q: lakeq has a single storage configuration", *r.StorageID)
	}
	return nil
}

// listRepositories lists repositories by id (prefix, after, amount, and
// search: a substring of the id).
func (s *Server) listRepositories(c *fiber.Ctx) error {
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	var keep func(*graph.Repository) bool
	if search := c.Query("search"); search != "" {
		keep = func(r *graph.Repository) bool { return strings.Contains(string(r.ID), search) }
	}
	ctx := c.UserContext()
	repos, hasMore, err := listByName(p, func(r *graph.Repository) string { return string(r.ID) }, keep,
		func(after string, amount int) ([]*graph.Repository, bool, error) {
			return s.graph.ListRepositories(ctx, after, amount)
		})
	if err != nil {
		return err
	}
	out := make([]repositoryBody, 0, len(repos))
	for _, r := range repos {
		out = append(out, newRepositoryBody(r))
	}
	return c.JSON(newList(out, hasMore, func(r repositoryBody) string { return r.ID }))
}

// createRepository creates a repository with its default branch (201).
func (s *Server) createRepository(c *fiber.Ctx) error {
	bare, err := queryBool(c, "bare", false)
	if err != nil {
		return err
	}
	if bare {
		return unsupported("bare repositories")
	}
	var req repositoryCreation
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	branch := defaultBranchName
	if req.DefaultBranch != nil && *req.DefaultBranch != "" {
		branch = *req.DefaultBranch
	}
	ctx, release, err := s.graph.LockNamespaces(c.UserContext())
	if err != nil {
		return err
	}
	defer release()
	if err := s.checkNewNamespace(ctx, store.RepoID(req.Name), req.StorageNamespace); err != nil {
		return err
	}
	repo, err := s.graph.CreateRepository(ctx, store.RepoID(req.Name), req.StorageNamespace, store.BranchID(branch))
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(newRepositoryBody(repo))
}

// getRepository returns one repository.
func (s *Server) getRepository(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	r, err := s.graph.GetRepository(c.UserContext(), store.RepoID(repo))
	if err != nil {
		return err
	}
	return c.JSON(newRepositoryBody(r))
}

// deleteRepository deletes a repository's metadata (204); its objects stay
// in storage.
func (s *Server) deleteRepository(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	if _, err := queryBool(c, "force", false); err != nil {
		return err
	}
	if err := s.graph.DeleteRepository(c.UserContext(), store.RepoID(repo)); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
