package store

import (
	"errors"
	"fmt"
)

// Root errors. Every error lakeq's store returns wraps one of these, so that
// callers classify with errors.Is only.
var (
	// ErrNotFound reports that a named thing does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists reports that a create collided with an existing thing.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalid reports bad input; nothing was written.
	ErrInvalid = errors.New("invalid")
	// ErrConflict reports a state conflict (concurrent update, dirty branch,
	// merge conflict); nothing was written.
	ErrConflict = errors.New("conflict")
	// ErrPrecondition reports an operation that is not allowed in the current
	// state (nothing to commit, a job already finished).
	ErrPrecondition = errors.New("precondition failed")
	// ErrNotImplemented reports an operation a backend does not support.
	ErrNotImplemented = errors.New("not implemented")
)

// Not found.
var (
	ErrRepoNotFound   = fmt.Errorf("repository %w", ErrNotFound)
	ErrBranchNotFound = fmt.Errorf("branch %w", ErrNotFound)
	ErrCommitNotFound = fmt.Errorf("commit %w", ErrNotFound)
	ErrTagNotFound    = fmt.Errorf("tag %w", ErrNotFound)
	ErrRefNotFound    = fmt.Errorf("reference %w", ErrNotFound)
	ErrObjectNotFound = fmt.Errorf("object %w", ErrNotFound)
	ErrJobNotFound    = fmt.Errorf("job %w", ErrNotFound)
)

// Already exists.
var (
	ErrRepoExists   = fmt.Errorf("repository %w", ErrAlreadyExists)
	ErrBranchExists = fmt.Errorf("branch %w", ErrAlreadyExists)
	ErrTagExists    = fmt.Errorf("tag %w", ErrAlreadyExists)
)

// Invalid input.
var (
	ErrInvalidRepoID    = fmt.Errorf("%w repository id", ErrInvalid)
	ErrInvalidBranchID  = fmt.Errorf("%w branch id", ErrInvalid)
	ErrInvalidTagID     = fmt.Errorf("%w tag id", ErrInvalid)
	ErrInvalidRef       = fmt.Errorf("%w reference", ErrInvalid)
	ErrInvalidPath      = fmt.Errorf("%w path", ErrInvalid)
	ErrInvalidNamespace = fmt.Errorf("%w storage namespace", ErrInvalid)
	ErrInvalidURI       = fmt.Errorf("%w uri", ErrInvalid)
	ErrInvalidValue     = fmt.Errorf("%w value", ErrInvalid)
)

// Conflicts and preconditions.
var (
	ErrMergeConflict      = fmt.Errorf("merge %w", ErrConflict)
	ErrDirtyBranch        = fmt.Errorf("branch has uncommitted changes: %w", ErrConflict)
	ErrTooManyRetries     = fmt.Errorf("too many concurrent updates: %w", ErrConflict)
	ErrNoChanges          = fmt.Errorf("no changes: %w", ErrPrecondition)
	ErrDeleteDefault      = fmt.Errorf("cannot delete the default branch: %w", ErrPrecondition)
	ErrJobFinished        = fmt.Errorf("job already finished: %w", ErrConflict)
	ErrJobCommitting      = fmt.Errorf("job is committing its result, too late to cancel: %w", ErrConflict)
	ErrObjectChanged      = fmt.Errorf("object data changed since it was recorded: %w", ErrConflict)
	ErrProtectedRef       = fmt.Errorf("reference is read-only: %w", ErrPrecondition)
	ErrNothingToRevert    = fmt.Errorf("nothing to revert: %w", ErrPrecondition)
	ErrCommitNotMergeable = fmt.Errorf("commit has no parent to compare with: %w", ErrPrecondition)
)
