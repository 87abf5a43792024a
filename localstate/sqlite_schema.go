// Schema introspection of a SQLite state: the tables, columns, indexes and
// time formats the store resolves a Table against.

package localstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

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
func (c *column) intAffinity() bool { return sqliteDialect{}.intAffinity(c.declType) }

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
	d        sqlDialect
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
	r := &resolved{ts: ts, d: s.d, soft: -1, timeCols: map[int]bool{}}
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
	c := r.d.quote(r.ts.cols[r.soft].name)
	if table != "" {
		c = table + "." + c
	}
	return fmt.Sprintf(" AND (%[1]s IS NULL OR %[1]s = '' OR %[1]s = 0 OR %[1]s = '0')", c)
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
