package main

import (
	"fmt"

	"github.com/lakeq/lakeq/store"
)

// uriKind says how much of a lakeq:// URI a command argument needs.
type uriKind int

const (
	uriRepo    uriKind = iota // lakeq://repo
	uriRef                    // lakeq://repo/ref
	uriRefPath                // lakeq://repo/ref[/path]: the path is optional
	uriPath                   // lakeq://repo/ref/path
)

// parseURIArg parses a command argument as a lakeq:// URI with at least
// what kind asks for. A repository URI must not name a ref, and a ref URI
// no path.
func parseURIArg(arg string, kind uriKind) (store.URI, error) {
	u, err := store.ParseURI(arg)
	if err != nil {
		return u, err
	}
	switch kind {
	case uriRepo:
		if u.Ref != "" {
			return u, fmt.Errorf("%w %q: want lakeq://repository", store.ErrInvalidURI, arg)
		}
	case uriRef:
		if err := u.RequireRef(); err != nil {
			return u, err
		}
		if u.Path != "" {
			return u, fmt.Errorf("%w %q: want lakeq://repository/ref, without a path", store.ErrInvalidURI, arg)
		}
	case uriRefPath:
		err = u.RequireRef()
	case uriPath:
		err = u.RequirePath()
	}
	return u, err
}

// sameRepo checks that two URIs of one command name the same repository.
func sameRepo(a, b store.URI) error {
	if a.Repo != b.Repo {
		return fmt.Errorf("%w: %s and %s are in different repositories", store.ErrInvalidURI, a, b)
	}
	return nil
}
