package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/jobs"
)

// exportCreation is the body of POST /repositories/{repository}/export.
type exportCreation struct {
	// Ref (a branch, tag or any reference expression; a branch means its
	// head, committed changes only) or CommitID names what is exported.
	Ref          string             `json:"ref"`
	CommitID     string             `json:"commit_id"`
	PrevCommitID string             `json:"prev_commit_id"`
	Destination  string             `json:"destination"`
	Rounds       []jobs.ExportRound `json:"rounds"`
	Parallelism  int                `json:"parallelism"`
}

// exportRuleCreation is the body of PUT …/branches/{branch}/export_rule.
type exportRuleCreation struct {
	Destination string             `json:"destination"`
	Rounds      []jobs.ExportRound `json:"rounds"`
	Parallelism int                `json:"parallelism"`
}

// exportRoutes registers the export submission and the continuous-export
// rules. Export jobs are followed through the jobs API and their events.
func (s *Server) exportRoutes(r fiber.Router) {
	r.Post("/repositories/:repository/export", s.exportStart)
	r.Get("/repositories/:repository/branches/:branch/export_rule", s.getExportRule)
	r.Put("/repositories/:repository/branches/:branch/export_rule", s.putExportRule)
	r.Delete("/repositories/:repository/branches/:branch/export_rule", s.deleteExportRule)
}

// exportStart validates an export and submits it as a job: 202 {"id"}.
// The reference is resolved to a commit here, so the job exports exactly
// what the branch held at submission. Nothing is enqueued unless the
// repository, the commit and the previous commit exist (404 otherwise),
// and the destination is a well-formed s3:// or local:// URI of a storage
// lakeq writes to, outside every repository's storage namespace (and
// holding none), whose bucket exists and answers (400 otherwise).
func (s *Server) exportStart(c *fiber.Ctx) error {
	repoName, err := param(c, "repository")
	if err != nil {
		return err
	}
	repo := store.RepoID(repoName)
	user, err := currentUser(c)
	if err != nil {
		return err
	}
	var body exportCreation
	if err := readJSON(c, &body); err != nil {
		return err
	}
	ref := body.Ref
	switch {
	case body.Ref == "" && body.CommitID == "":
		return badRequest("export: give ref (a branch, tag or commit) or commit_id")
	case body.Ref != "" && body.CommitID != "":
		return badRequest("export: give ref or commit_id, not both")
	case body.CommitID != "":
		ref = body.CommitID
	}
	ctx := c.UserContext()
	r, err := s.graph.GetRepository(ctx, repo)
	if err != nil {
		return err
	}
	commit, err := s.graph.GetCommit(ctx, repo, store.Ref(ref))
	if err != nil {
		return err
	}
	req := &jobs.ExportRequest{
		Ref:         store.Ref(ref),
		CommitID:    commit.ID,
		Destination: body.Destination,
		Rounds:      body.Rounds,
		Parallelism: body.Parallelism,
		Submitter:   user.Name,
	}
	if body.PrevCommitID != "" {
		prev, err := s.graph.GetCommit(ctx, repo, store.Ref(body.PrevCommitID))
		if err != nil {
			return err
		}
		req.PrevCommitID = prev.ID
	}
	if err := req.Validate(); err != nil {
		return err
	}
	if err := s.checkExportDestination(ctx, r.StorageNamespace, req.Destination); err != nil {
		return err
	}
	return s.submitJob(c, jobs.KindExport, repo, req)
}

// checkExportDestination checks that an export can write to dest: not
// into the storage namespace of the exporting repository (namespace) or
// of any other, nor over a prefix that holds one, and into a bucket that
// exists and answers.
func (s *Server) checkExportDestination(ctx context.Context, namespace, dest string) error {
	u, t, err := s.exportTarget(dest)
	if err != nil {
		return err
	}
	if err := checkExportReachable(ctx, u, t); err != nil {
		return err
	}
	return s.checkExportOverlap(ctx, namespace, u, t)
}

// exportTarget parses and resolves an export destination.
func (s *Server) exportTarget(dest string) (block.URI, block.Target, error) {
	u, err := jobs.ExportDestination(dest)
	if err != nil {
		return block.URI{}, block.Target{}, err
	}
	t, err := s.graph.Blocks().Resolve(u)
	if err != nil {
		return block.URI{}, block.Target{}, err
	}
	return u, t, nil
}

// checkExportOverlap checks that the export destination u, resolved to t,
// lies neither in the storage namespace of the exporting repository
// (namespace) or of any other, nor over a prefix that holds one.
func (s *Server) checkExportOverlap(ctx context.Context, namespace string, u block.URI, t block.Target) error {
	ns, err := s.resolveURI(namespace)
	if err != nil {
		return err
	}
	if destinationOverlaps(ns, t) {
		return badRequest("export: destination %s overlaps the repository's storage namespace %s: export outside it", u, namespace)
	}
	owner, err := s.namespaceOwner(ctx, func(ns block.Target) bool { return destinationOverlaps(ns, t) })
	if err != nil {
		return fmt.Errorf("check export destination: %w", err)
	}
	if owner != nil {
		return badRequest("export: destination %s overlaps the storage namespace %s of repository %s: export outside every repository's storage namespace",
			u, owner.StorageNamespace, owner.ID)
	}
	return nil
}

// checkExportReachable checks that the bucket of the export destination
// u, resolved to t, exists and answers.
func checkExportReachable(ctx context.Context, u block.URI, t block.Target) error {
	ok, err := t.Store.BucketExists(ctx, t.Bucket)
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case err != nil:
		return badRequest("export: destination %s is not reachable: %v", u, err)
	case !ok:
		return badRequest("export: destination bucket %q of %s does not exist", u.Bucket, u)
	}
	return nil
}

// getExportRule returns a branch's continuous-export rule, or 404.
func (s *Server) getExportRule(c *fiber.Ctx) error {
	if err := s.jobsReady(); err != nil {
		return err
	}
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := s.graph.GetBranch(ctx, repo, branch); err != nil {
		return err
	}
	rule, err := s.jobs.ExportRules().Get(ctx, repo, branch)
	if err != nil {
		return err
	}
	return c.JSON(rule)
}

// putExportRule sets a branch's continuous-export rule: from now on every
// new commit of the branch is exported to the destination as a diff from
// the previous one. A new rule starts at the branch's current head (export
// it in full first if the destination should hold it); a replaced one
// keeps its position. 201 for a new rule, 200 for a replaced one.
func (s *Server) putExportRule(c *fiber.Ctx) error {
	if err := s.jobsReady(); err != nil {
		return err
	}
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	var body exportRuleCreation
	if err := readJSON(c, &body); err != nil {
		return err
	}
	ctx := c.UserContext()
	r, err := s.graph.GetRepository(ctx, repo)
	if err != nil {
		return err
	}
	b, err := s.graph.GetBranch(ctx, repo, branch)
	if err != nil {
		return err
	}
	rule := &jobs.ExportRule{
		Repo: repo, Branch: branch, Destination: body.Destination,
		Rounds: body.Rounds, Parallelism: body.Parallelism, LastExported: b.CommitID,
	}
	if err := rule.Validate(); err != nil {
		return err
	}
	u, t, err := s.exportTarget(rule.Destination)
	if err != nil {
		return err
	}
	if err := checkExportReachable(ctx, u, t); err != nil {
		return err
	}
	// The destination is checked against the namespaces and claimed
	// under the lock that repository creations take.
	lctx, release, err := s.graph.LockNamespaces(ctx)
	if err != nil {
		return err
	}
	defer release()
	if err := s.checkExportOverlap(lctx, r.StorageNamespace, u, t); err != nil {
		return err
	}
	rules := s.jobs.ExportRules()
	_, getErr := rules.Get(lctx, repo, branch)
	stored, err := rules.Put(lctx, rule)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if errors.Is(getErr, store.ErrNotFound) {
		status = http.StatusCreated
	}
	return c.Status(status).JSON(stored)
}

// deleteExportRule removes a branch's continuous-export rule: 204, or 404.
// An export the rule already submitted runs to its end.
func (s *Server) deleteExportRule(c *fiber.Ctx) error {
	if err := s.jobsReady(); err != nil {
		return err
	}
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	if err := s.jobs.ExportRules().Delete(c.UserContext(), repo, branch); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}
