package broker

import (
	"fmt"

	"github.com/lakeq/lakeq/store"
)

// Errors the broker reports. Classify them with errors.Is.
var (
	// ErrInvalidConfig reports a Config or ConsumerConfig that fails
	// validation; nothing was connected or declared.
	ErrInvalidConfig = fmt.Errorf("%w broker config", store.ErrInvalid)
	// ErrInvalidSubject reports a subject, subject token, kind or message id
	// that lakeq does not accept; nothing was published.
	ErrInvalidSubject = fmt.Errorf("%w subject", store.ErrInvalid)
	// ErrAlreadyStarted reports a second Start of a Consumer.
	ErrAlreadyStarted = fmt.Errorf("already started: %w", store.ErrPrecondition)
	// ErrStopped reports use of a Consumer or EventStream after Stop.
	ErrStopped = fmt.Errorf("stopped: %w", store.ErrPrecondition)
)
