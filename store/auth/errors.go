package auth

import (
	"errors"
	"fmt"

	"github.com/lakeq/lakeq/store"
)

var (
	// ErrInvalidCredentials reports an unknown access key id or a wrong
	// secret; the two are not told apart.
	ErrInvalidCredentials = fmt.Errorf("%w credentials", store.ErrInvalid)
	// ErrCredentialsExist reports an access key id that is already taken.
	ErrCredentialsExist = fmt.Errorf("access key id %w", store.ErrAlreadyExists)
	// ErrAlreadySetUp reports a second Setup of an installation.
	ErrAlreadySetUp = fmt.Errorf("installation is already set up: %w", store.ErrAlreadyExists)
	// ErrUserNotFound reports a missing user.
	ErrUserNotFound = fmt.Errorf("user %w", store.ErrNotFound)
	// errBadHash reports a stored secret hash lakeq cannot read.
	errBadHash = errors.New("malformed secret hash")
)
