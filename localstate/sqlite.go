package localstate

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
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
	s := &sqliteStore{path: path, db: db, readOnly: opts.ReadOnly, busy: opts.BusyTimeout,
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

// column is one row of PRAGMA table_xinfo.
type column struct {
	cid        int
	name       string
	declType   string // upper case
	notNull    bool
	hasDefault bool
	pk         int
	generated  bool
}

// selectExpr reads the column as stored. The driver turns text in a DATE,
// DATETIME or TIMESTAMP column into time.Time; +col (a no-op that hides the
// declared type) keeps the text. Only those columns get it: it costs a sixth
// of a scan.
func (c *column) selectExpr() string {
	switch c.declType {
	case "DATE", "DATETIME", "TIMESTAMP":
		return "+" + quote(c.name)
	}
	return quote(c.name)
}

// intAffinity follows SQLite's rule: a declared type containing INT.
func (c *column) intAffinity() bool { return strings.Contains(c.declType, "INT") }

type tableSchema struct {
	name      string
	cols      []column
	byName    map[string]int // exact name → index in cols
	byFold    map[string]int // lower-case name → index (SQLite names are case-insensitive)
	unique    map[int]bool   // columns with a single-column unique index (or the rowid alias)
	indexed   map[int]bool   // columns leading some index
	rowidCol  int            // the INTEGER PRIMARY KEY column, -1 when none
	names     string         // "id, email, ..." for error messages
	stateName string
}

func (ts *tableSchema) lookup(name string) (int, bool) {
	if i, ok := ts.byName[name]; ok {
		return i, true
	}
	i, ok := ts.byFold[strings.ToLower(name)]
	return i, ok
}

func (ts *tableSchema) missing(col, role string) error {
	return &SchemaError{Column: col, Err: fmt.Errorf("state %s: table %q has no column %q (%s); its columns are: %s; fix reconctl.yaml or the schema",
		ts.stateName, ts.name, col, role, ts.names)}
}

func tableName(t *Table) string {
	if t.Name != "" {
		return t.Name
	}
	return t.Resource
}

func keyName(t *Table) string {
	if t.Key != "" {
		return t.Key
	}
	return "id"
}

// quote makes a validated identifier safe to put in SQL.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// schema reads (once) a table's columns and indexes.
func (s *sqliteStore) schema(ctx context.Context, name string) (*tableSchema, error) {
	if name == "" {
		return nil, errors.New("a resource has no table name: set table: in reconctl.yaml")
	}
	s.mu.Lock()
	ts, ok := s.schemas[name]
	s.mu.Unlock()
	if ok {
		return ts, nil
	}
	ts = &tableSchema{name: name, stateName: s.path, byName: map[string]int{}, byFold: map[string]int{},
		unique: map[int]bool{}, indexed: map[int]bool{}, rowidCol: -1}
	rows, err := s.db.QueryContext(ctx, `SELECT cid, name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)`, name)
	if err != nil {
		return nil, s.explain(err)
	}
	var pks int
	for rows.Next() {
		var c column
		var dflt sql.NullString
		var hidden int
		if err := rows.Scan(&c.cid, &c.name, &c.declType, &c.notNull, &dflt, &c.pk, &hidden); err != nil {
			rows.Close()
			return nil, s.explain(err)
		}
		if hidden == 1 { // a virtual table's hidden column
			continue
		}
		c.declType = strings.ToUpper(c.declType)
		c.hasDefault = dflt.Valid
		c.generated = hidden >= 2
		if c.pk > 0 {
			pks++
		}
		ts.byName[c.name] = len(ts.cols)
		ts.byFold[strings.ToLower(c.name)] = len(ts.cols)
		ts.cols = append(ts.cols, c)
	}
	if err := rows.Close(); err != nil {
		return nil, s.explain(err)
	}
	if err := rows.Err(); err != nil {
		return nil, s.explain(err)
	}
	if len(ts.cols) == 0 {
		return nil, s.noTable(ctx, name)
	}
	names := make([]string, len(ts.cols))
	for i, c := range ts.cols {
		names[i] = c.name
		if pks == 1 && c.pk == 1 && c.declType == "INTEGER" {
			ts.rowidCol = i // INTEGER PRIMARY KEY: the rowid, unique and filled in by SQLite
			ts.unique[i], ts.indexed[i] = true, true
		}
	}
	ts.names = strings.Join(names, ", ")
	if err := s.readIndexes(ctx, ts); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.schemas[name] = ts
	s.mu.Unlock()
	return ts, nil
}

func (s *sqliteStore) readIndexes(ctx context.Context, ts *tableSchema) error {
	type index struct {
		name            string
		unique, partial bool
	}
	var idx []index
	rows, err := s.db.QueryContext(ctx, `SELECT name, "unique", partial FROM pragma_index_list(?)`, ts.name)
	if err != nil {
		return s.explain(err)
	}
	for rows.Next() {
		var x index
		if err := rows.Scan(&x.name, &x.unique, &x.partial); err != nil {
			rows.Close()
			return s.explain(err)
		}
		idx = append(idx, x)
	}
	if err := rows.Close(); err != nil {
		return s.explain(err)
	}
	for _, x := range idx {
		var cols []string
		rows, err := s.db.QueryContext(ctx, `SELECT coalesce(name, '') FROM pragma_index_info(?) ORDER BY seqno`, x.name)
		if err != nil {
			return s.explain(err)
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return s.explain(err)
			}
			cols = append(cols, c)
		}
		if err := rows.Close(); err != nil {
			return s.explain(err)
		}
		if len(cols) == 0 {
			continue
		}
		if i, ok := ts.lookup(cols[0]); ok && cols[0] != "" {
			if !x.partial {
				ts.indexed[i] = true
			}
			if len(cols) == 1 && x.unique && !x.partial {
				ts.unique[i] = true
			}
		}
	}
	return nil
}

func (s *sqliteStore) noTable(ctx context.Context, name string) error {
	var tables []string
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type IN ('table', 'view')
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT LIKE 'reconctl\_%' ESCAPE '\' ORDER BY name`)
	if err == nil {
		for rows.Next() {
			var t string
			if rows.Scan(&t) == nil {
				tables = append(tables, t)
			}
		}
		rows.Close()
	}
	have := "it has no tables: is this the application's database?"
	if len(tables) > 0 {
		have = "its tables are: " + strings.Join(tables, ", ")
	}
	return &SchemaError{Table: name, Err: fmt.Errorf("state %s has no table %q; %s; set table: for the resource in reconctl.yaml", s.path, name, have)}
}

// resolved is a table's config checked against its schema.
type resolved struct {
	ts       *tableSchema
	key      int
	soft     int // -1 when the table has no soft-delete column
	timeCols map[int]bool
}

func (s *sqliteStore) resolve(ctx context.Context, t *Table) (*resolved, error) {
	if t == nil {
		return nil, errors.New("a change has no table")
	}
	ts, err := s.schema(ctx, tableName(t))
	if err != nil {
		return nil, err
	}
	r := &resolved{ts: ts, soft: -1, timeCols: map[int]bool{}}
	var ok bool
	if r.key, ok = ts.lookup(keyName(t)); !ok {
		return nil, ts.missing(keyName(t), "the key of resource "+t.Resource)
	}
	if t.UpdatedAt != "" {
		i, ok := ts.lookup(t.UpdatedAt)
		if !ok {
			return nil, ts.missing(t.UpdatedAt, "updated_at of resource "+t.Resource)
		}
		r.timeCols[i] = true
	}
	if t.SoftDelete != "" {
		if r.soft, ok = ts.lookup(t.SoftDelete); !ok {
			return nil, ts.missing(t.SoftDelete, "soft_delete of resource "+t.Resource)
		}
	}
	for _, f := range t.Fields {
		i, ok := ts.lookup(f.Column)
		if !ok {
			return nil, ts.missing(f.Column, fmt.Sprintf("resources.%s.fields, mapped from %s", t.Resource, f.Path))
		}
		if f.Compare == CompareTime {
			r.timeCols[i] = true
		}
	}
	return r, nil
}

func (s *sqliteStore) Columns(ctx context.Context, t *Table) ([]string, error) {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(r.ts.cols)-1)
	for i, c := range r.ts.cols {
		if i != r.key {
			out = append(out, c.name)
		}
	}
	return out, nil
}

func (s *sqliteStore) KeyIndexed(ctx context.Context, t *Table) bool {
	r, err := s.resolve(ctx, t)
	return err == nil && r.ts.indexed[r.key]
}

// liveSQL is the condition for a row that is not soft-deleted. NULL, empty
// text and 0 all mean "not deleted" (deleted_at NULL and is_deleted 0 are both common);
// any other value marks the row deleted. It matches isLive.
func (r *resolved) liveSQL() string { return r.liveSQLOf("") }

// liveSQLOf qualifies the column with table (for UPDATE ... FROM).
func (r *resolved) liveSQLOf(table string) string {
	if r.soft < 0 {
		return ""
	}
	c := quote(r.ts.cols[r.soft].name)
	if table != "" {
		c = table + "." + c
	}
	return fmt.Sprintf(" AND (%[1]s IS NULL OR %[1]s = '' OR %[1]s = 0 OR %[1]s = '0')", c)
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

// plan is one table's write settings for one Apply.
type plan struct {
	*resolved
	id       int
	t        *Table
	required []int // NOT NULL columns without a default that a create must write
	upsert   bool  // the key has a unique index: creates are INSERT ... ON CONFLICT
	existing map[string]struct{}
	formats  map[int]timeFormat // of the time columns (timeCols)
}

// querier is a *sql.DB or the *sql.Tx of a Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// timeFormat learns (once per store) how column i of ts holds timestamps
// from the values it holds: the size of its integers (seconds, milliseconds,
// ...) or the layout of its text. A write then keeps that unit and format,
// so the next diff finds the value it wrote equal, not changed again.
func (s *sqliteStore) timeFormat(ctx context.Context, q querier, ts *tableSchema, i int) (timeFormat, error) {
	ck := ts.name + "\x00" + ts.cols[i].name
	s.mu.Lock()
	tf, ok := s.formats[ck]
	s.mu.Unlock()
	if ok {
		return tf, nil
	}
	col, table := quote(ts.cols[i].name), quote(ts.name)
	// A bounded sample: the largest of the first integers tells the unit.
	var n sql.NullInt64
	err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT max(abs(c)) FROM (SELECT %s AS c FROM %s WHERE typeof(%s) = 'integer' AND %s <> 0 LIMIT 1000)", col, table, col, col)).Scan(&n)
	if err != nil {
		return tf, s.explain(err)
	}
	var text sql.NullString
	err = q.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE typeof(%s) = 'text' AND trim(%s) <> '' LIMIT 1", col, table, col, col)).Scan(&text)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return tf, s.explain(err)
	}
	switch {
	case n.Valid && (ts.cols[i].intAffinity() || !text.Valid):
		tf = timeFormatOf(n.Int64)
	case text.Valid:
		tf = timeFormatOf(text.String)
	}
	s.mu.Lock()
	s.formats[ck] = tf
	s.mu.Unlock()
	return tf, nil
}

type colValue struct {
	i    int
	name string // as given in Change.Values
	v    any
}

// writer carries one Apply: the plans, the statements prepared in its
// transaction, and buffers reused from change to change.
type writer struct {
	s     *sqliteStore
	q     querier // reads the schema's samples: the Apply's tx, or the database
	plans map[*Table]*plan
	now   time.Time
	stmts map[string]*sql.Stmt
	key   []byte // the shape of the change at hand
	bkey  []byte // the shape of the batch's statement
	cols  []colValue
	args  []any
	batch batch

	// The previous change's columns: consecutive changes usually carry the
	// same ones, which then need no sorting.
	prevPlan *plan
	prevCols []colValue
}

// batch collects consecutive inserts, or updates by a unique key, of one
// shape into one statement: a multi-row INSERT, or an UPDATE ... FROM
// (VALUES ...). One statement per maxBatchRows rows writes about twice as
// fast as one per row.
type batch struct {
	op     byte // 'c' insert, 'u' update
	p      *plan
	shape  string
	cols   []colValue // columns only (values are in args)
	revive bool
	rows   int
	args   []any // per row: key, then the values of cols
	keys   []string
	seen   map[string]struct{} // keys of an update batch: one UPDATE must not name a row twice
}

const (
	maxBatchRows   = 128
	maxBatchParams = 30000 // below SQLite's 32766 bound parameters
)

// newWriter checks every change against the schema before anything is
// written, so a bad batch fails without touching the database.
func (s *sqliteStore) newWriter(ctx context.Context, q querier, changes []Change) (*writer, error) {
	w := &writer{s: s, q: q, plans: map[*Table]*plan{}, now: time.Now().UTC(), stmts: map[string]*sql.Stmt{}}
	for _, ch := range changes {
		p, err := w.plan(ctx, ch.Table)
		if err != nil {
			return nil, err
		}
		if ch.Key == "" {
			return nil, fmt.Errorf("%s %s: the change has no key", ch.Op, ch.Table.Resource)
		}
		switch ch.Op {
		case OpCreate, OpUpdate:
			if err := w.columns(p, ch); err != nil {
				return nil, err
			}
			for _, cv := range w.cols {
				if c := &p.ts.cols[cv.i]; cv.v == nil && c.notNull {
					return nil, fmt.Errorf("%s %s %s: column %q of table %q is NOT NULL but the provider has no value for it; map another field or relax the column",
						ch.Op, ch.Table.Resource, ch.Key, c.name, p.ts.name)
				}
			}
			if ch.Op == OpCreate {
			next:
				for _, req := range p.required {
					for _, cv := range w.cols {
						if cv.i == req {
							continue next
						}
					}
					return nil, fmt.Errorf("cannot create %s %s: column %q of table %q is NOT NULL without a default and reconctl does not write it; map it under resources.%s.fields in reconctl.yaml or give the column a default",
						ch.Table.Resource, ch.Key, p.ts.cols[req].name, p.ts.name, ch.Table.Resource)
				}
			}
		case OpDelete:
		default:
			return nil, fmt.Errorf("%s %s: unknown change %q", ch.Table.Resource, ch.Key, ch.Op)
		}
	}
	return w, nil
}

func (w *writer) plan(ctx context.Context, t *Table) (*plan, error) {
	if p, ok := w.plans[t]; ok {
		return p, nil
	}
	r, err := w.s.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	p := &plan{resolved: r, id: len(w.plans), t: t, upsert: r.ts.unique[r.key], formats: map[int]timeFormat{}}
	for i := range r.timeCols {
		tf, err := w.s.timeFormat(ctx, w.q, r.ts, i)
		if err != nil {
			return nil, err
		}
		p.formats[i] = tf
	}
	for i, c := range r.ts.cols {
		if c.notNull && !c.hasDefault && !c.generated && i != r.key && i != r.ts.rowidCol {
			p.required = append(p.required, i)
		}
	}
	w.plans[t] = p
	return p, nil
}

// columns resolves ch.Values into w.cols, sorted by column position so that
// equal column sets share one prepared statement. The key column is written
// from ch.Key, never from Values.
func (w *writer) columns(p *plan, ch Change) error {
	w.cols = w.cols[:0]
	if p == w.prevPlan && len(ch.Values) == len(w.prevCols) {
		same := true
		for _, c := range w.prevCols {
			v, ok := ch.Values[c.name]
			if !ok {
				same = false
				break
			}
			w.cols = append(w.cols, colValue{c.i, c.name, v})
		}
		if same {
			return nil
		}
		w.cols = w.cols[:0]
	}
	for name, v := range ch.Values {
		i, ok := p.ts.lookup(name)
		if !ok {
			return p.ts.missing(name, fmt.Sprintf("a value of %s %s", ch.Table.Resource, ch.Key))
		}
		if i == p.key {
			continue
		}
		w.cols = append(w.cols, colValue{i, name, v})
	}
	slices.SortFunc(w.cols, func(a, b colValue) int { return a.i - b.i })
	for j := 1; j < len(w.cols); j++ {
		if w.cols[j].i == w.cols[j-1].i {
			return fmt.Errorf("%s %s: column %q is given twice (names differ only in case)", ch.Table.Resource, ch.Key, p.ts.cols[w.cols[j].i].name)
		}
	}
	w.prevPlan = p
	w.prevCols = append(w.prevCols[:0], w.cols...)
	for j := range w.prevCols {
		w.prevCols[j].v = nil
	}
	return nil
}

func (w *writer) run(ctx context.Context, tx *sql.Tx, changes []Change) error {
	defer func() {
		for _, st := range w.stmts {
			st.Close()
		}
	}()
	// Statements run with a context that is never cancelled: with a
	// cancellable one the driver starts a watcher goroutine per statement,
	// which halves the write rate. Cancellation is checked here instead, and
	// database/sql rolls the transaction back when ctx ends.
	xctx := context.WithoutCancel(ctx)
	for n, ch := range changes {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		p := w.plans[ch.Table]
		var err error
		switch ch.Op {
		case OpCreate:
			err = w.create(xctx, tx, p, ch)
		case OpUpdate:
			err = w.update(xctx, tx, p, ch)
		case OpDelete:
			err = w.delete(xctx, tx, p, ch)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
	if err := w.flush(xctx, tx); err != nil {
		return err
	}
	return ctx.Err()
}

// stmt returns the statement for the shape in key, preparing it with
// build() the first time.
func (w *writer) stmt(ctx context.Context, tx *sql.Tx, key []byte, build func() string) (*sql.Stmt, error) {
	if st, ok := w.stmts[string(key)]; ok {
		return st, nil
	}
	st, err := tx.PrepareContext(ctx, build())
	if err != nil {
		return nil, err
	}
	w.stmts[string(key)] = st
	return st, nil
}

func (w *writer) shape(op byte, p *plan) {
	w.key = append(w.key[:0], op)
	w.key = binary.AppendUvarint(w.key, uint64(p.id))
	for _, cv := range w.cols {
		w.key = binary.AppendUvarint(w.key, uint64(cv.i))
	}
}

// bind appends the values in w.cols, converted, to args.
func (w *writer) bind(p *plan, args []any) ([]any, error) {
	for _, cv := range w.cols {
		c := &p.ts.cols[cv.i]
		tf, asTime := p.formats[cv.i]
		v, err := sqlValue(cv.v, asTime, tf, c.intAffinity())
		if err != nil {
			return args, fmt.Errorf("column %q: %w", c.name, err)
		}
		args = append(args, v)
	}
	return args, nil
}

// liveValue is what reviving a row writes into the soft-delete column.
func (p *plan) liveValue() string {
	c := &p.ts.cols[p.soft]
	switch {
	case !c.notNull:
		return "NULL"
	case c.intAffinity() || strings.Contains(c.declType, "BOOL"):
		return "0"
	}
	return "''"
}

// softWritten reports whether the change's own values set the soft-delete column.
func (w *writer) softWritten(p *plan) bool {
	for _, cv := range w.cols {
		if cv.i == p.soft {
			return true
		}
	}
	return false
}

func (w *writer) fail(p *plan, ch Change, err error) error {
	return fmt.Errorf("%s %s %s (table %q): %w", ch.Op, ch.Table.Resource, ch.Key, p.ts.name, w.s.explain(err))
}

// create writes the record whether or not a row with its key exists: a
// soft-deleted row is revived, a live one (written by someone else since the
// plan was made) gets the provider's values. The key never ends up twice.
func (w *writer) create(ctx context.Context, tx *sql.Tx, p *plan, ch Change) error {
	if err := w.columns(p, ch); err != nil {
		return err
	}
	revive := p.soft >= 0 && !w.softWritten(p)
	if !p.upsert {
		if p.existing == nil {
			if err := w.flush(ctx, tx); err != nil {
				return err
			}
			if err := w.loadKeys(ctx, tx, p); err != nil {
				return w.fail(p, ch, err)
			}
		}
		if _, ok := p.existing[ch.Key]; ok {
			return w.reviveOrUpdate(ctx, tx, p, ch, revive)
		}
		p.existing[ch.Key] = struct{}{}
	}
	w.shape('c', p)
	return w.add(ctx, tx, 'c', p, ch, revive)
}

// add appends ch (its values in w.cols, its shape in w.key) to the batch,
// writing the batch first if it holds another shape.
func (w *writer) add(ctx context.Context, tx *sql.Tx, op byte, p *plan, ch Change, revive bool) error {
	b := &w.batch
	if b.rows > 0 && b.shape != string(w.key) {
		if err := w.flush(ctx, tx); err != nil {
			return err
		}
	}
	if op == 'u' {
		if _, dup := b.seen[ch.Key]; dup {
			if err := w.flush(ctx, tx); err != nil {
				return err
			}
		}
	}
	if b.rows == 0 {
		b.op, b.p, b.shape, b.revive = op, p, string(w.key), revive
		b.cols = append(b.cols[:0], w.cols...)
		b.args, b.keys = b.args[:0], b.keys[:0]
		if b.seen == nil {
			b.seen = map[string]struct{}{}
		}
		clear(b.seen)
	}
	b.args = append(b.args, ch.Key)
	var err error
	if b.args, err = w.bind(p, b.args); err != nil {
		return w.fail(p, ch, err)
	}
	b.keys = append(b.keys, ch.Key)
	if op == 'u' {
		b.seen[ch.Key] = struct{}{}
	}
	b.rows++
	if b.rows >= maxBatchRows || (b.rows+1)*(len(b.cols)+1) > maxBatchParams {
		return w.flush(ctx, tx)
	}
	return nil
}

// flush writes the pending batch. If the statement fails, or an update
// batch misses a row, the rows are tried one by one so that the error names
// the record at fault (SQLite undoes the failed statement, and the caller
// rolls back the transaction).
func (w *writer) flush(ctx context.Context, tx *sql.Tx) error {
	b := &w.batch
	if b.rows == 0 {
		return nil
	}
	defer func() { b.rows = 0 }()
	width := len(b.cols) + 1
	st, err := w.batchStmt(ctx, tx, b.rows)
	if err == nil {
		var res sql.Result
		if res, err = st.ExecContext(ctx, b.args...); err == nil {
			if b.op == 'c' {
				return nil
			}
			if n, err := res.RowsAffected(); err == nil && n == int64(b.rows) {
				return nil
			}
		}
	}
	batchErr := err
	one, err := w.batchStmt(ctx, tx, 1)
	if err != nil {
		return w.fail(b.p, Change{Table: b.p.t, Op: b.changeOp(), Key: b.keys[0]}, err)
	}
	for r := range b.rows {
		ch := Change{Table: b.p.t, Op: b.changeOp(), Key: b.keys[r]}
		res, err := one.ExecContext(ctx, b.args[r*width:(r+1)*width]...)
		if err != nil {
			return w.fail(b.p, ch, err)
		}
		if n, err := res.RowsAffected(); b.op == 'u' && err == nil && n == 0 {
			return w.gone(b.p, ch)
		}
	}
	if batchErr == nil {
		batchErr = errors.New("the batch wrote fewer rows than it holds")
	}
	return w.fail(b.p, Change{Table: b.p.t, Op: b.changeOp(), Key: b.keys[0]}, batchErr)
}

func (b *batch) changeOp() Op {
	if b.op == 'u' {
		return OpUpdate
	}
	return OpCreate
}

// batchStmt prepares the batch's statement for rows rows.
func (w *writer) batchStmt(ctx context.Context, tx *sql.Tx, rows int) (*sql.Stmt, error) {
	b := &w.batch
	p := b.p
	// Its own buffer: w.key holds the shape of the change being added.
	w.bkey = append(append(w.bkey[:0], b.shape...), '#')
	w.bkey = binary.AppendUvarint(w.bkey, uint64(rows))
	table, key := quote(p.ts.name), quote(p.ts.cols[p.key].name)
	tuple := "(?" + strings.Repeat(", ?", len(b.cols)) + ")"
	values := "VALUES " + tuple + strings.Repeat(", "+tuple, rows-1)
	if b.op == 'u' {
		// Each VALUES row is (key, values...): column1 is the key. Every
		// name is qualified, as the app's columns may be called column1.
		return w.stmt(ctx, tx, w.bkey, func() string {
			var set []string
			for j, cv := range b.cols {
				set = append(set, fmt.Sprintf("%s = reconctl_v.column%d", quote(p.ts.cols[cv.i].name), j+2))
			}
			return fmt.Sprintf("UPDATE %s SET %s FROM (%s) AS reconctl_v WHERE %s.%s = reconctl_v.column1%s",
				table, strings.Join(set, ", "), values, table, key, p.liveSQLOf(table))
		})
	}
	st, err := w.stmt(ctx, tx, w.bkey, func() string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "INSERT INTO %s (%s", table, key)
		for _, cv := range b.cols {
			sb.WriteString(", " + quote(p.ts.cols[cv.i].name))
		}
		sb.WriteString(") " + values)
		if !p.upsert {
			return sb.String()
		}
		var set []string
		for _, cv := range b.cols {
			c := quote(p.ts.cols[cv.i].name)
			set = append(set, c+" = excluded."+c)
		}
		if b.revive {
			set = append(set, quote(p.ts.cols[p.soft].name)+" = "+p.liveValue())
		}
		fmt.Fprintf(&sb, " ON CONFLICT (%s) DO ", key)
		if len(set) == 0 {
			sb.WriteString("NOTHING")
		} else {
			sb.WriteString("UPDATE SET " + strings.Join(set, ", "))
		}
		return sb.String()
	})
	if err != nil && p.upsert && strings.Contains(err.Error(), "ON CONFLICT") {
		// The unique index does not qualify as a conflict target (a
		// collation, say): insert plainly; a key that exists then fails
		// loudly on the index instead of being written twice.
		p.upsert = false
		return w.batchStmt(ctx, tx, rows)
	}
	return st, err
}

// loadKeys reads every key of a table whose key has no unique index, once
// per Apply: one scan instead of a lookup per create on an unindexed column.
func (w *writer) loadKeys(ctx context.Context, tx *sql.Tx, p *plan) error {
	key := quote(p.ts.cols[p.key].name)
	rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s IS NOT NULL", key, quote(p.ts.name), key))
	if err != nil {
		return err
	}
	defer rows.Close()
	p.existing = map[string]struct{}{}
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if k, ok, _ := keyString(v); ok {
			p.existing[k] = struct{}{}
		}
	}
	return rows.Err()
}

// reviveOrUpdate is a create for a key that already has a row.
func (w *writer) reviveOrUpdate(ctx context.Context, tx *sql.Tx, p *plan, ch Change, revive bool) error {
	if len(w.cols) == 0 && !revive {
		return nil
	}
	if err := w.flush(ctx, tx); err != nil {
		return err
	}
	w.shape('r', p)
	st, err := w.stmt(ctx, tx, w.key, func() string {
		var set []string
		for _, cv := range w.cols {
			set = append(set, quote(p.ts.cols[cv.i].name)+" = ?")
		}
		if revive {
			set = append(set, quote(p.ts.cols[p.soft].name)+" = "+p.liveValue())
		}
		return fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?", quote(p.ts.name), strings.Join(set, ", "), quote(p.ts.cols[p.key].name))
	})
	if err != nil {
		return w.fail(p, ch, err)
	}
	if w.args, err = w.bind(p, w.args[:0]); err != nil {
		return w.fail(p, ch, err)
	}
	w.args = append(w.args, ch.Key)
	if _, err := st.ExecContext(ctx, w.args...); err != nil {
		return w.fail(p, ch, err)
	}
	return nil
}

func (w *writer) update(ctx context.Context, tx *sql.Tx, p *plan, ch Change) error {
	if err := w.columns(p, ch); err != nil {
		return err
	}
	if len(w.cols) == 0 {
		return nil
	}
	w.shape('u', p)
	if p.upsert { // a unique key: one UPDATE ... FROM (VALUES ...) per batch
		return w.add(ctx, tx, 'u', p, ch, false)
	}
	if err := w.flush(ctx, tx); err != nil {
		return err
	}
	st, err := w.stmt(ctx, tx, w.key, func() string {
		var set []string
		for _, cv := range w.cols {
			set = append(set, quote(p.ts.cols[cv.i].name)+" = ?")
		}
		return fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?%s", quote(p.ts.name), strings.Join(set, ", "), quote(p.ts.cols[p.key].name), p.liveSQL())
	})
	if err != nil {
		return w.fail(p, ch, err)
	}
	if w.args, err = w.bind(p, w.args[:0]); err != nil {
		return w.fail(p, ch, err)
	}
	w.args = append(w.args, ch.Key)
	return w.execOne(ctx, st, p, ch)
}

func (w *writer) delete(ctx context.Context, tx *sql.Tx, p *plan, ch Change) error {
	if err := w.flush(ctx, tx); err != nil {
		return err
	}
	w.cols = w.cols[:0]
	w.shape('d', p)
	st, err := w.stmt(ctx, tx, w.key, func() string {
		key := quote(p.ts.cols[p.key].name)
		if p.soft < 0 {
			return fmt.Sprintf("DELETE FROM %s WHERE %s = ?", quote(p.ts.name), key)
		}
		return fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s = ?%s", quote(p.ts.name), quote(p.ts.cols[p.soft].name), key, p.liveSQL())
	})
	if err != nil {
		return w.fail(p, ch, err)
	}
	w.args = w.args[:0]
	if p.soft >= 0 {
		w.args = append(w.args, softDeleteValue(&p.ts.cols[p.soft], w.now))
	}
	w.args = append(w.args, ch.Key)
	return w.execOne(ctx, st, p, ch)
}

// execOne runs an update or delete that must hit a row: if the row is gone,
// the plan no longer matches the database and the batch must not half-apply.
func (w *writer) execOne(ctx context.Context, st *sql.Stmt, p *plan, ch Change) error {
	res, err := st.ExecContext(ctx, w.args...)
	if err != nil {
		return w.fail(p, ch, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return w.gone(p, ch)
	}
	return nil
}

// gone is the error for an update or delete whose row is not there.
func (w *writer) gone(p *plan, ch Change) error {
	return fmt.Errorf("%s %s %s: table %q has no live row with %s = %q any more (it changed since it was read: run again)",
		ch.Op, ch.Table.Resource, ch.Key, p.ts.name, p.ts.cols[p.key].name, ch.Key)
}

// softDeleteValue marks a row deleted: the time, as unix seconds in an
// integer column, 1 in a boolean one, RFC 3339 text otherwise.
func softDeleteValue(c *column, now time.Time) any {
	switch {
	case c.intAffinity():
		return now.Unix()
	case strings.Contains(c.declType, "BOOL"):
		return int64(1)
	}
	return FormatTime(now)
}

// sqlValue converts a provider value to what SQLite stores. A time field is
// written in the column's own format tf (learnt from its values; by default
// RFC 3339 text, or unix seconds in an integer column); a value that is not
// a time is written as given.
func sqlValue(v any, asTime bool, tf timeFormat, intAffinity bool) (any, error) {
	if asTime {
		if t, ok := ParseTime(v); ok {
			return tf.value(t, intAffinity), nil
		}
	}
	switch x := v.(type) {
	case nil, string, int64, float64, []byte:
		return x, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		if !strings.ContainsAny(string(x), ".eE") {
			return string(x), nil // an integer too big for int64: keep every digit as text
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return string(x), nil
		}
		return f, nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case time.Time:
		return tf.value(x, intAffinity), nil
	}
	s, err := compactJSON(v) // maps and lists
	if err != nil {
		return nil, fmt.Errorf("cannot store %s: %w", describe(v), err)
	}
	return s, nil
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
