package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/auth"
	"github.com/lakeq/lakeq/store/block"
)

// Errors the API raises itself.
var (
	// errUnauthenticated: no usable credentials in the request.
	errUnauthenticated = errors.New("error authenticating request")
	// errBodyTooLarge: a body over its limit.
	errBodyTooLarge = errors.New("request body too large")
	// errPanic: a handler panicked.
	errPanic = errors.New("handler panicked")
	// errBadRange: a Range header lakeq cannot read (several ranges, not
	// bytes, not numbers).
	errBadRange = errors.New("malformed range")
	// errUnsatisfiableRange: a well-formed range outside the object.
	errUnsatisfiableRange = errors.New("requested range not satisfiable")
)

// statusError is an error that answers with a given status: the handlers'
// own checks (a missing parameter, a malformed Range) that no store error
// describes.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// newStatusError returns an error answered with status and message.
func newStatusError(status int, format string, args ...any) error {
	return &statusError{status: status, msg: fmt.Sprintf(format, args...)}
}

// badRequest returns an error answered with 400 and the message.
func badRequest(format string, args ...any) error {
	return newStatusError(http.StatusBadRequest, format, args...)
}

// unsupported returns the error for a request option lakeFS has and lakeq
// does not: a bad request (400) for lakeq, so that it is told apart from a
// server failure.
func unsupported(format string, args ...any) error {
	return newStatusError(http.StatusBadRequest, "not supported by lakeq: "+format, args...)
}

// statusOf is the one place that maps an error to an HTTP status, following
// the statuses lakeFS answers with. More specific errors come first.
func statusOf(err error) int {
	var se *statusError
	var fe *fiber.Error
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.As(err, &fe):
		return fe.Code
	case errors.Is(err, errUnauthenticated), errors.Is(err, auth.ErrInvalidCredentials):
		return http.StatusUnauthorized
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBadRange), errors.Is(err, errUnsatisfiableRange), errors.Is(err, block.ErrInvalidRange):
		return http.StatusRequestedRangeNotSatisfiable
	case errors.Is(err, context.Canceled):
		return statusClientClosedRequest
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable

	// lakeFS answers these more specifically than their roots.
	case errors.Is(err, store.ErrDeleteDefault), errors.Is(err, store.ErrProtectedRef):
		return http.StatusForbidden
	case errors.Is(err, store.ErrDirtyBranch):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrTooManyRetries):
		return http.StatusTooManyRequests
	case errors.Is(err, block.ErrNotSupported):
		// lakeFS: an operation the blockstore cannot do is a bad request.
		return http.StatusBadRequest

	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrAlreadyExists), errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrPrecondition):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrNotImplemented):
		return http.StatusNotImplemented
	default:
		return http.StatusInternalServerError
	}
}

// statusClientClosedRequest is the non-standard status lakeFS (and nginx)
// record when the client went away.
const statusClientClosedRequest = 499

// errorBody is lakeFS's Error schema.
type errorBody struct {
	Message string `json:"message"`
}

// handleError answers a request whose handler failed with err: its status
// per statusOf and {"message": ...}. Server errors are logged here, once,
// and answered with a generic message that names the request id.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	status := statusOf(err)
	msg := err.Error()
	if status >= http.StatusInternalServerError && status != http.StatusNotImplemented && status != http.StatusServiceUnavailable {
		s.log.LogAttrs(c.UserContext(), slog.LevelError, "request failed",
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Method()),
			slog.String("path", c.Path()),
			slog.Int("status", status),
			slog.String("error", err.Error()))
		msg = fmt.Sprintf("internal server error (request id %s)", requestID(c))
	}
	if status == http.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="lakeq", charset="UTF-8"`)
	}
	// Drop whatever a handler may have set for a successful answer.
	c.Response().Header.Del(fiber.HeaderContentDisposition)
	c.Response().Header.Del(fiber.HeaderETag)
	c.Response().Header.Del(fiber.HeaderLastModified)
	if c.Method() == fiber.MethodHead {
		c.Status(status)
		return nil
	}
	return c.Status(status).JSON(errorBody{Message: msg})
}
