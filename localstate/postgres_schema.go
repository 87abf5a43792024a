// Schema introspection of a PostgreSQL state: the table resolved in the
// connection's search_path (or an explicit schema.table), its columns from
// pg_attribute and pg_type (enums, domains, identity and generated
// columns), its indexes from pg_index, and the time formats of columns that
// hold times as text or numbers.

package localstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// pgRelation finds table name: "schema.table" names its schema, else the
// first schema of the search_path that has it. An exact name wins over a
// case-folded one (unquoted names are lower case in Postgres).
const pgRelation = `
SELECT c.oid, n.nspname, c.relname, c.relkind::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND (c.relname = $2 OR lower(c.relname) = lower($2))
  AND CASE WHEN $1::text = '' THEN n.nspname = ANY (current_schemas(false))
      ELSE n.nspname = $1 OR lower(n.nspname) = lower($1) END
ORDER BY (n.nspname = $1) DESC, (c.relname = $2) DESC,
  array_position(current_schemas(false), n.nspname::text)
LIMIT 1`

const pgColumns = `
SELECT a.attnum, a.attname, a.attnotnull, a.atthasdef OR a.attidentity <> '', a.attgenerated <> '',
  format_type(a.atttypid, NULL),
  CASE WHEN coalesce(b.typtype, t.typtype) = 'e' THEN 'ENUM'
       WHEN coalesce(b.typcategory, t.typcategory) = 'A' THEN 'ARRAY'
       ELSE upper(coalesce(b.typname, t.typname)::text) END,
  CASE WHEN a.atttypmod >= 0 THEN a.atttypmod ELSE t.typtypmod END
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

const pgIndexes = `
SELECT i.indisprimary, i.indisunique AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnkeyatts = 1,
  i.indpred IS NULL, i.indkey[0]
FROM pg_index i WHERE i.indrelid = $1 AND i.indisvalid`

// splitPGName splits "schema.table"; a name without a dot is in the search path.
func splitPGName(name string) (schema, table string) {
	if i := strings.Index(name, "."); i > 0 && i < len(name)-1 {
		return name[:i], name[i+1:]
	}
	return "", name
}

func (d pgDialect) readSchema(ctx context.Context, q dbQuerier, name, stateName string) (*tableSchema, error) {
	schema, table := splitPGName(name)
	var oid uint32
	var nsp, rel, kind string
	err := q.QueryRowContext(ctx, pgRelation, schema, table).Scan(&oid, &nsp, &rel, &kind)
	if errors.Is(err, sql.ErrNoRows) && schema != "" {
		// A table whose own name has a dot in it.
		schema, table = "", name
		err = q.QueryRowContext(ctx, pgRelation, schema, table).Scan(&oid, &nsp, &rel, &kind)
		schema, table = splitPGName(name)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, d.noTable(ctx, q, name, schema, stateName)
	}
	if err != nil {
		return nil, err
	}
	ts := newTableSchema(name, stateName)
	ts.ref = quote(nsp) + "." + quote(rel)
	// A plain table's rows have a ctid and xmin that name one stored
	// version (a view's, a partitioned or foreign table's do not, or not
	// uniquely).
	ts.versions = kind == "r"
	rows, err := q.QueryContext(ctx, pgColumns, oid)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c column
		var typmod int
		if err := rows.Scan(&c.cid, &c.name, &c.notNull, &c.hasDefault, &c.generated, &c.udt, &c.declType, &typmod); err != nil {
			rows.Close()
			return nil, err
		}
		c.fsp = -1
		if pgTimestamp(c.declType) {
			// A timestamp's typmod is its fraction digits; none (-1) is 6.
			c.fsp = 6
			if typmod >= 0 && typmod < 6 {
				c.fsp = typmod
			}
		}
		ts.add(c)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	ts.finish()
	rows, err = q.QueryContext(ctx, pgIndexes, oid)
	if err != nil {
		return nil, err
	}
	byNum := map[int]int{}
	for i, c := range ts.cols {
		byNum[c.cid] = i
	}
	for rows.Next() {
		var primary, unique, whole bool
		var first int
		if err := rows.Scan(&primary, &unique, &whole, &first); err != nil {
			rows.Close()
			return nil, err
		}
		i, ok := byNum[first]
		if !ok || first == 0 {
			continue
		}
		if whole {
			ts.indexed[i] = true
		}
		if unique {
			ts.unique[i] = true
			if primary {
				ts.cols[i].pk = 1
			}
		}
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return ts, nil
}

// noTable names the tables there are (in the named schema, or in the
// search path's), or the schemas when the named one does not exist.
func (pgDialect) noTable(ctx context.Context, q dbQuerier, name, schema, stateName string) error {
	list := func(query string, args ...any) []string {
		var out []string
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return nil
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if rows.Scan(&s) == nil {
				out = append(out, s)
			}
		}
		return out
	}
	if schema != "" {
		have := list(`SELECT nspname FROM pg_namespace WHERE nspname = $1 OR lower(nspname) = lower($1)`, schema)
		if len(have) == 0 {
			schemas := list(`SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' ORDER BY 1`)
			return &SchemaError{Table: name, Err: fmt.Errorf("state %s has no schema %q (table: %s); its schemas are: %s; fix table: (schema.table) or schema: in reconctl.yaml",
				stateName, schema, name, strings.Join(schemas, ", "))}
		}
	}
	var tables []string
	where := "n.nspname = ANY (current_schemas(false))"
	args := []any{}
	if schema != "" {
		where, args = "(n.nspname = $1 OR lower(n.nspname) = lower($1))", []any{schema}
	}
	tables = list(`SELECT CASE WHEN n.nspname = ANY (current_schemas(false)) AND `+fmt.Sprint(schema == "")+` THEN c.relname::text ELSE n.nspname || '.' || c.relname END
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND `+where+` AND c.relname NOT LIKE 'reconctl\_%' ORDER BY 1`, args...)
	in := "in the search path (" + strings.Join(list(`SELECT unnest(current_schemas(false))::text`), ", ") + ")"
	if schema != "" {
		in = "in schema " + schema
	}
	have := "there are no tables " + in + ": is this the application's database, and the right schema?"
	if len(tables) > 0 {
		have = "its tables " + in + " are: " + strings.Join(tables, ", ")
	}
	if schema == "" {
		// The table in another schema: say which.
		if elsewhere := list(`SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND (c.relname = $1 OR lower(c.relname) = lower($1))
			AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema' ORDER BY 1 LIMIT 5`, name); len(elsewhere) > 0 {
			have += " (another schema has it: " + strings.Join(elsewhere, ", ") + ")"
		}
	}
	return &SchemaError{Table: name, Err: fmt.Errorf("state %s has no table %q; %s; set table: for the resource (schema.table for another schema) or schema: in reconctl.yaml",
		stateName, name, have)}
}

// sampleTimeFormat: a timestamp or date column holds times natively (the
// zero format); an integer column's unit comes from the largest of a sample,
// a text column's layout from one of its values.
func (d pgDialect) sampleTimeFormat(ctx context.Context, q querier, ts *tableSchema, i int) (timeFormat, error) {
	var tf timeFormat
	c := &ts.cols[i]
	col := quote(c.name)
	switch dt := c.declType; {
	case pgTimestamp(dt) || dt == "DATE":
		return tf, nil
	case pgInt(dt) || pgNumeric(dt) || pgFloat(dt):
		var n sql.NullInt64
		err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT max(abs(c))::bigint FROM (SELECT %s AS c FROM %s WHERE %s <> 0 LIMIT 1000) AS reconctl_s", col, ts.ref, col)).Scan(&n)
		if err != nil {
			return tf, err
		}
		if n.Valid {
			tf = timeFormatOf(n.Int64)
		}
		return tf, nil
	case pgText(dt):
		var text sql.NullString
		err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE trim(%s) <> '' LIMIT 1", col, ts.ref, col)).Scan(&text)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return tf, err
		}
		if text.Valid {
			tf = timeFormatOf(text.String)
		}
	}
	return tf, nil
}
