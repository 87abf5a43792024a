package localstate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// OpenOptions configure Open.
type OpenOptions struct {
	// ReadOnly opens the state for reading: Apply returns ErrReadOnly.
	ReadOnly bool
	// BusyTimeout is how long SQLite waits for an application holding a
	// lock before giving up; 0 means 5s.
	BusyTimeout time.Duration
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

// Open opens the state file at path, chosen by extension: .db, .sqlite,
// .sqlite3 are SQLite databases, .json a JSON snapshot. It never creates
// the file.
func Open(ctx context.Context, path string, opts OpenOptions) (Store, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".db", ".sqlite", ".sqlite3", ".json":
	default:
		what := fmt.Sprintf("files ending in %q are not a kind of state reconctl reads", ext)
		if ext == "" {
			what = "the name has no extension, so reconctl cannot tell what kind of state it is"
		}
		return nil, fmt.Errorf("state %s: %s; use a SQLite database (.db, .sqlite, .sqlite3) or a JSON snapshot (.json)", path, what)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &missingError{path: path}
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("state %s is a directory; --state / state: must name the database or snapshot file", path)
	}
	if ext == ".json" {
		return openJSON(ctx, path, opts)
	}
	return openSQLite(ctx, path, opts)
}
