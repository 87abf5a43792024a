// The generic SQL store: what SQLite, PostgreSQL and MySQL states share —
// reading (Scan, Get, Count) and writing (Apply, the Tx seam) through the
// dialect (dialect.go) and the batch writer (sqlwrite.go).

package localstate

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// sqlStore is the app's own SQL database: SQLite, PostgreSQL or MySQL, the
// differences behind d (dialect.go). Every identifier comes from the config
// and is checked against the schema, then quoted; every value is a bound
// parameter.
type sqlStore struct {
	d        sqlDialect
	path     string
	db       *sql.DB
	readOnly bool
	busy     time.Duration
	// rq is what reads go through: the database, or a server store's
	// read-only snapshot (one moment of every table for the whole run).
	rq dbQuerier
	// sq, when set, runs Scan's streaming query instead of rq (a server
	// snapshot whose connection cannot run a Get while it streams).
	sq dbQuerier
	// txOpts begins write transactions (nil: the driver's default).
	txOpts *sql.TxOptions

	// pin (SQLite, writable) is the one connection every write
	// transaction runs on, and pinVersion its PRAGMA data_version read
	// when the store opened, before any read of the app's data. SQLite has
	// one writer: once BEGIN IMMEDIATE holds the write lock, an unchanged
	// data_version on that connection says no other connection committed
	// anything since the store opened, so every read made through the
	// store since then still holds, and the writer may skip re-reading the
	// rows of conditional changes derived from those reads
	// (Expect.FromReads; writer.unchanged). pinUsed is set by the first
	// write transaction, the only one on pin: the store's own writes do
	// not move data_version, so after one the skip is off for the store's
	// life.
	pin        *sql.Conn
	pinVersion int64
	pinUsed    bool

	mu      sync.Mutex
	schemas map[string]*tableSchema // by table name as configured
	gets    map[string]*sql.Stmt    // Get statements by SQL text
	formats map[string]timeFormat   // time columns' formats by table NUL column
}

var _ KeyIndexer = (*sqlStore)(nil)

// newSQLStore is a store over db with dialect d.
func newSQLStore(d sqlDialect, path string, db *sql.DB, opts OpenOptions) *sqlStore {
	return &sqlStore{d: d, path: path, db: db, rq: db, readOnly: opts.ReadOnly, busy: opts.BusyTimeout,
		schemas: map[string]*tableSchema{}, gets: map[string]*sql.Stmt{}, formats: map[string]timeFormat{}}
}

// loc is the state's location as it may be shown (a DSN without its password).
func (s *sqlStore) loc() string { return RedactLocation(s.path) }

// explain is the dialect's explain for this state.
func (s *sqlStore) explain(err error) error {
	if err == nil {
		return nil
	}
	return s.d.explain(err, s.loc(), s.busy)
}

func (s *sqlStore) Kind() string { return s.d.kind() }

func (s *sqlStore) Path() string { return s.path }

// Features: a SQL database counts, indexes and has transactions.
func (s *sqlStore) Features() Features {
	return Features{Count: s.Count, KeyIndexed: s.KeyIndexed, KeyHealth: s.KeyHealth, Begin: s.begin, GetMany: s.GetMany, Exists: s.exists}
}

// begin starts a transaction (BEGIN IMMEDIATE on a writable store: the
// write lock is taken up front).
func (s *sqlStore) begin(ctx context.Context) (Tx, error) {
	tx, unchanged, err := s.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	// The statements of the transaction's Applies, kept from one to the
	// next (the engine applies a large plan in chunks).
	stmts := map[string]*sql.Stmt{}
	stx := &sqlTx{Tx: tx, apply: func(ctx context.Context, tx *sql.Tx, changes []Change) error {
		return s.applyTx(ctx, tx, changes, stmts, unchanged)
	}}
	if g, ok := s.d.(txGoner); ok {
		stx.gone = g.txGone
	}
	return &stateTx{sqlTx: stx, loc: s.loc()}, nil
}

// beginTx begins a write transaction. The
// store's first one runs on the pinned connection, if any, and says
// whether nothing was committed to the database since the store opened
// (unchanged, see pin); later ones (the skip is off by then) and any
// running alongside it take a connection from the pool, as before.
func (s *sqlStore) beginTx(ctx context.Context) (tx *sql.Tx, unchanged bool, err error) {
	s.mu.Lock()
	pin := s.pin
	if s.pinUsed || s.readOnly {
		pin = nil
	}
	s.pinUsed = true
	s.mu.Unlock()
	if pin == nil {
		tx, err = s.db.BeginTx(ctx, s.txOpts)
	} else {
		tx, err = pin.BeginTx(ctx, s.txOpts)
	}
	if err != nil {
		return nil, false, s.explain(err)
	}
	if pin != nil {
		var v int64
		if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
			tx.Rollback()
			return nil, false, s.explain(err)
		}
		unchanged = v == s.pinVersion
	}
	return tx, unchanged, nil
}

func (s *sqlStore) Close() error {
	if s.pin != nil {
		s.pin.Close()
	}
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

// selectSQL reads key and cols of live rows. Rows without a key (NULL or empty)
// are not copies of any provider record, so they are left out. withVersion
// appends the version columns (versioner).
func (s *sqlStore) selectSQL(r *resolved, cols []string, withVersion bool) (string, error) {
	var b strings.Builder
	kc := &r.ts.cols[r.key]
	b.WriteString("SELECT " + s.d.selectExpr(kc))
	for _, c := range cols {
		i, ok := r.ts.lookup(c)
		if !ok {
			return "", r.ts.missing(c, "asked for by the engine")
		}
		b.WriteString(", " + s.d.selectExpr(&r.ts.cols[i]))
	}
	if withVersion {
		b.WriteString(", " + s.d.(versioner).versionExprs())
	}
	fmt.Fprintf(&b, " FROM %s WHERE %s%s%s", r.ts.ref, s.d.keyPresent(kc, s.d.quote(kc.name)), r.liveSQL(), r.scopeSQL())
	return b.String(), nil
}

// versioner is a dialect whose scans can give each row's stored version
// (Row.Version) and whose batched updates can be conditional on it
// (Postgres: ctid and xmin, conditional_pg.go).
type versioner interface {
	// versionExprs are the two columns a scan appends to read the version.
	versionExprs() string
	// parseVersion is the version of the two columns' values as scanned.
	parseVersion(loc []byte, xact int64) (RowVersion, bool)
	// updateVersioned is updateArrays writing only the rows still at the
	// version the last two array parameters give (their ctid and xmin as
	// text), returning the 1-based positions of the rows it did not write.
	updateVersioned(table, key string, cols []string, types []*column, live string) string
	// versionText is v in the text forms of updateVersioned's arrays.
	versionText(v RowVersion) (loc, xact string)
}

// versioned reports whether the store's scans of r give versions: a
// writable state whose dialect has them for r's table (a read-only run
// writes nothing, so it reads nothing it does not compare).
func (s *sqlStore) versioned(r *resolved) bool {
	_, ok := s.d.(versioner)
	return ok && !s.readOnly && r.ts.versions
}

// rowScanner reads rows into one reused Row.
type rowScanner struct {
	key    any
	values []any
	dest   []any
	conv   []func(any) any // per value, the dialect's scanConv (nil: none)
	keyCv  func(any) any
	// ver, when set, parses the version columns the query ends with
	// (versioner) into the Row.
	ver     versioner
	verLoc  sql.RawBytes
	verXact int64
}

// withVersion makes rs read the version columns after the values.
func (rs *rowScanner) withVersion(v versioner) *rowScanner {
	rs.ver = v
	rs.dest = append(rs.dest, &rs.verLoc, &rs.verXact)
	return rs
}

func (s *sqlStore) newRowScanner(r *resolved, cols []string) *rowScanner {
	n := len(cols)
	rs := &rowScanner{values: make([]any, n), dest: make([]any, n+1)}
	rs.dest[0] = &rs.key
	rs.keyCv = s.d.scanConv(&r.ts.cols[r.key])
	for i := range rs.values {
		rs.dest[i+1] = &rs.values[i]
		if j, ok := r.ts.lookup(cols[i]); ok {
			if cv := s.d.scanConv(&r.ts.cols[j]); cv != nil {
				if rs.conv == nil {
					rs.conv = make([]func(any) any, n)
				}
				rs.conv[i] = cv
			}
		}
	}
	return rs
}

func (rs *rowScanner) scan(rows *sql.Rows) (Row, bool, error) {
	if err := rows.Scan(rs.dest...); err != nil {
		return Row{}, false, err
	}
	if rs.keyCv != nil {
		rs.key = rs.keyCv(rs.key)
	}
	key, ok, err := keyString(rs.key)
	if err != nil || !ok {
		return Row{}, false, err
	}
	for i, v := range rs.values {
		if b, isBytes := v.([]byte); isBytes {
			v = string(b)
			rs.values[i] = v
		}
		if rs.conv != nil && rs.conv[i] != nil {
			rs.values[i] = rs.conv[i](v)
		}
	}
	row := Row{Key: key, Values: rs.values}
	if rs.ver != nil {
		v, ok := rs.ver.parseVersion(rs.verLoc, rs.verXact)
		if !ok {
			return Row{}, false, fmt.Errorf("reading the row version of %q: unexpected ctid %q", key, rs.verLoc)
		}
		row.Version = v
	}
	return row, true, nil
}

func (s *sqlStore) Scan(ctx context.Context, t *Table, cols []string, fn func(Row) error) error {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return err
	}
	q, err := s.selectSQL(r, cols, s.versioned(r))
	if err != nil {
		return err
	}
	sq := s.rq
	if s.sq != nil {
		sq = s.sq
	}
	rows, err := sq.QueryContext(ctx, s.d.rebind(q), r.scopeArgs()...)
	if err != nil {
		return s.explain(err)
	}
	defer rows.Close()
	rs := s.newRowScanner(r, cols)
	if s.versioned(r) {
		rs.withVersion(s.d.(versioner))
	}
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

func (s *sqlStore) Get(ctx context.Context, t *Table, cols []string, key string) (Row, bool, error) {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return Row{}, false, err
	}
	q, err := s.selectSQL(r, cols, false)
	if err != nil {
		return Row{}, false, err
	}
	q += " AND " + s.d.quote(r.ts.cols[r.key].name) + " = ? LIMIT 1"
	st, err := s.getStmt(ctx, q)
	if err != nil {
		return Row{}, false, err
	}
	rows, err := st.QueryContext(ctx, r.scopeArgs(key)...)
	if err != nil {
		return Row{}, false, s.explain(err)
	}
	defer rows.Close()
	rs := s.newRowScanner(r, cols)
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

// getManyChunk is how many keys one GetMany statement asks for at most:
// far below every dialect's bound on parameters (SQLite 32766, Postgres and
// MySQL 65535) with the scope's one more.
const getManyChunk = 512

// getManySize is the IN list's length for a chunk of n keys: the next
// power of two from 8 up to getManyChunk (the list padded by repeating a
// key), so a table and column set has at most seven prepared statements.
func getManySize(n int) int {
	size := 8
	for size < n && size < getManyChunk {
		size *= 2
	}
	return size
}

// GetMany reads keys' live rows getManyChunk at a time with one prepared
// SELECT … AND key IN (?, …) each (the key column quoted, every key and the
// tenant bound, the same live-row and scope filter as Get), then answers
// what a batch found no exact row for with Get (see Features.GetMany).
func (s *sqlStore) GetMany(ctx context.Context, t *Table, cols []string, keys []string, fn func(key string, row Row) error) error {
	return s.getMany(ctx, t, cols, keys, s.Get, fn)
}

// getMany is GetMany with get as the single-key read (a server store's
// own Get, for its checks of a key).
func (s *sqlStore) getMany(ctx context.Context, t *Table, cols []string, keys []string,
	get func(context.Context, *Table, []string, string) (Row, bool, error), fn func(key string, row Row) error) error {
	if len(keys) == 0 {
		return nil
	}
	r, err := s.resolve(ctx, t)
	if err != nil {
		return err
	}
	base, err := s.selectSQL(r, cols, false)
	if err != nil {
		return err
	}
	base += " AND " + s.d.quote(r.ts.cols[r.key].name) + " IN (?"
	rs := s.newRowScanner(r, cols)
	asked := make(map[string]bool, min(len(keys), getManyChunk))
	found := make(map[string][]any, min(len(keys), getManyChunk))
	chunk := make([]string, 0, getManyChunk)
	args := make([]any, 0, getManyChunk+1)
	for start := 0; start < len(keys); {
		// The next chunk of distinct keys not asked yet.
		chunk = chunk[:0]
		for ; start < len(keys) && len(chunk) < getManyChunk; start++ {
			if k := keys[start]; !asked[k] {
				asked[k] = true
				chunk = append(chunk, k)
			}
		}
		if len(chunk) == 0 {
			break
		}
		size := getManySize(len(chunk))
		st, err := s.getStmt(ctx, base+strings.Repeat(", ?", size-1)+")")
		if err != nil {
			return err
		}
		args = args[:0]
		for i := range size {
			args = append(args, chunk[min(i, len(chunk)-1)])
		}
		clear(found)
		if err := s.readChunk(ctx, st, rs, r.scopeArgs(args...), chunk, found); err != nil {
			return err
		}
		for _, k := range chunk {
			vals, ok := found[k]
			var row Row
			if ok {
				row = Row{Key: k, Values: vals}
			} else if row, ok, err = get(ctx, t, cols, k); err != nil {
				return err
			}
			if ok {
				if err := fn(k, row); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// readChunk runs one GetMany statement and keeps, per key of chunk, the
// first row whose key is that key exactly. The rows are read to the end
// before the caller's fn runs (a server snapshot's one connection serves
// the Gets too).
func (s *sqlStore) readChunk(ctx context.Context, st *sql.Stmt, rs *rowScanner, args []any, chunk []string, found map[string][]any) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return s.explain(err)
	}
	defer rows.Close()
	want := make(map[string]bool, len(chunk))
	for _, k := range chunk {
		want[k] = true
	}
	for rows.Next() {
		row, ok, err := rs.scan(rows)
		if err != nil {
			return s.explain(err)
		}
		if _, dup := found[row.Key]; ok && want[row.Key] && !dup {
			found[row.Key] = slices.Clone(row.Values)
		}
	}
	if err := rows.Err(); err != nil {
		return s.explain(err)
	}
	return s.explain(rows.Close())
}

// existsPart is how many keys one of exists' queries carries.
const existsPart = 500

// exists is Features.Exists: one SELECT … WHERE key IN (…) per part of
// keys, through Get's own filter (live rows, the table's scope). A row is
// returned for every key equal to it under the key column's collation, so
// a key no row returns byte for byte has no row when none came back; when
// some did, such a key may equal one of them (a case-insensitive collation,
// "007" against an integer key) and Get answers for it.
func (s *sqlStore) exists(ctx context.Context, t *Table, keys []string) (map[string]bool, error) {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	base, err := s.selectSQL(r, nil, false)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(keys))
	rs := s.newRowScanner(r, nil)
	for start := 0; start < len(keys); start += existsPart {
		part := keys[start:min(start+existsPart, len(keys))]
		q := base + " AND " + s.d.quote(r.ts.cols[r.key].name) + " IN (?" + strings.Repeat(", ?", len(part)-1) + ")"
		args := make([]any, len(part))
		for i, k := range part {
			args[i] = k
		}
		rows, err := s.rq.QueryContext(ctx, s.d.rebind(q), r.scopeArgs(args...)...)
		if err != nil {
			return nil, s.explain(err)
		}
		found := map[string]bool{}
		for rows.Next() {
			row, ok, err := rs.scan(rows)
			if err != nil {
				rows.Close()
				return nil, s.explain(err)
			}
			if ok {
				found[row.Key] = true
			}
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, s.explain(err)
		}
		if err := rows.Close(); err != nil {
			return nil, s.explain(err)
		}
		for _, k := range part {
			switch {
			case found[k]:
				out[k] = true
			case len(found) == 0:
				out[k] = false
			default:
				_, ok, err := s.Get(ctx, t, nil, k)
				if err != nil {
					return nil, err
				}
				out[k] = ok
			}
		}
	}
	return out, nil
}

// getStmt keeps Get's statements prepared: replay and check-user call Get
// once per object.
func (s *sqlStore) getStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.gets[q]; ok {
		return st, nil
	}
	st, err := s.rq.PrepareContext(ctx, s.d.rebind(q))
	if err != nil {
		return nil, s.explain(err)
	}
	s.gets[q] = st
	return st, nil
}

func (s *sqlStore) Apply(ctx context.Context, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	if s.readOnly {
		return fmt.Errorf("cannot write state %s: %w", s.loc(), ErrReadOnly)
	}
	changes = scopeChanges(changes)
	for attempt := 1; ; attempt++ {
		err := s.applyOnce(ctx, changes)
		// The server rolled the whole transaction back (a deadlock, a
		// serialization failure): nothing was committed, so it is run again
		// from the start, a bounded number of times.
		if err == nil || attempt == maxApplyAttempts || ctx.Err() != nil || !s.d.retryable(err) {
			return err
		}
	}
}

// maxApplyAttempts bounds how often Apply runs a transaction the server
// rolled back whole (see sqlDialect.retryable).
const maxApplyAttempts = 3

// applyOnce is one attempt of Apply: one transaction, committed or rolled
// back.
func (s *sqlStore) applyOnce(ctx context.Context, changes []Change) error {
	w, err := s.newWriter(ctx, s.db, changes)
	if err != nil {
		return s.notWritten(ctx, err)
	}
	tx, unchanged, err := s.beginTx(ctx)
	if err != nil {
		return s.notWritten(ctx, err)
	}
	w.unchanged = unchanged
	if err := w.run(ctx, tx, changes); err != nil {
		tx.Rollback()
		return s.notWritten(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		if commitOutcomeUnknown(err) {
			return &CommitUnknownError{Location: s.loc(), Err: err}
		}
		return s.notWritten(ctx, s.explain(err))
	}
	return nil
}

// notWritten says that a failed Apply left the database as it was.
func (s *sqlStore) notWritten(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("writing state %s was interrupted (%w); rolled back, nothing was written", s.loc(), ctx.Err())
	}
	return fmt.Errorf("%w; rolled back, nothing was written", err)
}

// applyTx writes changes inside tx (a Tx from begin), preparing its
// statements once per transaction (stmts, by their text).
func (s *sqlStore) applyTx(ctx context.Context, tx *sql.Tx, changes []Change, stmts map[string]*sql.Stmt, unchanged bool) error {
	if len(changes) == 0 {
		return nil
	}
	if s.readOnly {
		return fmt.Errorf("cannot write state %s: %w", s.loc(), ErrReadOnly)
	}
	changes = scopeChanges(changes)
	w, err := s.newWriter(ctx, tx, changes)
	if err != nil {
		return err
	}
	w.shared = stmts
	w.unchanged = unchanged
	return w.run(ctx, tx, changes)
}

// Count returns how many live rows t has (the engine sizes its index with it).
func (s *sqlStore) Count(ctx context.Context, t *Table) (int, error) {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return 0, err
	}
	kc := &r.ts.cols[r.key]
	var n int
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s%s%s", r.ts.ref, s.d.keyPresent(kc, s.d.quote(kc.name)), r.liveSQL(), r.scopeSQL())
	if s.d.kind() == KindSQLite && r.liveSQL() == "" && r.scopeSQL() == "" {
		// All rows minus the keyless ones: SQLite counts a whole table from
		// its b-tree pages' cell counts, and finds the keyless ones by the
		// key's index when it has one (1M rows: about 0.02 s instead of a
		// 0.1–0.2 s scan of the key's index).
		q = fmt.Sprintf("SELECT (SELECT count(*) FROM %[1]s) - (SELECT count(*) FROM %[1]s WHERE %[2]s)", r.ts.ref, s.d.keyAbsent(kc, s.d.quote(kc.name)))
	}
	if err := s.rq.QueryRowContext(ctx, s.d.rebind(q), r.scopeArgs()...).Scan(&n); err != nil {
		return 0, s.explain(err)
	}
	return n, nil
}
