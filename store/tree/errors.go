package tree

import (
	"fmt"

	"github.com/lakeq/lakeq/store"
)

var (
	// ErrOutOfOrder reports entries, ranges or changes that are not in
	// strictly increasing path order, or ranges that overlap.
	ErrOutOfOrder = fmt.Errorf("%w: tree keys out of order", store.ErrInvalid)
	// ErrPendingEntries reports Writer.AddRange while the writer holds
	// entries not yet cut into a range.
	ErrPendingEntries = fmt.Errorf("%w: tree writer has pending entries", store.ErrInvalid)
	// ErrWriterClosed reports use of a Writer after Close or CloseRanges.
	ErrWriterClosed = fmt.Errorf("%w: tree writer closed", store.ErrPrecondition)
	// ErrRangeNotFound reports a range file that does not exist.
	ErrRangeNotFound = fmt.Errorf("range %w", store.ErrNotFound)
	// ErrMetaRangeNotFound reports a metarange file that does not exist.
	ErrMetaRangeNotFound = fmt.Errorf("metarange %w", store.ErrNotFound)
	// ErrInvalidID reports a malformed range or metarange id.
	ErrInvalidID = fmt.Errorf("%w tree id", store.ErrInvalid)
	// ErrCorrupt reports a range or metarange file that cannot be decoded
	// or whose content does not match its id.
	ErrCorrupt = fmt.Errorf("%w: corrupt tree file", store.ErrInvalidValue)
	// ErrOutsidePrefixes reports a Replace source with a key outside the
	// replaced prefixes.
	ErrOutsidePrefixes = fmt.Errorf("%w: key outside the replaced prefixes", store.ErrInvalid)

	errInvalidConfig = fmt.Errorf("%w tree config", store.ErrInvalid)
)
