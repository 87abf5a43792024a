// Package journal is reconctl's audit trail and replay memory: every run with
// its arguments (secrets removed), drift items, actions and exit code; the
// provider events replay has processed, so none is applied twice; the newest
// version applied to each record, so an older event never overwrites newer
// data; and the replay checkpoint behind `--since last`.
//
// The journal is a set of reconctl_* tables in a SQLite file: the app's own
// SQLite state (so journal rows can commit in the same transaction as the
// app's changes), a sidecar beside a JSON snapshot (SidecarPath), or a file
// named by --journal. The package also holds the one-writer lock (Lock).
package journal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/reconctl/reconctl/localstate"
)

// Querier is what the journal's methods need to read and write: the
// localstate seam's narrow SQL handle, satisfied by a localstate.Tx (the
// state's transaction, when the journal lives in the app's SQLite file, so
// the journal rows commit or roll back together with the app's changes), by
// a Tx from the journal's own Begin, and by the journal's own handle (DB). A
// nil Querier means the journal's own connection.
type Querier = localstate.Querier

// Options says how to open a journal.
type Options struct {
	// Create makes the file when it does not exist: for a sidecar beside a
	// JSON snapshot or a --journal file. Leave it false for the app's SQLite
	// state, which reconctl must never create.
	Create bool
	// Mode is the permission a created journal gets (0 means 0644): the
	// state's own, so a journal beside a 0600 snapshot is 0600 too (it
	// holds the same records).
	Mode os.FileMode
}

// Journal is an open journal. It is safe for concurrent use.
type Journal struct {
	db     *localstate.SQLiteDB
	path   string
	create bool
}

// ErrRunNotFound is wrapped by GetRun's error for an unknown run id.
var ErrRunNotFound = errors.New("run not found")

// SidecarPath is where the journal of a JSON snapshot lives: beside it, as
// <snapshot>.reconctl.db.
func SidecarPath(statePath string) string {
	return localstate.SidecarJournal(statePath).Location
}

// Open opens (and, when needed, upgrades) the journal in the SQLite file at
// path with its own read-write connection.
func Open(ctx context.Context, path string, opts Options) (*Journal, error) {
	return open(ctx, path, opts, migrations)
}

func open(ctx context.Context, path string, opts Options, ms []migration) (*Journal, error) {
	if path == "" {
		return nil, errors.New("journal path is empty")
	}
	st, err := os.Stat(path)
	missing := errors.Is(err, fs.ErrNotExist)
	switch {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("journal %s is a directory; pass --journal with a file path", path)
	case errors.Is(err, fs.ErrNotExist) && !opts.Create:
		return nil, fmt.Errorf("journal %s: %w", path, fs.ErrNotExist)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if opts.Create && missing {
		// Made here, not by SQLite, so that it never exists with wider
		// permissions than asked for (an empty file is an empty database).
		perm := opts.Mode.Perm()
		if perm == 0 {
			perm = 0o644
		}
		f, cerr := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if cerr == nil {
			cerr = f.Chmod(perm) // whatever the umask
			f.Close()
		}
		if cerr != nil && !errors.Is(cerr, fs.ErrExist) {
			return nil, fmt.Errorf("journal %s: %w", path, cerr)
		}
	}
	// Every transaction on this connection takes the write lock when it
	// begins (BEGIN IMMEDIATE), so two reconctl processes (or reconctl and
	// the app) wait on the 5s busy timeout instead of failing on a lock
	// upgrade.
	db, err := localstate.OpenSQLiteDB(abs, localstate.SQLiteDBOptions{Create: opts.Create, BusyTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j := &Journal{db: db, path: path, create: opts.Create}
	if err := j.migrate(ctx, ms); err != nil {
		db.Close()
		return nil, err
	}
	return j, nil
}

// DB is the journal's own connection, for callers that want to run journal
// writes in a transaction of their own.
func (j *Journal) DB() *localstate.SQLiteDB { return j.db }

// Begin starts a transaction in the journal's own database, behind the same
// seam as a state's (localstate.Tx): replay records a batch of events
// through it, with a savepoint per event. Its Apply refuses (the journal
// holds no state records); commit or roll it back.
func (j *Journal) Begin(ctx context.Context) (localstate.Tx, error) {
	tx, err := j.db.Begin(ctx)
	if err != nil {
		return nil, j.fail("starting a journal transaction", err)
	}
	return tx, nil
}

// Path is the journal file's path as given to Open.
func (j *Journal) Path() string { return j.path }

// Close closes the journal's connection.
func (j *Journal) Close() error { return j.db.Close() }

func (j *Journal) q(q Querier) Querier {
	if q == nil {
		return j.db
	}
	return q
}

// fail wraps err from a journal operation, turning the SQLite errors an
// operator can act on into one line that says what to do.
func (j *Journal) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if code, se, ok := localstate.SQLiteErrorCode(err); ok {
		switch code {
		case localstate.SQLiteNotADB, localstate.SQLiteCorrupt:
			if j.create {
				return fmt.Errorf("journal %s is not a usable SQLite database (%v): move it aside so reconctl starts a new one (its run history and replay records are lost), or pass --journal with another path", j.path, se)
			}
			return fmt.Errorf("state %s is not a usable SQLite database (%v): restore it from a backup, or check --state", j.path, se)
		case localstate.SQLiteBusy, localstate.SQLiteLocked:
			return fmt.Errorf("journal %s: %s: the database stayed locked by another process for 5s (%v); retry when it is idle", j.path, op, se)
		case localstate.SQLiteReadOnly:
			return fmt.Errorf("journal %s: %s: the file is read-only (%v); reconctl needs write access to record runs", j.path, op, se)
		case localstate.SQLiteCantOpen:
			return fmt.Errorf("journal %s: cannot open it (%v); check the path and its directory's permissions", j.path, se)
		}
	}
	return fmt.Errorf("journal %s: %s: %w", j.path, op, err)
}

// Timestamps are stored as fixed-width UTC text, so they read well in the
// sqlite3 shell and compare correctly as strings (MAX, ORDER BY, >).
const tsLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTS(t time.Time) string { return t.UTC().Format(tsLayout) }

func nullTS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTS(t)
}

func parseTS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(tsLayout, s)
	if err != nil {
		// Rows written by hand or by another tool: accept RFC 3339.
		if t2, err2 := time.Parse(time.RFC3339Nano, s); err2 == nil {
			return t2.UTC(), nil
		}
		return time.Time{}, fmt.Errorf("bad timestamp %q in journal", s)
	}
	return t, nil
}
