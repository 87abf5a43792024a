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

// This file is the seam for a SQLite database that is not a state store: the
// journal's own file (a sidecar beside a JSON snapshot, a --journal file, or
// the app's SQLite state opened on a connection of its own). Only localstate
// drives database/sql and the SQLite driver; callers see SQLiteDB, Tx,
// Querier and the helpers below.

// SQLiteDBOptions configure OpenSQLiteDB.
type SQLiteDBOptions struct {
	// Create lets SQLite make the file when it does not exist (mode=rwc);
	// otherwise a missing file fails at the first statement (mode=rw).
	Create bool
	// BusyTimeout is how long a statement waits for another connection's
	// lock; 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
}

// SQLiteDB is an open SQLite database that is not a state: the Querier
// methods, prepared statements, transactions behind the Tx seam and Close.
// It is safe for concurrent use.
type SQLiteDB struct {
	db *sql.DB
}

var (
	_ Querier  = (*SQLiteDB)(nil)
	_ Preparer = (*SQLiteDB)(nil)
)

// OpenSQLiteDB opens the SQLite database at path read-write. Every
// transaction of the handle is BEGIN IMMEDIATE: it takes the write lock when
// it begins, so two processes wait on the busy timeout instead of failing on
// a lock upgrade. Nothing is read yet: a file that is missing (without
// Create) or not a database fails at the first statement.
func OpenSQLiteDB(path string, opts SQLiteDBOptions) (*SQLiteDB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	mode := "rw"
	if opts.Create {
		mode = "rwc"
	}
	busy := opts.BusyTimeout
	if busy == 0 {
		busy = DefaultBusyTimeout
	}
	p := uriPath(abs)
	if !strings.HasPrefix(p, "/") { // Windows: C:/x → /C:/x
		p = "/" + p
	}
	dsn := fmt.Sprintf("file:%s?mode=%s&_pragma=busy_timeout(%d)&_txlock=immediate", p, mode, busy.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	return &SQLiteDB{db: db}, nil
}

// ExecContext runs a statement that returns no rows.
func (d *SQLiteDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.db.ExecContext(ctx, query, args...)
}

// QueryContext runs a query; close the rows.
func (d *SQLiteDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.db.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query for at most one row; its Scan returns
// ErrNoRows when there is none.
func (d *SQLiteDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return d.db.QueryRowContext(ctx, query, args...)
}

// PrepareContext prepares a statement for a batch of executions; close it.
func (d *SQLiteDB) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return d.db.PrepareContext(ctx, query)
}

// Begin starts a transaction behind the Tx seam. It holds no store: its
// Apply returns ErrNoTx; Querier, Savepoint, Commit and Rollback work (and
// it prepares statements: it is a Preparer).
func (d *SQLiteDB) Begin(ctx context.Context) (Tx, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqlTx{Tx: tx}, nil
}

// Close closes the database's connections.
func (d *SQLiteDB) Close() error { return d.db.Close() }

// Preparer is a Querier that can also prepare a statement once for many
// executions: a SQLiteDB, and the Tx of a SQLite store or of a SQLiteDB.
type Preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// ErrNoRows is what a QueryRowContext row's Scan returns when the query
// found no row.
var ErrNoRows = sql.ErrNoRows

// Primary SQLite result codes, as SQLiteErrorCode reports them.
const (
	SQLiteBusy     = sqlite3.SQLITE_BUSY
	SQLiteLocked   = sqlite3.SQLITE_LOCKED
	SQLiteReadOnly = sqlite3.SQLITE_READONLY
	SQLiteCorrupt  = sqlite3.SQLITE_CORRUPT
	SQLiteCantOpen = sqlite3.SQLITE_CANTOPEN
	SQLiteNotADB   = sqlite3.SQLITE_NOTADB
)

// SQLiteErrorCode finds the SQLite driver's error in err's chain: its
// primary result code (see the SQLite* constants) and the driver's error
// itself (to print). ok is false when err holds no SQLite error.
func SQLiteErrorCode(err error) (code int, driverErr error, ok bool) {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return 0, nil, false
	}
	return se.Code() & 0xff, se, true
}
