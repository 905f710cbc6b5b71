package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/graph"
	"github.com/lakeq/lakeq/store/jobs"
)

// importCreation is lakeFS's ImportCreation schema.
type importCreation struct {
	Paths  []jobs.ImportPath `json:"paths"`
	Commit *struct {
		Message  *string           `json:"message"`
		Metadata map[string]string `json:"metadata"`
	} `json:"commit"`
	Force bool `json:"force"`
}

// importStatusBody is lakeFS's ImportStatus schema.
type importStatusBody struct {
	Completed       bool        `json:"completed"`
	UpdateTime      time.Time   `json:"update_time"`
	IngestedObjects int64       `json:"ingested_objects"`
	MetaRangeID     string      `json:"metarange_id,omitempty"`
	Commit          *commitBody `json:"commit,omitempty"`
	Error           *errorBody  `json:"error,omitempty"`
}

// importRoutes registers lakeFS's import start, status and cancel.
func (s *Server) importRoutes(r fiber.Router) {
	r.Post("/repositories/:repository/branches/:branch/import", s.importStart)
	r.Get("/repositories/:repository/branches/:branch/import", s.importStatus)
	r.Delete("/repositories/:repository/branches/:branch/import", s.importCancel)
}

// importStart validates an import and submits it as a job: 202 {"id"}.
// Nothing is enqueued unless the branch exists, every source is a
// well-formed URI of a storage lakeq reads (local paths only under the
// allowed roots) outside every repository's storage namespace, its bucket
// exists, each object source exists, each prefix source holds at least
// one object, and — without force — the branch has no uncommitted changes
// (409).
func (s *Server) importStart(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	user, err := currentUser(c)
	if err != nil {
		return err
	}
	var body importCreation
	if err := readJSON(c, &body); err != nil {
		return err
	}
	if body.Commit == nil {
		return badRequest("missing commit")
	}
	req := &jobs.ImportRequest{
		Branch:    branch,
		Paths:     body.Paths,
		Force:     body.Force,
		Committer: user.Name,
	}
	if body.Commit.Message != nil {
		req.Commit.Message = *body.Commit.Message
	}
	req.Commit.Metadata = body.Commit.Metadata
	if err := req.Validate(); err != nil {
		return err
	}
	ctx := c.UserContext()
	r, err := s.graph.GetRepository(ctx, repo)
	if err != nil {
		return err
	}
	if _, err := s.graph.GetBranch(ctx, repo, branch); err != nil {
		return err
	}
	if err := s.checkImportSources(ctx, r.StorageNamespace, req); err != nil {
		return err
	}
	if !req.Force {
		dirty, _, err := s.graph.DiffUncommitted(ctx, repo, branch, graph.ListOptions{Amount: 1})
		if err != nil {
			return err
		}
		if len(dirty) > 0 {
			return newStatusError(http.StatusConflict, "branch %s has uncommitted changes: commit or reset them, or import with force", branch)
		}
	}
	return s.submitJob(c, jobs.KindImport, repo, req)
}

// checkImportSources checks what an import's sources point at: no source
// lies inside a repository's storage namespace (the target's or any
// other's) or holds one, each source's bucket exists, each object source
// exists, and each prefix source holds at least one object.
func (s *Server) checkImportSources(ctx context.Context, namespace string, req *jobs.ImportRequest) error {
	blocks := s.graph.Blocks()
	ns, err := s.resolveURI(namespace)
	if err != nil {
		return fmt.Errorf("repository storage namespace: %w", err)
	}
	sources := make([]block.URI, len(req.Paths))
	targets := make([]block.Target, len(req.Paths))
	for i, p := range req.Paths {
		u, err := p.Source()
		if err != nil {
			return fmt.Errorf("paths[%d]: %w", i, err)
		}
		t, err := blocks.Resolve(u)
		if err != nil {
			return fmt.Errorf("paths[%d]: %w", i, err)
		}
		if overlapsNamespace(ns, t, p.Type == jobs.ImportObject) {
			return badRequest("paths[%d]: %s lies inside the repository's storage namespace %s (or holds it): import from outside it", i, u, namespace)
		}
		sources[i], targets[i] = u, t
	}
	// One pass over the repositories checks every source.
	hit := -1
	owner, err := s.namespaceOwner(ctx, func(ns block.Target) bool {
		for i, t := range targets {
			if overlapsNamespace(ns, t, req.Paths[i].Type == jobs.ImportObject) {
				hit = i
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("check import sources: %w", err)
	}
	if owner != nil {
		return badRequest("paths[%d]: %s lies inside the storage namespace %s of repository %s (or holds it): import from outside every repository's storage namespace",
			hit, sources[hit], owner.StorageNamespace, owner.ID)
	}
	checkedBuckets := map[string]bool{}
	for i, p := range req.Paths {
		u, t := sources[i], targets[i]
		if b := u.Scheme + "://" + u.Bucket; !checkedBuckets[b] {
			ok, err := t.Store.BucketExists(ctx, t.Bucket)
			if err != nil {
				return fmt.Errorf("paths[%d]: bucket of %s: %w", i, u, err)
			}
			if !ok {
				return badRequest("paths[%d]: bucket %q of %s does not exist", i, u.Bucket, u)
			}
			checkedBuckets[b] = true
		}
		switch p.Type {
		case jobs.ImportObject:
			if _, err := t.Store.Stat(ctx, t.Bucket, t.Key); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return badRequest("paths[%d]: source object %s does not exist", i, u)
				}
				return fmt.Errorf("paths[%d]: %s: %w", i, u, err)
			}
		case jobs.ImportCommonPrefix:
			// An empty source would replace everything under its
			// destination with nothing: most likely a mistyped prefix.
			page, err := t.Store.List(ctx, t.Bucket, block.ListOptions{Prefix: t.Key, MaxKeys: 1})
			if err != nil {
				return fmt.Errorf("paths[%d]: list %s: %w", i, u, err)
			}
			if len(page.Items) == 0 {
				return badRequest("paths[%d]: source %s has no objects", i, u)
			}
		}
	}
	return nil
}

// importJob returns the import job the request's id query names, if it is
// an import into the request's repository and branch.
func (s *Server) importJob(c *fiber.Ctx) (*jobs.Job, *jobs.ImportRequest, error) {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return nil, nil, err
	}
	id := store.JobID(c.Query("id"))
	if id == "" {
		return nil, nil, badRequest("missing import id (query parameter id)")
	}
	if err := jobs.ValidateID(id); err != nil {
		return nil, nil, badRequest("invalid import id %q", id)
	}
	j, err := s.jobs.Get(c.UserContext(), id)
	if err != nil {
		return nil, nil, err
	}
	var req jobs.ImportRequest
	if j.Kind != jobs.KindImport || j.Repo != repo || json.Unmarshal(j.Request, &req) != nil || req.Branch != branch {
		return nil, nil, fmt.Errorf("import %q of %s/%s: %w", id, repo, branch, store.ErrJobNotFound)
	}
	return j, &req, nil
}

// importStatus reports an import's progress and, once it completed, its
// commit.
func (s *Server) importStatus(c *fiber.Ctx) error {
	j, _, err := s.importJob(c)
	if err != nil {
		return err
	}
	body := importStatusBody{
		Completed:       j.State == jobs.StateCompleted,
		UpdateTime:      j.UpdatedAt,
		IngestedObjects: j.Progress.Done,
	}
	switch j.State {
	case jobs.StateCompleted:
		var res jobs.ImportResult
		if err := json.Unmarshal(j.Result, &res); err != nil {
			return fmt.Errorf("import %s: decode result: %w", j.ID, err)
		}
		body.IngestedObjects = res.Ingested
		body.MetaRangeID = res.MetaRangeID
		commit, err := s.graph.GetCommit(c.UserContext(), j.Repo, store.Ref(res.CommitID))
		if err != nil {
			return err
		}
		cb := newCommitBody(commit)
		body.Commit = &cb
	case jobs.StateFailed:
		body.Error = &errorBody{Message: j.Error}
	case jobs.StateCanceled:
		msg := "import canceled"
		if j.Error != "" {
			msg += ": " + j.Error
		}
		body.Error = &errorBody{Message: msg}
	}
	return c.JSON(body)
}

// importCancel asks a running import to stop: 204, or 409 when it has
// finished already. A canceled import commits nothing.
func (s *Server) importCancel(c *fiber.Ctx) error {
	j, _, err := s.importJob(c)
	if err != nil {
		return err
	}
	if err := s.requestCancel(c.UserContext(), j.ID); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
