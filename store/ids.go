package store

import (
	"fmt"
	"regexp"
	"unicode/utf8"
)

// RepoID names a repository: 3–63 lower-case letters, digits and dashes,
// starting with a letter or digit (as in lakeFS).
type RepoID string

// BranchID names a branch: word characters and dashes, starting with a word
// character.
type BranchID string

// TagID names a tag: word characters, dashes and dots, starting with a word
// character.
type TagID string

// CommitID is the hex SHA-256 of a commit's canonical fields.
type CommitID string

// Ref is any reference expression: a branch, a tag, a commit id or a unique
// prefix of one, optionally followed by ~N / ^N modifiers.
type Ref string

// JobID identifies an asynchronous job; it is sortable by creation time and
// doubles as the JetStream de-duplication id.
type JobID string

// MaxPathLength is the longest object path lakeq accepts, in bytes.
const MaxPathLength = 1024

var (
	repoIDRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{2,62}$`)
	branchIDRe = regexp.MustCompile(`^\w[-\w]{0,255}$`)
	tagIDRe    = regexp.MustCompile(`^\w[-\w.]{0,255}$`)
	commitIDRe = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// Validate reports whether id is a valid repository id.
func (id RepoID) Validate() error {
	if !repoIDRe.MatchString(string(id)) {
		return fmt.Errorf("%w %q: 3-63 characters of a-z, 0-9 and '-', not starting with '-'", ErrInvalidRepoID, string(id))
	}
	return nil
}

// Validate reports whether id is a valid branch id.
func (id BranchID) Validate() error {
	if !branchIDRe.MatchString(string(id)) {
		return fmt.Errorf("%w %q: letters, digits, '_' and '-', not starting with '-'", ErrInvalidBranchID, string(id))
	}
	return nil
}

// Validate reports whether id is a valid tag id.
func (id TagID) Validate() error {
	if !tagIDRe.MatchString(string(id)) || id == "HEAD" {
		return fmt.Errorf("%w %q: letters, digits, '_', '-' and '.', not starting with '-' or '.'", ErrInvalidTagID, string(id))
	}
	return nil
}

// Validate reports whether id is a well-formed full commit id.
func (id CommitID) Validate() error {
	if !commitIDRe.MatchString(string(id)) {
		return fmt.Errorf("%w: commit id %q", ErrInvalidRef, string(id))
	}
	return nil
}

// ValidatePath reports whether p may name an object: non-empty, valid UTF-8,
// at most MaxPathLength bytes, no NUL byte.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty", ErrInvalidPath)
	case len(p) > MaxPathLength:
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrInvalidPath, len(p), MaxPathLength)
	case !utf8.ValidString(p):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidPath)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == 0 {
			return fmt.Errorf("%w: contains a NUL byte", ErrInvalidPath)
		}
	}
	return nil
}

// ValidatePrefix is ValidatePath for a listing prefix, which may be empty.
func ValidatePrefix(p string) error {
	if p == "" {
		return nil
	}
	return ValidatePath(p)
}
