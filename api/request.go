package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// readJSON decodes the request's JSON body into v. The body must be one
// JSON value of at most JSONBodyLimit bytes (413 otherwise); a missing or
// malformed body, or a field of the wrong type, is a bad request. Unknown
// fields are ignored, as newer clients may send them.
func readJSON(c *fiber.Ctx, v any) error {
	raw, err := readBody(c)
	if err != nil {
		return err
	}
	return decodeJSON(raw, v)
}

// readBody reads a request body of at most JSONBodyLimit bytes (413
// otherwise).
func readBody(c *fiber.Ctx) ([]byte, error) {
	if c.Request().Header.ContentLength() > JSONBodyLimit {
		return nil, errBodyTooLarge
	}
	raw, err := io.ReadAll(bodyReader(c, JSONBodyLimit))
	if err != nil {
		if isBodyTooLarge(err) {
			return nil, errBodyTooLarge
		}
		return nil, badRequest("read request body: %v", err)
	}
	return raw, nil
}

// decodeJSON is readJSON's parsing half.
func decodeJSON(raw []byte, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return badRequest("missing request body")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return badRequest("invalid request body: field %q must be %s", te.Field, te.Type.String())
		}
		return badRequest("invalid request body: %v", err)
	}
	if dec.More() {
		return badRequest("invalid request body: more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("invalid request body: trailing data")
	}
	return nil
}

// param returns path parameter name, percent-decoded (clients escape
// reference modifiers such as '^').
func param(c *fiber.Ctx, name string) (string, error) {
	v, err := url.PathUnescape(c.Params(name))
	if err != nil {
		return "", badRequest("invalid %s in path: %v", name, err)
	}
	return v, nil
}

// queryBool reads an optional boolean query parameter; absent or empty is
// def.
func queryBool(c *fiber.Ctx, name string, def bool) (bool, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("query parameter %s: %q is not a boolean", name, v)
	}
	return b, nil
}

// queryInt reads an optional integer query parameter; ok is false when it
// is absent or empty.
func queryInt(c *fiber.Ctx, name string) (n int, ok bool, err error) {
	v := c.Query(name)
	if v == "" {
		return 0, false, nil
	}
	n, err = strconv.Atoi(v)
	if err != nil {
		return 0, false, badRequest("query parameter %s: %q is not an integer", name, v)
	}
	return n, true, nil
}

// requiredQuery reads a query parameter that must be present and non-empty.
func requiredQuery(c *fiber.Ctx, name string) (string, error) {
	v := c.Query(name)
	if v == "" {
		return "", badRequest("missing query parameter %s", name)
	}
	return v, nil
}
