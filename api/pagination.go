package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store/graph"
)

// Page sizes, as lakeFS has them.
const (
	// defaultPerPage is the page size when a request gives no amount.
	defaultPerPage = 100
	// maxPerPage is the largest page the API returns.
	maxPerPage = 1000
)

// pagination is lakeFS's Pagination schema.
type pagination struct {
	HasMore    bool   `json:"has_more"`
	NextOffset string `json:"next_offset"`
	Results    int    `json:"results"`
	MaxPerPage int    `json:"max_per_page"`
}

// listResponse is the {"pagination": ..., "results": [...]} envelope of
// every listing.
type listResponse[T any] struct {
	Pagination pagination `json:"pagination"`
	Results    []T        `json:"results"`
}

// newList wraps one page of results; next is the offset of the following
// page (the last result's id or path), used only when hasMore.
func newList[T any](results []T, hasMore bool, next func(T) string) listResponse[T] {
	if results == nil {
		results = []T{}
	}
	p := pagination{HasMore: hasMore, Results: len(results), MaxPerPage: maxPerPage}
	if hasMore && len(results) > 0 {
		p.NextOffset = next(results[len(results)-1])
	}
	return listResponse[T]{Pagination: p, Results: results}
}

// pageParams are the paging query parameters lakeFS's listings take.
type pageParams struct {
	Prefix    string
	After     string
	Delimiter string
	Amount    int
}

// listOptions returns p as the graph's listing options.
func (p pageParams) listOptions() graph.ListOptions {
	return graph.ListOptions{Prefix: p.Prefix, After: p.After, Delimiter: p.Delimiter, Amount: p.Amount}
}

// parsePage reads prefix, after, delimiter and amount. An amount of zero
// or less means the default (100), and more than 1,000 means 1,000, as in
// lakeFS; an amount that is not an integer is a bad request.
func parsePage(c *fiber.Ctx) (pageParams, error) {
	p := pageParams{Prefix: c.Query("prefix"), After: c.Query("after"), Delimiter: c.Query("delimiter")}
	n, ok, err := queryInt(c, "amount")
	if err != nil {
		return p, err
	}
	switch {
	case !ok || n <= 0:
		p.Amount = defaultPerPage
	case n > maxPerPage:
		p.Amount = maxPerPage
	default:
		p.Amount = n
	}
	return p, nil
}

// listByName pages through a name-ordered listing (repositories,
// branches, tags) whose store takes only an exclusive start and a count,
// adding lakeFS's prefix filter and an optional extra filter (keep may be
// nil). It stops at the first name past the prefix.
func listByName[T any](p pageParams, name func(T) string, keep func(T) bool,
	fetch func(after string, amount int) ([]T, bool, error)) ([]T, bool, error) {
	after := p.After
	if p.Prefix != "" && after < p.Prefix {
		after = beforePrefix(p.Prefix)
	}
	var out []T
	for {
		page, more, err := fetch(after, p.Amount)
		if err != nil {
			return nil, false, err
		}
		for _, item := range page {
			n := name(item)
			if p.Prefix != "" && !strings.HasPrefix(n, p.Prefix) {
				if n > p.Prefix {
					return out, false, nil
				}
				continue
			}
			if keep != nil && !keep(item) {
				continue
			}
			if len(out) == p.Amount {
				return out, true, nil
			}
			out = append(out, item)
		}
		if !more || len(page) == 0 {
			return out, false, nil
		}
		after = name(page[len(page)-1])
	}
}

// beforePrefix returns a string that sorts before prefix and after every
// name that sorts before it, so that listing strictly after it starts at
// prefix. Names are valid UTF-8 and so contain no 0xff byte.
func beforePrefix(prefix string) string {
	last := prefix[len(prefix)-1]
	if last == 0 {
		return prefix[:len(prefix)-1]
	}
	return prefix[:len(prefix)-1] + string([]byte{last - 1, 0xff})
}
