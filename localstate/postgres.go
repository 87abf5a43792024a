// The PostgreSQL store (issue #14): opening a postgres:// state, the
// dialect (quoting, $n placeholders, ON CONFLICT, UPDATE … FROM with casts),
// value conversions to and from the column's own type, and what the server
// says when it fails. Introspection is postgres_schema.go; reading and
// writing are the generic sqlStore's.

package localstate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

var openPostgres = func(ctx context.Context, loc string, opts OpenOptions) (Store, error) {
	return openPG(ctx, loc, opts)
}

// pgStore is the generic store over Postgres, plus the read-only snapshot
// its reads share (nil on a writable store).
type pgStore struct {
	*sqlStore
	snap *pgSnapshot
}

func (s *pgStore) Close() error {
	var err error
	if s.snap != nil {
		err = s.snap.close()
	}
	if e := s.sqlStore.Close(); err == nil {
		err = e
	}
	return err
}

// Get: a key that is not a number names no row of an integer key column
// (as in SQLite); asking the server would fail the statement, and with it a
// read-only run's snapshot transaction.
func (s *pgStore) Get(ctx context.Context, t *Table, cols []string, key string) (Row, bool, error) {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return Row{}, false, err
	}
	if pgInt(r.ts.cols[r.key].declType) {
		if _, err := strconv.ParseInt(key, 10, 64); err != nil {
			return Row{}, false, nil
		}
	}
	return s.sqlStore.Get(ctx, t, cols, key)
}

// GetMany: the keys that are not numbers name no row of an integer key
// column (as in Get) and are not sent.
func (s *pgStore) GetMany(ctx context.Context, t *Table, cols []string, keys []string, fn func(key string, row Row) error) error {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return err
	}
	if pgInt(r.ts.cols[r.key].declType) {
		keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool {
			_, err := strconv.ParseInt(k, 10, 64)
			return err != nil
		})
	}
	return s.sqlStore.getMany(ctx, t, cols, keys, s.Get, fn)
}

// Features are the generic store's, with the integer-key check of GetMany.
func (s *pgStore) Features() Features {
	f := s.sqlStore.Features()
	f.GetMany = s.GetMany
	return f
}

func openPG(ctx context.Context, loc string, opts OpenOptions) (*pgStore, error) {
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
		opts.BusyTimeout = busy
	}
	// lock_timeout bounds every lock wait of the session: a row another
	// session holds makes a write wait at most busy, then fail with 55P03
	// (a DSN that sets lock_timeout itself keeps it).
	so := opts.Server
	so.Settings = map[string]string{"lock_timeout": strconv.FormatInt(max(busy.Milliseconds(), 1), 10)}
	for k, v := range opts.Server.Settings {
		so.Settings[k] = v
	}
	db, err := openPool(ctx, loc, so)
	if err != nil {
		return nil, pgConnectError(err, loc)
	}
	s := &pgStore{sqlStore: newSQLStore(pgDialect{}, loc, db, opts)}
	if opts.ReadOnly {
		snap, err := newPGSnapshot(ctx, db)
		if err != nil {
			db.Close()
			return nil, s.explain(err)
		}
		s.snap, s.rq = snap, snap
	}
	return s, nil
}

// pgConnectError says what to do when the server cannot be reached or
// refuses the login (openPool's message names the redacted location but not
// the remedy).
func pgConnectError(err error, loc string) error {
	red := RedactLocation(loc)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		var msg string
		switch pe.Code {
		case "28P01":
			msg = fmt.Sprintf("cannot connect to state %s: password authentication failed (%s): set the password in PGPASSWORD or ~/.pgpass, or name the variable holding it with password_env: in reconctl.yaml", red, pe.Message)
		case "28000":
			msg = fmt.Sprintf("cannot connect to state %s: the server refuses the login (%s): check the user in the DSN and the server's pg_hba.conf", red, pe.Message)
		case "3D000":
			msg = fmt.Sprintf("cannot connect to state %s: %s: check the database name in --state / state: in reconctl.yaml", red, pe.Message)
		case "53300":
			msg = fmt.Sprintf("cannot connect to state %s: the server has no free connection slots (%s): retry later or raise max_connections", red, pe.Message)
		}
		if msg != "" {
			return &stateError{msg: msg, err: err}
		}
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) {
		if !errors.As(err, &pe) {
			host := "the server"
			if u, e := url.Parse(loc); e == nil && u.Host != "" {
				host = u.Host
			}
			return &stateError{msg: fmt.Sprintf("cannot connect to state %s: no PostgreSQL server answers at %s (%s): check the host and port in the DSN and that the server is running",
				red, host, lastCause(err, loc)), err: err}
		}
	}
	return err
}

// lastCause is the innermost part of a connection error's text ("connect:
// connection refused"), without the password.
func lastCause(err error, loc string) string {
	msg := scrubDSNError(err.Error(), loc)
	if i := strings.LastIndex(msg, ": dial "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// pgSnapshot is a read-only run's view of the database: REPEATABLE READ READ
// ONLY transactions that all see one moment (the first exports its snapshot,
// the others import it), so a Get while a Scan streams, or the second table
// of a run, reads the same moment as the first. A pgx connection runs one
// query at a time: each query takes a transaction whose last result is
// closed, or opens one more.
type pgSnapshot struct {
	db *sql.DB
	id string // pg_export_snapshot()

	mu    sync.Mutex
	txs   []*pgSnapTx
	stmts *sql.Tx // prepared statements (Get) run here, never a Scan
}

type pgSnapTx struct {
	tx   *sql.Tx
	last *sql.Rows // the last result handed out on it (busy until closed)
}

func newPGSnapshot(ctx context.Context, db *sql.DB) (*pgSnapshot, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	s := &pgSnapshot{db: db, txs: []*pgSnapTx{{tx: tx}}}
	if err := tx.QueryRowContext(ctx, "SELECT pg_export_snapshot()").Scan(&s.id); err != nil {
		tx.Rollback()
		return nil, err
	}
	return s, nil
}

// join opens one more transaction on the snapshot.
func (s *pgSnapshot) join(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	// The id is the server's own (hex digits and dashes); SET TRANSACTION
	// SNAPSHOT takes no parameter.
	if _, err := tx.ExecContext(ctx, "SET TRANSACTION SNAPSHOT '"+strings.ReplaceAll(s.id, "'", "''")+"'"); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// closed reports whether rows are done (Columns fails on closed rows only).
func closed(rows *sql.Rows) bool {
	if rows == nil {
		return true
	}
	_, err := rows.Columns()
	return err != nil
}

// free returns a transaction with no open result, opening one if need be.
func (s *pgSnapshot) free(ctx context.Context) (*pgSnapTx, error) {
	for _, t := range s.txs {
		if closed(t.last) {
			return t, nil
		}
	}
	tx, err := s.join(ctx)
	if err != nil {
		return nil, err
	}
	t := &pgSnapTx{tx: tx}
	s.txs = append(s.txs, t)
	return t, nil
}

func (s *pgSnapshot) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.free(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	t.last = rows
	return rows, nil
}

// QueryRowContext: the row is read at once by its caller (Count, a sample).
func (s *pgSnapshot) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.free(ctx)
	if err != nil {
		// No new transaction: the first one answers (or says why not).
		t = s.txs[0]
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// PrepareContext prepares on a transaction of the snapshot kept for
// prepared statements (Get closes its result before it returns).
func (s *pgSnapshot) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stmts == nil {
		tx, err := s.join(ctx)
		if err != nil {
			return nil, err
		}
		s.stmts = tx
	}
	return s.stmts.PrepareContext(ctx, query)
}

func (s *pgSnapshot) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.txs {
		if t.last != nil {
			t.last.Close()
		}
		t.tx.Rollback()
	}
	s.txs = nil
	if s.stmts != nil {
		s.stmts.Rollback()
		s.stmts = nil
	}
	return nil
}

// pgDialect is PostgreSQL's (9.5+: ON CONFLICT).
type pgDialect struct{}

func (pgDialect) kind() string { return "postgres" }

func (pgDialect) quote(name string) string { return quote(name) }

func (pgDialect) rebind(query string) string { return rebindNumbered(query, "$") }

// Type categories, from the base type's name (postgres_schema.go puts it,
// upper case, in column.declType; enums are ENUM, arrays ARRAY).
func pgInt(decl string) bool {
	switch decl {
	case "INT2", "INT4", "INT8", "OID":
		return true
	}
	return false
}

func pgFloat(decl string) bool { return decl == "FLOAT4" || decl == "FLOAT8" }

func pgNumeric(decl string) bool { return decl == "NUMERIC" || decl == "MONEY" }

func pgTimestamp(decl string) bool { return decl == "TIMESTAMPTZ" || decl == "TIMESTAMP" }

func pgJSON(decl string) bool { return decl == "JSON" || decl == "JSONB" }

func pgText(decl string) bool {
	switch decl {
	case "TEXT", "VARCHAR", "BPCHAR", "NAME", "CITEXT":
		return true
	}
	return false
}

func (pgDialect) intAffinity(decl string) bool { return pgInt(decl) }

func (pgDialect) boolAffinity(decl string) bool { return decl == "BOOL" }

func (pgDialect) upsertClause(key string, set []string) string {
	return sqliteDialect{}.upsertClause(key, set)
}

func (pgDialect) inserted(col string) string { return "EXCLUDED." + col }

// badConflictTarget: the schema reader marks a key unique only for an index
// ON CONFLICT accepts (single column, no predicate, not deferrable), and a
// failed statement aborts a Postgres transaction anyway.
func (pgDialect) badConflictTarget(error) bool { return false }

// cast is the type a VALUES parameter is cast to: the column's own type
// (without its modifier: a cast to varchar(10) would cut the value).
func pgCast(c *column) string {
	if c.udt != "" {
		return c.udt
	}
	return "text"
}

// updateFrom: the VALUES list's parameters have no type of their own, so
// each is cast to its column's; the list's columns are named
// reconctl_c1, reconctl_c2, ….
func (pgDialect) updateFrom(table, key string, cols []string, types []*column, values, live string) string {
	width := len(cols) + 1
	rows := strings.Count(values, "?") / width
	var tuple strings.Builder
	tuple.WriteString("(")
	for j := range width {
		if j > 0 {
			tuple.WriteString(", ")
		}
		tuple.WriteString("?::" + pgCast(types[j]))
	}
	tuple.WriteString(")")
	t := tuple.String()
	vals := "VALUES " + t + strings.Repeat(", "+t, rows-1)
	names := make([]string, width)
	set := make([]string, len(cols))
	for j := range names {
		names[j] = fmt.Sprintf("reconctl_c%d", j+1)
	}
	for j, c := range cols {
		set[j] = fmt.Sprintf("%s = reconctl_v.%s", c, names[j+1])
	}
	return fmt.Sprintf("UPDATE %s SET %s FROM (%s) AS reconctl_v(%s) WHERE %s.%s = reconctl_v.reconctl_c1%s",
		table, strings.Join(set, ", "), vals, strings.Join(names, ", "), table, key, live)
}

// updateArrays: UPDATE ... FROM unnest of one text[] parameter per column,
// each element cast to its column's type as updateFrom's VALUES are (the
// text form of a value is what the driver sends for it there). One
// parameter per column: the statement's parse, bind and plan no longer
// grow with the batch, and unnest's fixed row estimate keeps the plan an
// index lookup per row.
func (pgDialect) updateArrays(table, key string, cols []string, types []*column, live string) string {
	width := len(cols) + 1
	params := make([]string, width)
	names := make([]string, width)
	for j := range width {
		params[j] = fmt.Sprintf("$%d::text[]", j+1)
		names[j] = fmt.Sprintf("reconctl_c%d", j+1)
	}
	set := make([]string, len(cols))
	for j, c := range cols {
		set[j] = fmt.Sprintf("%s = reconctl_v.%s::%s", c, names[j+1], pgCast(types[j+1]))
	}
	return fmt.Sprintf("UPDATE %s SET %s FROM unnest(%s) AS reconctl_v(%s) WHERE %s.%s = reconctl_v.reconctl_c1::%s%s",
		table, strings.Join(set, ", "), strings.Join(params, ", "), strings.Join(names, ", "), table, key, pgCast(types[0]), live)
}

// arrays transposes the batch into one []pgtype.Text per column.
func (pgDialect) arrays(types []*column, args []any, rows int, buf []any) ([]any, bool) {
	width := len(types)
	for _, c := range types {
		if c.declType == "BYTEA" || c.udt == "bytea" {
			return buf, false // text to bytea reads escapes; the driver sends the bytes
		}
	}
	if len(buf) != width {
		buf = make([]any, width)
	}
	for j := range width {
		col, _ := buf[j].([]pgtype.Text)
		col = col[:0]
		for r := range rows {
			v := args[r*width+j]
			if v == nil {
				col = append(col, pgtype.Text{})
				continue
			}
			s, ok := pgArrayText(v)
			if !ok {
				return buf, false
			}
			col = append(col, pgtype.Text{String: s, Valid: true})
		}
		buf[j] = col
	}
	return buf, true
}

// pgArrayText is a converted value (what value returns) in the text form
// its column's input function reads as the driver's encoding of it.
func pgArrayText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, !strings.ContainsRune(x, 0)
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		switch {
		case math.IsNaN(x):
			return "NaN", true
		case math.IsInf(x, 1):
			return "Infinity", true
		case math.IsInf(x, -1):
			return "-Infinity", true
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case time.Time:
		// The driver sends microseconds, truncated; the server would round.
		if y := x.Year(); y < 1 || y > 9999 {
			return "", false
		}
		return x.Truncate(time.Microsecond).Format("2006-01-02T15:04:05.999999Z07:00"), true
	}
	return "", false
}

// txAbortsOnError: after a failed statement a Postgres transaction accepts
// nothing but a rollback.
func (pgDialect) txAbortsOnError(error) bool { return true }

// retryable: a deadlock victim or a serialization failure was rolled back
// whole by the server.
func (pgDialect) retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// batchRows: 1000 rows a statement write a fifth faster than 128 (one round
// trip and one plan per batch); maxBatchParams still bounds wide rows.
func (pgDialect) batchRows() int { return 1000 }

func (pgDialect) selectExpr(c *column) string { return quote(c.name) }

// scanConv: numeric text to its canonical form (10.50 and 10.5 are one
// value), times to UTC, a date to its day, a JSON scalar to its value
// (objects and lists stay text: the engine compares them as JSON).
func (pgDialect) scanConv(c *column) func(any) any {
	switch {
	case pgNumeric(c.declType):
		return func(v any) any {
			if s, ok := v.(string); ok {
				return canonNumeric(s)
			}
			return v
		}
	case pgTimestamp(c.declType):
		fsp := c.fsp
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return serverTime(t, fsp)
			}
			return v
		}
	case c.declType == "DATE":
		return func(v any) any {
			if t, ok := v.(time.Time); ok {
				return t.Format("2006-01-02")
			}
			return v
		}
	case pgJSON(c.declType):
		return func(v any) any {
			s, ok := v.(string)
			if !ok {
				return v
			}
			return jsonScalar(s)
		}
	}
	return nil
}

// canonNumeric writes a numeric's text without trailing fractional zeros:
// 10.50 → 10.5, 3.000 → 3 (NaN and infinities stay text).
func canonNumeric(s string) any {
	if s == "" || strings.ContainsAny(s, "NnIi") {
		return s
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" || s == "" {
		s = "0"
	}
	return json.Number(s)
}

// jsonScalar: a JSON string, number, boolean or null read from a json or
// jsonb column is that value; an object or list stays its text.
func jsonScalar(s string) any {
	t := strings.TrimSpace(s)
	if t == "" || t[0] == '{' || t[0] == '[' {
		return s
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return s
	}
	return v
}

// keyPresent: only text has an empty key (” is not a valid integer).
func (pgDialect) keyPresent(c *column, expr string) string {
	if pgText(c.declType) {
		return fmt.Sprintf("%s IS NOT NULL AND %s <> ''", expr, expr)
	}
	return expr + " IS NOT NULL"
}

func (pgDialect) keyAbsent(c *column, expr string) string {
	if pgText(c.declType) {
		return fmt.Sprintf("(%s IS NULL OR %s = '')", expr, expr)
	}
	return expr + " IS NULL"
}

// liveCond follows isLive in the column's own type: NULL, false, 0, ” and
// '0' are live; a timestamp, an enum or JSON is live only when NULL.
func (pgDialect) liveCond(c *column, expr string) string {
	switch d := c.declType; {
	case d == "BOOL":
		return fmt.Sprintf(" AND (%[1]s IS NULL OR NOT %[1]s)", expr)
	case pgInt(d) || pgFloat(d) || pgNumeric(d):
		return fmt.Sprintf(" AND (%[1]s IS NULL OR %[1]s = 0)", expr)
	case pgText(d):
		return fmt.Sprintf(" AND (%[1]s IS NULL OR %[1]s = '' OR %[1]s = '0')", expr)
	}
	return fmt.Sprintf(" AND %s IS NULL", expr)
}

func (pgDialect) liveValue(c *column) string {
	switch d := c.declType; {
	case !c.notNull:
		return "NULL"
	case d == "BOOL":
		return "FALSE"
	case pgInt(d) || pgFloat(d) || pgNumeric(d):
		return "0"
	case pgText(d):
		return "''"
	}
	return "NULL"
}

func (pgDialect) softDeleted(c *column, now time.Time) any {
	switch d := c.declType; {
	case pgTimestamp(d):
		return now.UTC()
	case d == "DATE":
		return now.UTC().Format("2006-01-02")
	case d == "BOOL":
		return true
	case pgInt(d) || pgFloat(d) || pgNumeric(d):
		return now.Unix()
	}
	return FormatTime(now)
}

// value converts a provider value into what column c's type takes as a
// parameter (pgx encodes text parameters only from strings, booleans only
// from bool).
func (pgDialect) value(c *column, v any, asTime bool, tf timeFormat) (any, error) {
	if v == nil {
		return nil, nil
	}
	d := c.declType
	switch {
	case pgTimestamp(d):
		// Truncated to the column's precision here: Postgres would round
		// (30.7 → 31), which no later comparison could tell from drift.
		if t, ok := v.(time.Time); ok {
			return truncTime(t, c.fsp), nil
		}
		if t, ok := ParseTime(v); ok {
			return truncTime(t, c.fsp), nil
		}
		return pgText1(v)
	case d == "DATE":
		if t, ok := ParseTime(v); ok {
			return t.UTC().Format("2006-01-02"), nil
		}
		return pgText1(v)
	case d == "BOOL":
		switch x := v.(type) {
		case bool:
			return x, nil
		case json.Number, int64, int, float64:
			s, _ := pgText1(x)
			switch s {
			case "0":
				return false, nil
			case "1":
				return true, nil
			}
			return nil, fmt.Errorf("cannot store %s in boolean column %q", s, c.name)
		}
		return pgText1(v)
	case pgJSON(d):
		switch x := v.(type) {
		case map[string]any, []any:
			return compactJSON(x)
		case json.Number:
			return string(x), nil
		case bool, int64, int, float64, string:
			return compactJSON(x)
		}
		return compactJSON(v)
	case pgNumeric(d):
		switch x := v.(type) {
		case json.Number:
			return string(x), nil
		case bool:
			return map[bool]string{true: "1", false: "0"}[x], nil
		}
		if asTime {
			if t, ok := ParseTime(v); ok {
				return strconv.FormatInt(unixIn(t, tfUnit(tf)), 10), nil
			}
		}
		return pgText1(v)
	case pgFloat(d):
		out, err := sqlValue(v, asTime, tf, false)
		if i, ok := out.(int64); ok {
			return float64(i), err
		}
		return out, err
	case pgInt(d):
		out, err := sqlValue(v, asTime, tf, true)
		if f, ok := out.(float64); ok && f == float64(int64(f)) {
			return int64(f), err
		}
		return out, err
	}
	out, err := sqlValue(v, asTime, tf, false)
	if err != nil {
		return nil, err
	}
	return pgText1(out)
}

func tfUnit(tf timeFormat) time.Duration {
	if tf.unit != 0 {
		return tf.unit
	}
	return time.Second
}

// pgText1 is v as text (what a text, enum or other column takes).
func pgText1(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case json.Number:
		return string(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case *big.Float:
		return x.Text('f', -1), nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case time.Time:
		return FormatTime(x), nil
	}
	return compactJSON(v)
}

func (pgDialect) keySample(key string) string {
	return fmt.Sprintf(`min(%[1]s::text COLLATE "C"), max(%[1]s::text COLLATE "C")`, key)
}

// explain turns the server's errors an operator can act on into one line.
func (pgDialect) explain(err error, loc string, busy time.Duration) error {
	if err == nil {
		return nil
	}
	var se *stateError
	if errors.As(err, &se) {
		return err // explained already
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		var msg string
		switch pe.Code {
		case "55P03":
			msg = fmt.Sprintf("state %s: rows or tables are locked by another session (still locked after waiting %s: %s): retry when the application is not writing them", loc, busy, pe.Message)
		case "40001":
			msg = fmt.Sprintf("state %s: the server aborted the transaction (serialization failure: another session changed the same rows): run again", loc)
		case "40P01":
			msg = fmt.Sprintf("state %s: the server aborted the transaction (deadlock with another session): run again", loc)
		case "57014":
			msg = fmt.Sprintf("state %s: the server cancelled the statement (%s: statement_timeout or an operator): run again, or raise statement_timeout for the role", loc, pe.Message)
		case "25006":
			msg = fmt.Sprintf("state %s cannot be written: %s (a read-only transaction or standby server): use a primary server and a role that may write", loc, pe.Message)
		case "42501":
			msg = fmt.Sprintf("state %s: %s: grant the role the privileges reconctl needs (SELECT for diff; INSERT, UPDATE, DELETE for --apply)", loc, pe.Message)
		case "57P01", "57P02", "57P03":
			msg = fmt.Sprintf("state %s: the server is shutting down or restarting (%s): run again when it is up; nothing was committed by the failed transaction", loc, pe.Message)
		case "53100":
			msg = fmt.Sprintf("state %s: the server's disk is full (%s)", loc, pe.Message)
		default:
			if strings.HasPrefix(pe.Code, "08") {
				msg = fmt.Sprintf("state %s: lost the connection to the server (%s): run again; nothing was committed by the failed transaction", loc, pe.Message)
				break
			}
			m := pe.Message
			if pe.Detail != "" {
				m += " (" + pe.Detail + ")"
			}
			return &stateError{msg: fmt.Sprintf("state %s: %s [SQLSTATE %s]", loc, m, pe.Code), err: err}
		}
		return &stateError{msg: msg, err: err}
	}
	var ne net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) || pgconn.SafeToRetry(err) {
		return &stateError{msg: fmt.Sprintf("state %s: lost the connection to the server (%s): run again; nothing was committed by the failed transaction", loc, scrubDSNError(err.Error(), loc)), err: err}
	}
	return err
}
