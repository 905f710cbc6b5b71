package bolt

import (
	"errors"
	"fmt"

	"github.com/lakeq/lakeq/store"
)

var (
	// ErrLocked reports that another Store (in this or another process)
	// holds the database file open.
	ErrLocked = errors.New("kv database file is locked by another process")
	// ErrCorrupt reports a database file whose content lakeq cannot read.
	ErrCorrupt = fmt.Errorf("kv database corrupt: %w", store.ErrInvalid)
)
