package localstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteStore is the app's own SQLite database. Every identifier comes from
// the config and is checked against the schema, then quoted; every value is a
// bound parameter.
type sqliteStore struct {
	d        sqlDialect
	path     string
	db       *sql.DB
	readOnly bool
	busy     time.Duration

	mu      sync.Mutex
	schemas map[string]*tableSchema // by table name as configured
	gets    map[string]*sql.Stmt    // Get statements by SQL text
	formats map[string]timeFormat   // time columns' formats by table NUL column
}

var _ KeyIndexer = (*sqliteStore)(nil)

func openSQLite(ctx context.Context, path string, opts OpenOptions) (*sqliteStore, error) {
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
	// A bigger page cache keeps index inserts of a large resync in memory;
	// it is per connection and not stored in the file. Reads are scans and
	// single-key lookups: the default cache serves them, and a read-only
	// run stays small.
	if !opts.ReadOnly {
		q += "&_pragma=cache_size(-262144)"
	}
	db, err := sql.Open("sqlite", "file:"+uriPath(abs)+q)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	s := &sqliteStore{d: sqliteDialect{}, path: path, db: db, readOnly: opts.ReadOnly, busy: opts.BusyTimeout,
		schemas: map[string]*tableSchema{}, gets: map[string]*sql.Stmt{}, formats: map[string]timeFormat{}}
	// Reading sqlite_master reads the header: a file that is not a database
	// fails here, at Open, rather than at the first query.
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		db.Close()
		return nil, s.explain(err)
	}
	return s, nil
}

// uriPath escapes the characters that end or alter the path in a SQLite URI filename.
func uriPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(p))
}

func (s *sqliteStore) Kind() string { return "sqlite" }

func (s *sqliteStore) Path() string { return s.path }

// Features: a SQLite database counts, indexes and has transactions.
func (s *sqliteStore) Features() Features {
	return Features{Count: s.Count, KeyIndexed: s.KeyIndexed, KeyHealth: s.KeyHealth, Begin: s.begin}
}

// begin starts a transaction (BEGIN IMMEDIATE on a writable store: the
// write lock is taken up front).
func (s *sqliteStore) begin(ctx context.Context) (Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.explain(err)
	}
	return &sqlTx{Tx: tx, apply: s.applyTx}, nil
}

func (s *sqliteStore) Close() error {
	s.mu.Lock()
	for _, st := range s.gets {
		st.Close()
	}
	s.gets = map[string]*sql.Stmt{}
	s.mu.Unlock()
	return s.db.Close()
}

// stateError is an error message for the operator with the driver's error
// underneath for errors.Is/As.
type stateError struct {
	msg string
	err error
}

func (e *stateError) Error() string { return e.msg }

func (e *stateError) Unwrap() error { return e.err }

// explain turns the SQLite failures an operator can act on into one line that
// says what to do. Other errors pass through.
func (s *sqliteStore) explain(err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	var msg string
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		msg = fmt.Sprintf("state %s is locked by another process (still locked after waiting %s): retry when the application is not writing to it", s.path, s.busy)
	case sqlite3.SQLITE_NOTADB:
		msg = fmt.Sprintf("state %s is not a SQLite database (file is not a database): check --state / state: in reconctl.yaml", s.path)
	case sqlite3.SQLITE_CORRUPT:
		msg = fmt.Sprintf("state %s is corrupt (database disk image is malformed): restore it from a backup", s.path)
	case sqlite3.SQLITE_READONLY:
		msg = fmt.Sprintf("state %s cannot be written (the file or its directory is read-only): check its permissions", s.path)
	case sqlite3.SQLITE_CANTOPEN:
		msg = fmt.Sprintf("cannot open state %s: check that it is a readable file in a readable directory", s.path)
	case sqlite3.SQLITE_FULL:
		msg = fmt.Sprintf("cannot write state %s: the disk is full", s.path)
	default:
		return fmt.Errorf("state %s: %w", s.path, err)
	}
	return &stateError{msg: msg, err: err}
}

// selectSQL reads key and cols of live rows. Rows without a key (NULL or empty)
// are not copies of any provider record, so they are left out.
func (s *sqliteStore) selectSQL(r *resolved, cols []string) (string, error) {
	var b strings.Builder
	key := quote(r.ts.cols[r.key].name)
	b.WriteString("SELECT " + r.ts.cols[r.key].selectExpr())
	for _, c := range cols {
		i, ok := r.ts.lookup(c)
		if !ok {
			return "", r.ts.missing(c, "asked for by the engine")
		}
		b.WriteString(", " + r.ts.cols[i].selectExpr())
	}
	fmt.Fprintf(&b, " FROM %s WHERE %s IS NOT NULL AND %s <> ''%s", quote(r.ts.name), key, key, r.liveSQL())
	return b.String(), nil
}

// rowScanner reads rows into one reused Row.
type rowScanner struct {
	key    any
	values []any
	dest   []any
}

func newRowScanner(n int) *rowScanner {
	rs := &rowScanner{values: make([]any, n), dest: make([]any, n+1)}
	rs.dest[0] = &rs.key
	for i := range rs.values {
		rs.dest[i+1] = &rs.values[i]
	}
	return rs
}

func (rs *rowScanner) scan(rows *sql.Rows) (Row, bool, error) {
	if err := rows.Scan(rs.dest...); err != nil {
		return Row{}, false, err
	}
	key, ok, err := keyString(rs.key)
	if err != nil || !ok {
		return Row{}, false, err
	}
	for i, v := range rs.values {
		if b, isBytes := v.([]byte); isBytes {
			rs.values[i] = string(b)
		}
	}
	return Row{Key: key, Values: rs.values}, true, nil
}

func (s *sqliteStore) Scan(ctx context.Context, t *Table, cols []string, fn func(Row) error) error {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return err
	}
	q, err := s.selectSQL(r, cols)
	if err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return s.explain(err)
	}
	defer rows.Close()
	rs := newRowScanner(len(cols))
	for rows.Next() {
		row, ok, err := rs.scan(rows)
		if err != nil {
			return s.explain(err)
		}
		if !ok {
			continue
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.explain(err)
	}
	return s.explain(rows.Close())
}

func (s *sqliteStore) Get(ctx context.Context, t *Table, cols []string, key string) (Row, bool, error) {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return Row{}, false, err
	}
	q, err := s.selectSQL(r, cols)
	if err != nil {
		return Row{}, false, err
	}
	q += " AND " + quote(r.ts.cols[r.key].name) + " = ? LIMIT 1"
	st, err := s.getStmt(ctx, q)
	if err != nil {
		return Row{}, false, err
	}
	rows, err := st.QueryContext(ctx, key)
	if err != nil {
		return Row{}, false, s.explain(err)
	}
	defer rows.Close()
	rs := newRowScanner(len(cols))
	for rows.Next() {
		row, ok, err := rs.scan(rows)
		if err != nil {
			return Row{}, false, s.explain(err)
		}
		if ok {
			return row, true, nil
		}
	}
	return Row{}, false, s.explain(rows.Err())
}

// getStmt keeps Get's statements prepared: replay and check-user call Get
// once per object.
func (s *sqliteStore) getStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.gets[q]; ok {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, s.explain(err)
	}
	s.gets[q] = st
	return st, nil
}

func (s *sqliteStore) Apply(ctx context.Context, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	if s.readOnly {
		return fmt.Errorf("cannot write state %s: %w", s.path, ErrReadOnly)
	}
	w, err := s.newWriter(ctx, s.db, changes)
	if err != nil {
		return s.notWritten(ctx, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.notWritten(ctx, s.explain(err))
	}
	if err := w.run(ctx, tx, changes); err != nil {
		tx.Rollback()
		return s.notWritten(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return s.notWritten(ctx, s.explain(err))
	}
	return nil
}

// notWritten says that a failed Apply left the database as it was.
func (s *sqliteStore) notWritten(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("writing state %s was interrupted (%w); rolled back, nothing was written", s.path, ctx.Err())
	}
	return fmt.Errorf("%w; rolled back, nothing was written", err)
}

// applyTx writes changes inside tx (a Tx from begin).
func (s *sqliteStore) applyTx(ctx context.Context, tx *sql.Tx, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	if s.readOnly {
		return fmt.Errorf("cannot write state %s: %w", s.path, ErrReadOnly)
	}
	w, err := s.newWriter(ctx, tx, changes)
	if err != nil {
		return err
	}
	return w.run(ctx, tx, changes)
}

// Count returns how many live rows t has (the engine sizes its index with it).
func (s *sqliteStore) Count(ctx context.Context, t *Table) (int, error) {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return 0, err
	}
	key := quote(r.ts.cols[r.key].name)
	var n int
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s IS NOT NULL AND %s <> ''%s", quote(r.ts.name), key, key, r.liveSQL())
	if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, s.explain(err)
	}
	return n, nil
}
