// Schema introspection of a SQLite state: PRAGMA table_xinfo, its indexes,
// and the time formats its columns hold.

package localstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// selectExpr reads the column as stored. The driver turns text in a DATE,
// DATETIME or TIMESTAMP column into time.Time; +col (a no-op that hides the
// declared type) keeps the text. Only those columns get it: it costs a sixth
// of a scan.
func (sqliteDialect) selectExpr(c *column) string {
	switch c.declType {
	case "DATE", "DATETIME", "TIMESTAMP":
		return "+" + quote(c.name)
	}
	return quote(c.name)
}

// readSchema reads PRAGMA table_xinfo and the table's indexes.
func (d sqliteDialect) readSchema(ctx context.Context, q dbQuerier, name, stateName string) (*tableSchema, error) {
	ts := newTableSchema(name, stateName)
	rows, err := q.QueryContext(ctx, `SELECT cid, name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)`, name)
	if err != nil {
		return nil, err
	}
	var pks int
	for rows.Next() {
		var c column
		var dflt sql.NullString
		var hidden int
		if err := rows.Scan(&c.cid, &c.name, &c.declType, &c.notNull, &dflt, &c.pk, &hidden); err != nil {
			rows.Close()
			return nil, err
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
		ts.add(c)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ts.cols) == 0 {
		return nil, d.noTable(ctx, q, name, stateName)
	}
	for i, c := range ts.cols {
		if pks == 1 && c.pk == 1 && c.declType == "INTEGER" {
			ts.rowidCol = i // INTEGER PRIMARY KEY: the rowid, unique and filled in by SQLite
			ts.unique[i], ts.indexed[i] = true, true
		}
	}
	ts.finish()
	if err := d.readIndexes(ctx, q, ts); err != nil {
		return nil, err
	}
	return ts, nil
}

func (sqliteDialect) readIndexes(ctx context.Context, q dbQuerier, ts *tableSchema) error {
	type index struct {
		name            string
		unique, partial bool
	}
	var idx []index
	rows, err := q.QueryContext(ctx, `SELECT name, "unique", partial FROM pragma_index_list(?)`, ts.name)
	if err != nil {
		return err
	}
	for rows.Next() {
		var x index
		if err := rows.Scan(&x.name, &x.unique, &x.partial); err != nil {
			rows.Close()
			return err
		}
		idx = append(idx, x)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, x := range idx {
		var cols []string
		rows, err := q.QueryContext(ctx, `SELECT coalesce(name, '') FROM pragma_index_info(?) ORDER BY seqno`, x.name)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return err
			}
			cols = append(cols, c)
		}
		if err := rows.Close(); err != nil {
			return err
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

func (sqliteDialect) noTable(ctx context.Context, q dbQuerier, name, stateName string) error {
	var tables []string
	rows, err := q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type IN ('table', 'view')
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
	return &SchemaError{Table: name, Err: fmt.Errorf("state %s has no table %q; %s; set table: for the resource in reconctl.yaml", stateName, name, have)}
}

// sampleTimeFormat: the largest of a bounded sample of integers tells the
// unit; else the layout of a text value.
func (d sqliteDialect) sampleTimeFormat(ctx context.Context, q querier, ts *tableSchema, i int) (timeFormat, error) {
	var tf timeFormat
	col, table := quote(ts.cols[i].name), quote(ts.name)
	// A bounded sample: the largest of the first integers tells the unit.
	var n sql.NullInt64
	err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT max(abs(c)) FROM (SELECT %s AS c FROM %s WHERE typeof(%s) = 'integer' AND %s <> 0 LIMIT 1000)", col, table, col, col)).Scan(&n)
	if err != nil {
		return tf, err
	}
	var text sql.NullString
	err = q.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE typeof(%s) = 'text' AND trim(%s) <> '' LIMIT 1", col, table, col, col)).Scan(&text)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return tf, err
	}
	switch {
	case n.Valid && (d.intAffinity(ts.cols[i].declType) || !text.Valid):
		tf = timeFormatOf(n.Int64)
	case text.Valid:
		tf = timeFormatOf(text.String)
	}
	return tf, nil
}
