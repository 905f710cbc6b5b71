// Package client is a typed HTTP client for lakeq's REST API, which follows
// lakeFS's paths, bodies and status codes under /api/v1. It speaks HTTP only
// and shares no code with the server.
//
// Every method is safe for concurrent use. Errors the server answered with
// are *APIError values carrying the status code and the server's message.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// apiPrefix is where the REST API is mounted.
const apiPrefix = "/api/v1"

// Config says where the server is and who is calling.
type Config struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:8000; a
	// trailing /api/v1 is accepted and ignored. Required.
	Endpoint string
	// AccessKeyID and SecretAccessKey are sent as HTTP basic
	// authentication, as lakeFS clients do. Both empty sends none.
	AccessKeyID     string
	SecretAccessKey string
	// HTTPClient sends the requests; default a client with a 30s
	// connection timeout and no overall timeout (uploads and downloads
	// stream).
	HTTPClient *http.Client
	// UserAgent is sent with every request; default "lakeq-cli".
	UserAgent string
}

// Client calls one lakeq server.
type Client struct {
	base *url.URL
	cfg  Config
	http *http.Client
}

// New returns a client for cfg.Endpoint. It does not contact the server.
func New(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("client: no endpoint (set --endpoint, LAKEQ_ENDPOINT or ~/.lakeq.yaml)")
	}
	u, err := url.Parse(strings.TrimRight(cfg.Endpoint, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: endpoint %q: %w", cfg.Endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: endpoint %q: want http://host:port or https://host", cfg.Endpoint)
	}
	u.Path = strings.TrimSuffix(u.Path, apiPrefix) + apiPrefix
	u.RawQuery, u.Fragment = "", ""
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: 5 * time.Minute,
			TLSHandshakeTimeout:   30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
		}}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "lakeq-cli"
	}
	return &Client{base: u, cfg: cfg, http: hc}, nil
}

// Endpoint returns the API's base URL, ending in /api/v1.
func (c *Client) Endpoint() string { return c.base.String() }

// APIError is a non-2xx answer from the server.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's {"message": …}, or the status text when the
	// body had none.
	Message string
	// Method and Path name the request that failed.
	Method, Path string
}

// Error returns "<status>: <message>".
func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// IsStatus reports whether err is an *APIError with the given status code.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == status
}

// request is one call: method, path below /api/v1 (already escaped), query,
// body and the headers that go with it.
type request struct {
	method string
	path   string
	query  url.Values
	body   io.Reader
	size   int64 // body length, -1 when unknown
	header http.Header
}

// jsonBody encodes v as a request body.
func jsonBody(v any) (io.Reader, int64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, 0, err
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// send performs r and returns the response when its status is 2xx (or 3xx
// that the transport did not follow); otherwise it reads the error body,
// closes it and returns an *APIError.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	u := *c.base
	u.RawPath = u.Path + r.path
	u.Path += unescapePath(r.path)
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), r.body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if r.body != nil && r.size >= 0 {
		req.ContentLength = r.size
		if r.size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if c.cfg.AccessKeyID != "" || c.cfg.SecretAccessKey != "" {
		req.SetBasicAuth(c.cfg.AccessKeyID, c.cfg.SecretAccessKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, r.path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readAPIError(resp, r.method, r.path)
}

// readAPIError builds an *APIError from a failed response.
func readAPIError(resp *http.Response, method, path string) error {
	const maxErrorBody = 64 << 10
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg := ""
	var body struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &body) == nil && body.Message != "" {
		msg = body.Message
	} else if s := strings.TrimSpace(string(b)); s != "" {
		msg = s
	} else {
		msg = http.StatusText(resp.StatusCode)
	}
	return &APIError{StatusCode: resp.StatusCode, Message: msg, Method: method, Path: path}
}

// do sends r and decodes a JSON answer into out (nil: discard the body).
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", r.method, r.path, err)
	}
	return nil
}

// doJSON sends in as a JSON body and decodes the answer into out.
func (c *Client) doJSON(ctx context.Context, method, path string, query url.Values, in, out any) error {
	body, size, err := jsonBody(in)
	if err != nil {
		return fmt.Errorf("%s %s: encode body: %w", method, path, err)
	}
	return c.do(ctx, request{
		method: method, path: path, query: query, body: body, size: size,
		header: http.Header{"Content-Type": {"application/json"}},
	}, out)
}

// Health checks that the server answers GET /api/v1/healthcheck.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, request{method: http.MethodGet, path: "/healthcheck"}, nil)
}

// seg escapes one path segment (a repository, branch or ref name).
func seg(s string) string { return url.PathEscape(s) }

// unescapePath reverses seg for the decoded form of a URL path.
func unescapePath(p string) string {
	if s, err := url.PathUnescape(p); err == nil {
		return s
	}
	return p
}
