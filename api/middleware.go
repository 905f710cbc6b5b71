package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/xid"

	"github.com/lakeq/lakeq/store/auth"
)

// HeaderRequestID carries a request's id: taken from the request when the
// client sends a usable one, generated otherwise, and always echoed in the
// response.
const HeaderRequestID = "X-Request-ID"

// maxRequestIDLength bounds a client-supplied request id.
const maxRequestIDLength = 128

type ctxKey int

const ctxKeyRequestID ctxKey = iota

const (
	localRequestID = "lakeq.request_id"
	localUser      = "lakeq.user"
)

// observe is the outermost middleware: it assigns the request id, gives the
// request its context, turns a handler's error into its response, and then
// records the access log line and the latency metric.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	id := c.Get(HeaderRequestID)
	if !validRequestID(id) {
		id = xid.New().String()
	}
	c.Locals(localRequestID, id)
	c.Set(HeaderRequestID, id)
	c.SetUserContext(context.WithValue(s.baseCtx, ctxKeyRequestID, id))

	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	drainBody(c)

	status := c.Response().StatusCode()
	route := routeOf(c)
	elapsed := time.Since(start)
	s.metrics.observe(c.Method(), route, status, elapsed)

	attrs := []slog.Attr{
		slog.String("request_id", id),
		slog.String("method", c.Method()),
		slog.String("route", route),
		slog.String("path", c.Path()),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("remote_addr", c.IP()),
	}
	if u, ok := c.Locals(localUser).(auth.User); ok {
		attrs = append(attrs, slog.String("user", u.Name))
	}
	s.log.LogAttrs(c.UserContext(), slog.LevelInfo, "http request", attrs...)
	return nil
}

// maxDrain is how much of a request body the server reads and discards
// after the handler is done with it, so that the connection can serve the
// next request; past it the connection is closed instead.
const maxDrain = 64 << 10

// drainBody consumes what the handler left of a streamed request body (a
// multipart epilogue, the end of a chunked body, a refused upload). The
// rest of an unread body would otherwise be parsed as the next request.
func drainBody(c *fiber.Ctx) {
	st := c.Context().RequestBodyStream()
	if st == nil || c.Response().ConnectionClose() {
		return
	}
	// A stream already read to its end must not be read again: fasthttp's
	// chunked reader would wait on the socket for a chunk that never comes.
	if done, ok := c.Locals(localBodyDone).(*bool); ok && *done {
		return
	}
	n, err := io.CopyN(io.Discard, st, maxDrain+1)
	if n > maxDrain || (err != nil && err != io.EOF) {
		c.Context().SetConnectionClose()
	}
}

// routeOf returns the route pattern that served c ("/api/v1/repositories/:repository"),
// or "unmatched" when no route did; patterns keep metric labels few.
func routeOf(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil || r.Path == "" || r.Path == "/" && c.Path() != "/" {
		return "unmatched"
	}
	return r.Path
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// requestID returns the id observe gave c.
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// recoverPanic turns a handler's panic into a 500 response, logging the
// panic and its stack once.
func (s *Server) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.LogAttrs(c.UserContext(), slog.LevelError, "panic in handler",
				slog.String("request_id", requestID(c)),
				slog.String("panic", fmt.Sprint(r)),
				slog.String("stack", string(debug.Stack())))
			err = errPanic
		}
	}()
	return c.Next()
}

// authenticate requires HTTP basic authentication with an access key id
// and its secret, as lakeFS does for API clients, and records the user.
func (s *Server) authenticate(c *fiber.Ctx) error {
	keyID, secret, ok := basicAuth(c.Get(fiber.HeaderAuthorization))
	if !ok {
		return errUnauthenticated
	}
	user, err := s.auth.Authenticate(c.UserContext(), keyID, secret)
	if err != nil {
		return err
	}
	c.Locals(localUser, user)
	return c.Next()
}

// CurrentUser returns the authenticated user of a request served under the
// authenticated /api/v1 router (routes added through Deps.Extra included).
func CurrentUser(c *fiber.Ctx) (auth.User, bool) {
	u, ok := c.Locals(localUser).(auth.User)
	return u, ok
}

// currentUser is CurrentUser for handlers, which answer 401 without one.
func currentUser(c *fiber.Ctx) (auth.User, error) {
	u, ok := CurrentUser(c)
	if !ok {
		return auth.User{}, errUnauthenticated
	}
	return u, nil
}

// basicAuth parses an "Authorization: Basic base64(id:secret)" header.
func basicAuth(header string) (id, secret string, ok bool) {
	const prefix = "basic "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	id, secret, ok = strings.Cut(string(raw), ":")
	if !ok || id == "" || secret == "" {
		return "", "", false
	}
	return id, secret, true
}

// limitBody rejects an upload over Config.BodyLimit with 413: at once when
// its Content-Length says so, and while reading when it is sent chunked.
func (s *Server) limitBody(c *fiber.Ctx) error {
	limit := int64(s.cfg.BodyLimit)
	if n := int64(c.Request().Header.ContentLength()); n > limit {
		return fmt.Errorf("%w: %d bytes, over the limit of %d", errBodyTooLarge, n, limit)
	}
	return c.Next()
}

// bodyReader returns the request body as a stream of at most limit bytes;
// reading past the limit fails with errBodyTooLarge.
func bodyReader(c *fiber.Ctx, limit int64) io.Reader {
	var r io.Reader
	if st := c.Context().RequestBodyStream(); st != nil {
		done := new(bool)
		c.Locals(localBodyDone, done)
		r = &eofReader{r: st, done: done}
	} else {
		r = strings.NewReader(string(c.Body()))
	}
	return &clientReader{r: &limitedReader{r: r, left: limit}}
}

// localBodyDone keys a *bool in the request's locals that is true once the
// streamed body was read to its end.
const localBodyDone = "lakeq.body_done"

// eofReader records that its stream reached the end.
type eofReader struct {
	r    io.Reader
	done *bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		*e.done = true
	}
	return n, err
}

// limitedReader is io.LimitReader that reports going over the limit
// instead of stopping quietly.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe for one more byte: the body may end exactly at the limit.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// isBodyTooLarge reports whether err came from reading past a body limit.
func isBodyTooLarge(err error) bool { return errors.Is(err, errBodyTooLarge) }
