// A SQL state's schema as the generic store sees it: tables, columns and
// indexes (read by each dialect's readSchema), a Table resolved against them,
// and the time formats learnt from the columns.

package localstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// column is one column of a table, as the dialect's readSchema found it.
type column struct {
	cid      int
	name     string
	declType string // upper case (Postgres: the type's name, MySQL: COLUMN_TYPE)
	// udt is a server's own detail of the type (Postgres udt_name: int8,
	// timestamptz, an enum's name); "" for SQLite.
	udt        string
	notNull    bool
	hasDefault bool
	pk         int
	generated  bool
	// fsp is how many fraction-of-second digits a server's time column
	// keeps (Postgres timestamp(p), MySQL DATETIME(fsp)); set only for a
	// server's time columns (else -1 or 0, and unused).
	fsp int
}

type tableSchema struct {
	name     string
	cols     []column
	byName   map[string]int // exact name → index in cols
	byFold   map[string]int // lower-case name → index (SQLite and MySQL names are case-insensitive)
	unique   map[int]bool   // columns with a single-column unique index (or the rowid alias)
	indexed  map[int]bool   // columns leading some index
	rowidCol int            // the INTEGER PRIMARY KEY column (SQLite), -1 when none
	// upsertAnyIndex: the dialect's upsert fires on a conflict with any
	// unique index, not only the key's (MySQL's ON DUPLICATE KEY UPDATE),
	// and the table has more than one: a create could overwrite another
	// row, so creates insert plainly (readSchema sets it).
	upsertAnyIndex bool
	names          string // "id, email, ..." for error messages
	// ref is the table as SQL names it, quoted (and schema-qualified when
	// table: names a schema); readSchema may set it, else quote(name).
	ref       string
	stateName string
	// noWrite, when set, is why the table is not written (the writer
	// refuses with it; reads work): a MySQL table whose engine has no
	// transactions, say.
	noWrite string
	// versions: the dialect's row versions (versioner) identify this
	// table's rows.
	versions bool
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

// newTableSchema is an empty schema for table name of the state stateName;
// readSchema fills in cols (with add) and the indexes.
func newTableSchema(name, stateName string) *tableSchema {
	return &tableSchema{name: name, stateName: stateName, byName: map[string]int{}, byFold: map[string]int{},
		unique: map[int]bool{}, indexed: map[int]bool{}, rowidCol: -1}
}

// add appends column c.
func (ts *tableSchema) add(c column) {
	ts.byName[c.name] = len(ts.cols)
	ts.byFold[strings.ToLower(c.name)] = len(ts.cols)
	ts.cols = append(ts.cols, c)
}

// finish sets names once every column is added.
func (ts *tableSchema) finish() {
	names := make([]string, len(ts.cols))
	for i, c := range ts.cols {
		names[i] = c.name
	}
	ts.names = strings.Join(names, ", ")
}

// schema reads (once) a table's columns and indexes through the dialect.
func (s *sqlStore) schema(ctx context.Context, name string) (*tableSchema, error) {
	if name == "" {
		return nil, errors.New("a resource has no table name: set table: in reconctl.yaml")
	}
	s.mu.Lock()
	ts, ok := s.schemas[name]
	s.mu.Unlock()
	if ok {
		return ts, nil
	}
	ts, err := s.d.readSchema(ctx, s.rq, name, s.loc())
	if err != nil {
		return nil, s.explain(err)
	}
	if ts.ref == "" {
		ts.ref = s.d.quote(ts.name)
	}
	s.mu.Lock()
	s.schemas[name] = ts
	s.mu.Unlock()
	return ts, nil
}

// resolved is a table's config checked against its schema.
type resolved struct {
	ts       *tableSchema
	d        sqlDialect
	key      int
	soft     int // -1 when the table has no soft-delete column
	timeCols map[int]bool
	scope    int // the tenant column (scope.go), -1 when unscoped
	scopeVal any // the tenant, as bound for the scope column
}

func (s *sqlStore) resolve(ctx context.Context, t *Table) (*resolved, error) {
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
	if err := r.resolveScope(t); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *sqlStore) Columns(ctx context.Context, t *Table) ([]string, error) {
	r, err := s.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(r.ts.cols)-1)
	for i, c := range r.ts.cols {
		if i != r.key && i != r.scope {
			out = append(out, c.name)
		}
	}
	return out, nil
}

func (s *sqlStore) KeyIndexed(ctx context.Context, t *Table) bool {
	r, err := s.resolve(ctx, t)
	return err == nil && r.ts.indexed[r.key]
}

// liveSQL is the condition for a row that is not soft-deleted (the
// dialect's liveCond; it matches isLive).
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
	return r.d.liveCond(&r.ts.cols[r.soft], c)
}

// querier is a *sql.DB or the *sql.Tx of a Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// timeFormat learns (once per store) how column i of ts holds timestamps
// from the values it holds (the dialect's sampleTimeFormat): the size of its
// integers (seconds, milliseconds, ...) or the layout of its text. A write
// then keeps that unit and format, so the next diff finds the value it wrote
// equal, not changed again.
func (s *sqlStore) timeFormat(ctx context.Context, q querier, ts *tableSchema, i int) (timeFormat, error) {
	ck := ts.name + "\x00" + ts.cols[i].name
	s.mu.Lock()
	tf, ok := s.formats[ck]
	s.mu.Unlock()
	if ok {
		return tf, nil
	}
	tf, err := s.d.sampleTimeFormat(ctx, q, ts, i)
	if err != nil {
		return tf, s.explain(err)
	}
	s.mu.Lock()
	s.formats[ck] = tf
	s.mu.Unlock()
	return tf, nil
}
