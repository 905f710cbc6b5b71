package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// errNoJobs answers job requests on a server built without a job store or
// broker.
var errNoJobs = newStatusError(http.StatusServiceUnavailable, "jobs are not available on this server (no job queue configured)")

// submitTimeout bounds storing and queueing one job, whatever the
// request's own deadline.
const submitTimeout = 30 * time.Second

// jobBody is the JSON form of a job: its state as the workers keep it,
// without their internal bookkeeping (checkpoint, waves).
type jobBody struct {
	ID              store.JobID     `json:"id"`
	Kind            jobs.Kind       `json:"kind"`
	Repository      store.RepoID    `json:"repository"`
	State           jobs.State      `json:"state"`
	Request         json.RawMessage `json:"request,omitempty"`
	Progress        jobs.Progress   `json:"progress"`
	Result          json.RawMessage `json:"result,omitempty"`
	Error           string          `json:"error,omitempty"`
	CancelRequested bool            `json:"cancel_requested,omitempty"`
	Committing      bool            `json:"committing,omitempty"`
	Revision        uint64          `json:"revision"`
	Attempts        int             `json:"attempts"`
	Worker          string          `json:"worker,omitempty"`
	CreatedAt       time.Time       `json:"created_at"`
	UpdatedAt       time.Time       `json:"updated_at"`
	StartedAt       *time.Time      `json:"started_at,omitempty"`
	FinishedAt      *time.Time      `json:"finished_at,omitempty"`
}

// newJobBody returns the JSON form of j.
func newJobBody(j *jobs.Job) jobBody {
	b := jobBody{
		ID: j.ID, Kind: j.Kind, Repository: j.Repo, State: j.State, Request: j.Request,
		Progress: j.Progress, Result: j.Result, Error: j.Error, CancelRequested: j.CancelRequested,
		Committing: j.Committing, Revision: j.Revision,
		Attempts: j.Attempts, Worker: j.Worker, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
	}
	if !j.StartedAt.IsZero() {
		t := j.StartedAt
		b.StartedAt = &t
	}
	if !j.FinishedAt.IsZero() {
		t := j.FinishedAt
		b.FinishedAt = &t
	}
	return b
}

// jobKinds are the kinds a job listing filters by.
var jobKinds = []jobs.Kind{jobs.KindImport, jobs.KindExport, jobs.KindGC, jobs.KindIngest}

// joinKinds returns kinds separated by ", ".
func joinKinds(kinds []jobs.Kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// jobRoutes registers the job endpoints: status, listing, cancellation and
// the event stream.
func (s *Server) jobRoutes(r fiber.Router) {
	r.Get("/jobs/:id", s.getJob)
	r.Delete("/jobs/:id", s.cancelJob)
	r.Get("/jobs/:id/events", s.jobEvents)
	r.Get("/repositories/:repository/jobs", s.listJobs)
}

// jobsReady reports errNoJobs when the server has no job store or broker.
func (s *Server) jobsReady() error {
	if s.jobs == nil || s.broker == nil {
		return errNoJobs
	}
	return nil
}

// submitJob stores a new job of kind for repo with request as its
// (already validated) request, queues it on lakeq.jobs.<kind> with the job
// id as the message id (after publishing its "submitted" event), and answers 202
// {"id": ...}. A job that cannot be queued is marked FAILED, so that it is
// never left waiting for a worker that will not come, and the request
// answers 503.
func (s *Server) submitJob(c *fiber.Ctx, kind jobs.Kind, repo store.RepoID, request any) error {
	if err := s.jobsReady(); err != nil {
		return err
	}
	raw, err := json.Marshal(request)
	if err != nil {
		return fmt.Errorf("submit %s job: encode request: %w", kind, err)
	}
	// The job must be queued once stored, even if the client goes away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), submitTimeout)
	defer cancel()
	j, err := s.jobs.Create(ctx, &jobs.Job{ID: jobs.NewID(time.Now()), Kind: kind, Repo: repo, Request: raw})
	if err != nil {
		return fmt.Errorf("submit %s job: %w", kind, err)
	}
	// Published first, so that it precedes what the worker publishes.
	s.publishJobEvent(ctx, j, jobs.EventSubmitted)
	err = s.jobs.Queue(ctx, j, s.broker.QueueJob)
	if errors.Is(err, jobs.ErrNotMarked) {
		// A worker will queue it again; the stream drops the duplicate.
		s.log.WarnContext(ctx, "mark job queued", "job_id", j.ID, "error", err)
	} else if err != nil {
		s.log.ErrorContext(ctx, "queue job", "job_id", j.ID, "kind", kind, "repository", repo,
			"request_id", requestID(c), "error", err)
		failed, uerr := s.jobs.Update(ctx, j.ID, func(j *jobs.Job) error {
			j.State, j.Error = jobs.StateFailed, "could not be queued: "+err.Error()
			return nil
		})
		if uerr != nil {
			s.log.ErrorContext(ctx, "mark unqueued job failed", "job_id", j.ID, "error", uerr)
		} else {
			s.publishJobEvent(ctx, failed, jobs.EventFailed)
		}
		return newStatusError(http.StatusServiceUnavailable, "job %s could not be queued; try again", j.ID)
	}
	return c.Status(http.StatusAccepted).JSON(fiber.Map{"id": j.ID})
}

// publishJobEvent publishes an event about j; a failure is logged only.
func (s *Server) publishJobEvent(ctx context.Context, j *jobs.Job, typ jobs.EventType) {
	subject, err := broker.EventSubject(j.Repo, string(j.Kind), j.ID)
	if err != nil {
		s.log.WarnContext(ctx, "no event subject for job", "job_id", j.ID, "error", err)
		return
	}
	data, err := json.Marshal(jobs.NewEvent(j, typ, time.Now()))
	if err != nil {
		return
	}
	if _, err := s.broker.PublishEvent(ctx, subject, data); err != nil {
		s.log.WarnContext(ctx, "publish job event", "job_id", j.ID, "type", typ, "error", err)
	}
}

// jobID reads and checks the :id path parameter.
func jobID(c *fiber.Ctx) (store.JobID, error) {
	v, err := param(c, "id")
	if err != nil {
		return "", err
	}
	id := store.JobID(v)
	if err := jobs.ValidateID(id); err != nil {
		return "", badRequest("invalid job id %q", v)
	}
	return id, nil
}

// getJob returns one job.
func (s *Server) getJob(c *fiber.Ctx) error {
	if err := s.jobsReady(); err != nil {
		return err
	}
	id, err := jobID(c)
	if err != nil {
		return err
	}
	j, err := s.jobs.Get(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(newJobBody(j))
}

// cancelJob asks for a job to be canceled: 204 (a queued job is canceled
// at once, a running one between two units of work, committing nothing),
// 409 when it has finished already, 404 when there is no such job.
func (s *Server) cancelJob(c *fiber.Ctx) error {
	if err := s.jobsReady(); err != nil {
		return err
	}
	id, err := jobID(c)
	if err != nil {
		return err
	}
	if err := s.requestCancel(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// requestCancel asks for job id to be canceled. A job canceled at once,
// before any worker took it, ends here: its canceled event is published
// here, as no worker will; a running job's worker publishes it.
func (s *Server) requestCancel(ctx context.Context, id store.JobID) error {
	j, err := s.jobs.RequestCancel(ctx, id)
	if err != nil {
		return err
	}
	if j.State == jobs.StateCanceled {
		s.publishJobEvent(ctx, j, jobs.EventCanceled)
	}
	return nil
}

// listJobs lists a repository's jobs in submission order, filtered by the
// query parameters kind (one of jobKinds) and state, paged with after (a
// job id) and amount. An unknown kind or state is a 400.
func (s *Server) listJobs(c *fiber.Ctx) error {
	if err := s.jobsReady(); err != nil {
		return err
	}
	name, err := param(c, "repository")
	if err != nil {
		return err
	}
	repo := store.RepoID(name)
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	var f jobs.Filter
	if k := c.Query("kind"); k != "" {
		f.Kind = jobs.Kind(k)
		if !slices.Contains(jobKinds, f.Kind) {
			return badRequest("query parameter kind: %q is not a job kind: want one of %s", k, joinKinds(jobKinds))
		}
	}
	if st := c.Query("state"); st != "" {
		f.State = jobs.State(strings.ToUpper(st))
		if !f.State.Valid() {
			return badRequest("query parameter state: %q: want one of SUBMITTED, IN_PROGRESS, COMPLETED, FAILED, CANCELED", st)
		}
	}
	after := store.JobID(p.After)
	if after != "" && jobs.ValidateID(after) != nil {
		return badRequest("query parameter after: invalid job id %q", p.After)
	}
	ctx := c.UserContext()
	if _, err := s.graph.GetRepository(ctx, repo); err != nil {
		return err
	}
	list, more, err := s.jobs.List(ctx, repo, f, after, p.Amount)
	if err != nil {
		return err
	}
	out := make([]jobBody, len(list))
	for i, j := range list {
		out[i] = newJobBody(j)
	}
	return c.JSON(newList(out, more, func(b jobBody) string { return string(b.ID) }))
}
