package kv

import (
	"errors"
	"fmt"

	"github.com/lakeq/lakeq/store"
)

var (
	// ErrNotFound reports a missing key.
	ErrNotFound = fmt.Errorf("key %w", store.ErrNotFound)
	// ErrPredicateFailed reports a conditional write whose condition did
	// not hold.
	ErrPredicateFailed = fmt.Errorf("kv predicate failed: %w", store.ErrConflict)
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("kv store closed")
	// ErrInvalidKey reports an empty partition or key.
	ErrInvalidKey = fmt.Errorf("%w kv key", store.ErrInvalid)
)
