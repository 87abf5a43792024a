package localstate

import (
	"fmt"
	"strings"
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
	// with table-qualified columns, or "") holds.
	updateFrom(table, key string, cols []string, values, live string) string
}

// sqliteDialect is SQLite's (3.33+: UPDATE … FROM, 3.24+: ON CONFLICT).
type sqliteDialect struct{}

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

func (sqliteDialect) inserted(col string) string { return "excluded." + col }

func (sqliteDialect) badConflictTarget(err error) bool {
	return strings.Contains(err.Error(), "ON CONFLICT")
}

// updateFrom: SQLite names a VALUES list's columns column1, column2, …;
// every name is qualified, as the app's columns may be called column1.
func (sqliteDialect) updateFrom(table, key string, cols []string, values, live string) string {
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
