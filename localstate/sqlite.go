// The SQLite store: opening a state file and what SQLite says when it fails.
// Its dialect is sqliteDialect (dialect.go), its introspection
// sqlite_schema.go; reading and writing are the generic sqlStore's.

package localstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

func openSQLite(ctx context.Context, path string, opts OpenOptions) (*sqlStore, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	// mode=rw (never rwc): SQLite must not create a missing file. BEGIN
	// IMMEDIATE takes the write lock up front, so a busy app makes us wait
	// busy_timeout once instead of failing halfway through a transaction.
	q := fmt.Sprintf("?mode=rw&_txlock=immediate&_pragma=busy_timeout(%d)", opts.BusyTimeout.Milliseconds())
	if opts.ReadOnly {
		q = fmt.Sprintf("?mode=ro&_pragma=busy_timeout(%d)", opts.BusyTimeout.Milliseconds())
	}
	db, err := sql.Open("sqlite", "file:"+uriPath(abs)+q)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	s := newSQLStore(sqliteDialect{}, path, db, opts)
	// Every connection keeps SQLite's default page cache (2 MB), write
	// transactions too: a resync --force writes its rows in key order, so
	// the pages it dirties are spilled to the file as it goes. A 256 MB
	// cache held every page a million-row write touched (peak RSS ~150 MB
	// more, issue #16), freeing its pages one by one at close took more
	// than a CPU-second, and a bare batched write ran slower with it.
	// Reading sqlite_master reads the header: a file that is not a database
	// fails here, at Open, rather than at the first query.
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		db.Close()
		return nil, s.explain(err)
	}
	if !opts.ReadOnly {
		// The writer's connection, and its data_version before any read
		// of the app's data (see sqlStore.pin).
		pin, err := db.Conn(ctx)
		if err == nil {
			err = pin.QueryRowContext(ctx, "PRAGMA data_version").Scan(&s.pinVersion)
			if err != nil {
				pin.Close()
			}
		}
		if err != nil {
			db.Close()
			return nil, s.explain(err)
		}
		s.pin = pin
	}
	return s, nil
}

// uriPath escapes the characters that end or alter the path in a SQLite URI filename.
func uriPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(p))
}

// explain turns the SQLite failures an operator can act on into one line that
// says what to do. Other errors pass through.
func (sqliteDialect) explain(err error, path string, busy time.Duration) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	var msg string
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		msg = fmt.Sprintf("state %s is locked by another process (still locked after waiting %s): retry when the application is not writing to it", path, busy)
	case sqlite3.SQLITE_NOTADB:
		msg = fmt.Sprintf("state %s is not a SQLite database (file is not a database): check --state / state: in reconctl.yaml", path)
	case sqlite3.SQLITE_CORRUPT:
		msg = fmt.Sprintf("state %s is corrupt (database disk image is malformed): restore it from a backup", path)
	case sqlite3.SQLITE_READONLY:
		msg = fmt.Sprintf("state %s cannot be written (the file or its directory is read-only): check its permissions", path)
	case sqlite3.SQLITE_CANTOPEN:
		msg = fmt.Sprintf("cannot open state %s: check that it is a readable file in a readable directory", path)
	case sqlite3.SQLITE_FULL:
		msg = fmt.Sprintf("cannot write state %s: the disk is full", path)
	default:
		return fmt.Errorf("state %s: %w", path, err)
	}
	return &stateError{msg: msg, err: err}
}
