package redis

import (
	"fmt"

	"github.com/lakeq/lakeq/store"
)

// ErrInvalidConfig reports a Config that fails Validate.
var ErrInvalidConfig = fmt.Errorf("%w redis kv config", store.ErrInvalid)
