package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

// ListOptions selects what a listing returns.
type ListOptions struct {
	// Prefix keeps only names (or paths) that start with it.
	Prefix string
	// After starts the listing after this name (exclusive).
	After string
	// Delimiter groups paths into common prefixes ("/" lists one
	// directory level); listings of objects and diffs only.
	Delimiter string
	// PageSize is how many items one request asks for; default 100 (the
	// server caps it at 1,000).
	PageSize int
}

// query returns the lakeFS paging parameters of o.
func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Prefix != "" {
		q.Set("prefix", o.Prefix)
	}
	if o.After != "" {
		q.Set("after", o.After)
	}
	if o.Delimiter != "" {
		q.Set("delimiter", o.Delimiter)
	}
	if o.PageSize > 0 {
		q.Set("amount", strconv.Itoa(o.PageSize))
	}
	return q
}

// listPage fetches one page of a list answer.
func listPage[T any](ctx context.Context, c *Client, path string, q url.Values) (page[T], error) {
	var p page[T]
	err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, &p)
	return p, err
}

// listAll walks every page of a listing, one request per page, following
// next_offset: memory holds one page at a time. The sequence stops after
// yielding the first error.
func listAll[T any](ctx context.Context, c *Client, path string, q url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for {
			p, err := listPage[T](ctx, c, path, q)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, item := range p.Results {
				if !yield(item, nil) {
					return
				}
			}
			if !p.Pagination.HasMore || p.Pagination.NextOffset == "" || len(p.Results) == 0 {
				return
			}
			q.Set("after", p.Pagination.NextOffset)
		}
	}
}
