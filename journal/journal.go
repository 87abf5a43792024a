// Package journal is reconctl's audit trail and replay memory: every run with
// its arguments (secrets removed), drift items, actions and exit code; the
// provider events replay has processed, so none is applied twice; the newest
// version applied to each record, so an older event never overwrites newer
// data; and the replay checkpoint behind `--since last`.
//
// The journal is a set of reconctl_* tables in a SQLite file or a database
// server: the app's own database — a SQLite state, or the Postgres or
// MySQL/MariaDB database of a server state (so journal rows can commit in the
// same transaction as the app's changes) — a sidecar beside a JSON snapshot
// (SidecarPath), or a SQLite file or DSN named by --journal. The package also
// holds the one-writer lock (AcquireLock on a file, AcquireServerLock in a
// server).
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
	// Server says how to reach a journal named by a DSN (password_env:,
	// schema:); ignored for a SQLite file.
	Server localstate.ServerOptions
}

// Journal is an open journal. It is safe for concurrent use.
type Journal struct {
	db     *localstate.DB
	d      dialect
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

// Open opens (and, when needed, upgrades) the journal at path — a SQLite
// file, or a postgres:// or mysql:// DSN — with its own read-write
// connection. In a server database the reconctl_* tables are made on first
// use (never the database itself).
func Open(ctx context.Context, path string, opts Options) (*Journal, error) {
	return open(ctx, path, opts, migrations)
}

func open(ctx context.Context, path string, opts Options, ms []migration) (*Journal, error) {
	if path == "" {
		return nil, errors.New("journal path is empty")
	}
	if !localstate.IsFile(path) {
		return openServer(ctx, path, opts, ms)
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
	db, err := localstate.OpenDB(ctx, abs, localstate.DBOptions{Create: opts.Create, BusyTimeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j := &Journal{db: db, d: dialectOf(db.Kind()), path: path, create: opts.Create}
	if err := j.migrate(ctx, ms); err != nil {
		db.Close()
		return nil, err
	}
	return j, nil
}

// openServer opens the journal in a server database. Connection errors
// already name the DSN redacted.
func openServer(ctx context.Context, dsn string, opts Options, ms []migration) (*Journal, error) {
	if _, err := localstate.Lookup(dsn); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	db, err := localstate.OpenDB(ctx, dsn, localstate.DBOptions{Server: opts.Server})
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	j := &Journal{db: db, d: dialectOf(db.Kind()), path: dsn, create: opts.Create}
	if err := j.migrate(ctx, ms); err != nil {
		db.Close()
		return nil, err
	}
	return j, nil
}

// DB is the journal's own connection, for callers that want to run journal
// writes in a transaction of their own.
func (j *Journal) DB() *localstate.DB { return j.db }

// Kind is the SQL of the journal's database (localstate.KindSQLite,
// KindPostgres, KindMySQL).
func (j *Journal) Kind() string { return j.db.Kind() }

// shown is the journal's location as it may be printed (a DSN's password
// masked).
func (j *Journal) shown() string { return localstate.RedactLocation(j.path) }

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

// Path is the journal's location as given to Open (a DSN may hold a
// password: print it through localstate.RedactLocation).
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
	if !localstate.IsFile(j.path) {
		if localstate.IsPermissionDenied(err) {
			return &NotWritableError{Journal: j.shown(), Op: op, Err: err}
		}
		return fmt.Errorf("journal %s: %s: %w", j.shown(), op, err)
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
			return &NotWritableError{Journal: j.path, Op: op, Err: fmt.Errorf("the file is read-only (%v); reconctl needs write access to record runs", se), file: true}
		case localstate.SQLiteCantOpen:
			return fmt.Errorf("journal %s: cannot open it (%v); check the path and its directory's permissions", j.path, se)
		}
	}
	return fmt.Errorf("journal %s: %s: %w", j.path, op, err)
}

// ErrNotWritable is matched (errors.Is) by *NotWritableError.
var ErrNotWritable = errors.New("the journal cannot be written there")

// NotWritableError is a journal the database refuses to let reconctl create
// or write (a role that may only SELECT, a read-only file).
type NotWritableError struct {
	Journal string // the location, redacted
	Op      string
	Err     error
	file    bool
}

func (e *NotWritableError) Error() string {
	if e.file {
		return fmt.Sprintf("journal %s: %s: %v", e.Journal, e.Op, e.Err)
	}
	return fmt.Sprintf("journal %s: %s: permission denied (%v): the role may not create or write the reconctl_* tables there", e.Journal, e.Op, e.Err)
}

func (e *NotWritableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotWritable) true.
func (e *NotWritableError) Is(target error) bool { return target == ErrNotWritable }

// Timestamps are stored as fixed-width UTC text, so they read well in the
// sqlite3 shell and compare correctly as strings (MAX, ORDER BY, >), on
// every kind of database alike.
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
