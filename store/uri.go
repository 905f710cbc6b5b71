package store

import (
	"fmt"
	"strings"
)

// URIScheme is the scheme of lakeq's own URIs, lakeq://repo/ref/path.
const URIScheme = "lakeq"

const uriPrefix = URIScheme + "://"

// maxRefLength bounds the reference part of a URI, in bytes (a branch or tag
// name of the longest valid length plus room for ~N / ^N modifiers and '@').
const maxRefLength = 512

// URI names a repository, a reference in it, or an object path (or prefix)
// under a reference:
//
//	lakeq://repo
//	lakeq://repo/ref
//	lakeq://repo/ref/path/to/object
//
// Ref is any reference expression (branch, tag, commit id or prefix, with
// ~N / ^N modifiers and a trailing '@'). Path is taken literally: there is no
// percent-decoding, and a trailing '/' is kept (it names a prefix).
type URI struct {
	Repo RepoID
	Ref  Ref
	Path string
}

// ParseURI parses s as lakeq://repo[/ref[/path]]. The repository must be a
// valid RepoID; the reference, when present, is non-empty and made of
// letters, digits and "_-.~^@"; the path, when present, passes ValidatePath.
// A trailing '/' directly after the repository or the reference adds
// nothing: lakeq://repo/ is lakeq://repo and lakeq://repo/main/ has an empty
// Path. Errors wrap ErrInvalidURI.
func ParseURI(s string) (URI, error) {
	rest, ok := strings.CutPrefix(s, uriPrefix)
	if !ok {
		return URI{}, fmt.Errorf("%w %q: want lakeq://repository/ref/path", ErrInvalidURI, s)
	}
	repo, rest, _ := strings.Cut(rest, "/")
	ref, path, _ := strings.Cut(rest, "/")
	u := URI{Repo: RepoID(repo), Ref: Ref(ref), Path: path}
	if u.Ref == "" && path != "" {
		return URI{}, fmt.Errorf("%w %q: empty reference before the path", ErrInvalidURI, s)
	}
	if err := u.Validate(); err != nil {
		return URI{}, err
	}
	return u, nil
}

// Validate reports whether u is well formed by the rules of ParseURI. A
// path without a reference is invalid. Errors wrap ErrInvalidURI.
func (u URI) Validate() error {
	if err := u.Repo.Validate(); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidURI, u.String(), err)
	}
	if u.Ref == "" {
		if u.Path != "" {
			return fmt.Errorf("%w %q: a path needs a reference", ErrInvalidURI, u.String())
		}
		return nil
	}
	if err := validateRefExpr(u.Ref); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidURI, u.String(), err)
	}
	if u.Path != "" {
		if err := ValidatePath(u.Path); err != nil {
			return fmt.Errorf("%w %q: %w", ErrInvalidURI, u.String(), err)
		}
	}
	return nil
}

// String formats u so that ParseURI(u.String()) == u for every valid u:
// lakeq://repo, lakeq://repo/ref or lakeq://repo/ref/path.
func (u URI) String() string {
	var b strings.Builder
	b.Grow(len(uriPrefix) + len(u.Repo) + len(u.Ref) + len(u.Path) + 2)
	b.WriteString(uriPrefix)
	b.WriteString(string(u.Repo))
	if u.Ref != "" || u.Path != "" {
		b.WriteByte('/')
		b.WriteString(string(u.Ref))
	}
	if u.Path != "" {
		b.WriteByte('/')
		b.WriteString(u.Path)
	}
	return b.String()
}

// RequireRef reports, wrapping ErrInvalidURI, when u names no reference.
func (u URI) RequireRef() error {
	if u.Ref == "" {
		return fmt.Errorf("%w %q: want lakeq://repository/ref", ErrInvalidURI, u.String())
	}
	return nil
}

// RequirePath reports, wrapping ErrInvalidURI, when u names no object path.
func (u URI) RequirePath() error {
	if u.Ref == "" || u.Path == "" {
		return fmt.Errorf("%w %q: want lakeq://repository/ref/path", ErrInvalidURI, u.String())
	}
	return nil
}

// validateRefExpr checks the characters of a reference expression; whether
// it resolves is up to the graph.
func validateRefExpr(r Ref) error {
	if len(r) > maxRefLength {
		return fmt.Errorf("%w: reference of %d bytes, over the limit of %d", ErrInvalidRef, len(r), maxRefLength)
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.' || c == '~' || c == '^' || c == '@') {
			return fmt.Errorf("%w %q: only letters, digits and \"_-.~^@\"", ErrInvalidRef, string(r))
		}
	}
	return nil
}
