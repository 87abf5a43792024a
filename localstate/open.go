package localstate

import (
	"fmt"
	"time"
)

// OpenOptions configure Open.
type OpenOptions struct {
	// ReadOnly opens the state for reading: Apply returns ErrReadOnly.
	ReadOnly bool
	// BusyTimeout is how long SQLite waits for an application holding a
	// lock before giving up (a server: its lock wait); 0 means 5s.
	BusyTimeout time.Duration
	// Server says how to reach a server state (password_env:, schema:).
	Server ServerOptions
}

// DefaultBusyTimeout is the SQLite lock wait when OpenOptions leaves it zero.
const DefaultBusyTimeout = 5 * time.Second

// missingError is ErrStateMissing with the path and what to do.
type missingError struct{ path string }

func (e *missingError) Error() string {
	return fmt.Sprintf("state file %s does not exist; reconctl never creates one (an empty state would make every record look missing): check --state / state: in reconctl.yaml", e.path)
}

func (e *missingError) Unwrap() error { return ErrStateMissing }

// MissingError is the error for a state file that does not exist (it
// matches ErrStateMissing), for callers that check before Open.
func MissingError(path string) error { return &missingError{path: path} }
