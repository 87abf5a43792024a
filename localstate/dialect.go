package localstate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// sqlDialect is what differs between SQL databases in the statements the
// batch writer (sqlwrite.go) and the live-row filter build: quoting,
// placeholders, the upsert and UPDATE … FROM forms, and type affinity. The
// SQLite store is sqliteDialect plus its driver and schema introspection
// (sqlite_schema.go); the next SQL store is another dialect, a driver and
// its own introspection, not a copy of the writer. Every method is called
// when a statement is built (once per shape, then prepared and cached),
// never per row.
type sqlDialect interface {
	// quote quotes an identifier from the config.
	quote(name string) string
	// rebind turns the ? placeholders statements are built with into the
	// driver's ($1, $2, … for Postgres); a ? inside quoted text stays.
	rebind(query string) string
	// intAffinity: a column declared decl stores integers (unix times, 0/1).
	intAffinity(decl string) bool
	// boolAffinity: a column declared decl stores booleans.
	boolAffinity(decl string) bool
	// upsertClause follows INSERT … VALUES …: on a row whose key (a quoted
	// column with a unique index) exists, apply set ("col = expr"), or do
	// nothing when set is empty.
	upsertClause(key string, set []string) string
	// inserted is how upsertClause's set refers to the value the INSERT
	// carried for the quoted column col.
	inserted(col string) string
	// badConflictTarget: err says the key's unique index cannot be an
	// upsert's conflict target (a collation, say); the writer then inserts
	// plainly.
	badConflictTarget(err error) bool
	// updateFrom updates table (quoted) from values, a VALUES list of rows
	// (key, v1, v2, …), setting the quoted columns cols to v1, v2, … where
	// the table's quoted key equals the row's key and live (a condition
	// with table-qualified columns, or "") holds. types are the key's
	// column then cols' (for a server's casts of the VALUES' parameters).
	updateFrom(table, key string, cols []string, types []*column, values, live string) string
	// txAbortsOnError: after the failed statement err the transaction can
	// only roll back (every error on Postgres; a deadlock or a lost
	// connection on MySQL, whose server rolled it back already), so the
	// writer must not retry a failed batch's rows one by one to name the
	// one at fault (the server's error names it).
	txAbortsOnError(err error) bool
	// batchRows is how many rows one batched statement carries at most
	// (maxBatchRows for SQLite; a server saves a round trip per row more).
	batchRows() int
	// retryable: err (from an Apply's transaction) says the server rolled
	// the whole transaction back and running it again may succeed (a
	// deadlock or serialization failure).
	retryable(err error) bool

	// What the SQLite store (sqlite.go) and each server store (postgres.go,
	// mysql.go) answer in their own way; the generic store (sqlstore.go)
	// calls these and holds no SQL of one database.

	// kind is the store's Kind: "sqlite", "postgres", "mysql".
	kind() string
	// readSchema reads table name's columns and indexes through q; a
	// missing table is a *SchemaError naming the tables there are
	// (stateName is the redacted location, for messages). Other errors are
	// the driver's (the caller explains them).
	readSchema(ctx context.Context, q dbQuerier, name, stateName string) (*tableSchema, error)
	// explain turns a driver error an operator can act on into one line
	// that says what to do (loc: the redacted location; busy: the lock
	// wait); other errors pass through.
	explain(err error, loc string, busy time.Duration) error
	// selectExpr reads column c as stored (SQLite hides DATETIME's type so
	// the driver keeps the text).
	selectExpr(c *column) string
	// scanConv converts a scanned value of column c to what the engine
	// compares (Postgres numeric text to its canonical form, say); nil: as
	// scanned ([]byte becomes string for every store).
	scanConv(c *column) func(any) any
	// keyPresent is the condition that key column c (its quoted name or
	// table-qualified expression in expr) holds a key: not NULL, not ''.
	keyPresent(c *column, expr string) string
	// keyAbsent is its negation, written so an index on the key column can
	// answer it (NULL or ''), where NOT (keyPresent) makes the server read
	// every row.
	keyAbsent(c *column, expr string) string
	// liveCond is " AND (…)": the soft-delete column c (expr: its quoted,
	// maybe qualified name) says the row is live. It matches isLive.
	liveCond(c *column, expr string) string
	// liveValue is the SQL literal reviving a row writes into c.
	liveValue(c *column) string
	// softDeleted is the value a soft delete binds into c at now.
	softDeleted(c *column, now time.Time) any
	// value converts a provider value to what column c stores; a time
	// field (asTime) keeps the format tf learnt from the column.
	value(c *column, v any, asTime bool, tf timeFormat) (any, error)
	// sampleTimeFormat learns how column i of ts holds timestamps from a
	// bounded sample of its values (see timeFormatOf).
	sampleTimeFormat(ctx context.Context, q querier, ts *tableSchema, i int) (timeFormat, error)
	// keySample is the SELECT list naming a duplicated key's lowest and
	// highest spelling under a binary comparison, for KeyHealth's sample.
	keySample(key string) string
}

// batchSizer is an optional part of a dialect: the rows and bound
// parameters one batch statement of the writer may hold, when the server
// writes faster with other bounds than maxBatchRows and maxBatchParams.
type batchSizer interface {
	batchLimits() (rows, params int)
}

// dbQuerier is a *sql.DB, *sql.Conn or *sql.Tx: what the store reads through.
type dbQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// sqliteDialect is SQLite's (3.33+: UPDATE … FROM, 3.24+: ON CONFLICT).
type sqliteDialect struct{}

func (sqliteDialect) kind() string { return "sqlite" }

func (sqliteDialect) scanConv(*column) func(any) any { return nil }

func (sqliteDialect) keyPresent(c *column, expr string) string {
	return fmt.Sprintf("%s IS NOT NULL AND %s <> ''", expr, expr)
}

func (sqliteDialect) keyAbsent(c *column, expr string) string {
	return fmt.Sprintf("(%s IS NULL OR %s = '')", expr, expr)
}

// liveCond: NULL, empty text and 0 all mean "not deleted" (deleted_at NULL
// and is_deleted 0 are both common); any other value marks the row deleted.
func (sqliteDialect) liveCond(c *column, expr string) string {
	return fmt.Sprintf(" AND (%[1]s IS NULL OR %[1]s = '' OR %[1]s = 0 OR %[1]s = '0')", expr)
}

// liveValue is what reviving a row writes into the soft-delete column.
func (d sqliteDialect) liveValue(c *column) string {
	switch {
	case !c.notNull:
		return "NULL"
	case d.intAffinity(c.declType) || d.boolAffinity(c.declType):
		return "0"
	}
	return "''"
}

// softDeleted marks a row deleted: the time, as unix seconds in an integer
// column, 1 in a boolean one, RFC 3339 text otherwise.
func (d sqliteDialect) softDeleted(c *column, now time.Time) any {
	switch {
	case d.intAffinity(c.declType):
		return now.Unix()
	case d.boolAffinity(c.declType):
		return int64(1)
	}
	return FormatTime(now)
}

func (d sqliteDialect) value(c *column, v any, asTime bool, tf timeFormat) (any, error) {
	return sqlValue(v, asTime, tf, d.intAffinity(c.declType))
}

func (sqliteDialect) keySample(key string) string {
	return fmt.Sprintf("CAST(min(%[1]s COLLATE BINARY) AS TEXT), CAST(max(%[1]s COLLATE BINARY) AS TEXT)", key)
}

func (sqliteDialect) quote(name string) string { return quote(name) }

func (sqliteDialect) rebind(query string) string { return query }

// intAffinity follows SQLite's rule: a declared type containing INT.
func (sqliteDialect) intAffinity(decl string) bool { return strings.Contains(decl, "INT") }

func (sqliteDialect) boolAffinity(decl string) bool { return strings.Contains(decl, "BOOL") }

func (sqliteDialect) upsertClause(key string, set []string) string {
	if len(set) == 0 {
		return fmt.Sprintf(" ON CONFLICT (%s) DO NOTHING", key)
	}
	return fmt.Sprintf(" ON CONFLICT (%s) DO UPDATE SET %s", key, strings.Join(set, ", "))
}

func (sqliteDialect) txAbortsOnError(error) bool { return false }

func (sqliteDialect) batchRows() int { return maxBatchRows }

// retryable: SQLite's busy wait (busy_timeout) is its only retry.
func (sqliteDialect) retryable(error) bool { return false }

func (sqliteDialect) inserted(col string) string { return "excluded." + col }

func (sqliteDialect) badConflictTarget(err error) bool {
	return strings.Contains(err.Error(), "ON CONFLICT")
}

// updateFrom: SQLite names a VALUES list's columns column1, column2, …;
// every name is qualified, as the app's columns may be called column1.
func (sqliteDialect) updateFrom(table, key string, cols []string, _ []*column, values, live string) string {
	set := make([]string, len(cols))
	for j, c := range cols {
		set[j] = fmt.Sprintf("%s = reconctl_v.column%d", c, j+2)
	}
	return fmt.Sprintf("UPDATE %s SET %s FROM (%s) AS reconctl_v WHERE %s.%s = reconctl_v.column1%s",
		table, strings.Join(set, ", "), values, table, key, live)
}

// rebindNumbered is rebind for drivers with numbered placeholders ($1, $2,
// …): each ? outside quoted identifiers and string literals becomes
// prefix+n.
func rebindNumbered(query, prefix string) string {
	var b strings.Builder
	n := 0
	var in byte // the quote we are inside, or 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case in != 0:
			if c == in {
				in = 0 // a doubled quote re-enters at once: same result
			}
		case c == '"' || c == '\'' || c == '`':
			in = c
		case c == '?':
			n++
			fmt.Fprintf(&b, "%s%d", prefix, n)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
