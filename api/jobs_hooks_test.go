package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/jobs"
)

// Test hooks into the job endpoints, for the tests of package api_test.

// SetSSEHeartbeat sets how often s's event streams send a heartbeat.
func SetSSEHeartbeat(s *Server, d time.Duration) { s.sse.heartbeat.Store(int64(d)) }

// OpenEventStreams returns how many event streams s is serving.
func OpenEventStreams(s *Server) int64 { return s.sse.open.Load() }

// SubmitJobHandler returns a handler that submits a job of kind for the
// :repository of the request with its JSON body as the request, as the
// import and export endpoints do.
func SubmitJobHandler(s func() *Server, kind jobs.Kind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var req map[string]any
		if err := readJSON(c, &req); err != nil {
			return err
		}
		return s().submitJob(c, kind, store.RepoID(c.Params("repository")), req)
	}
}
