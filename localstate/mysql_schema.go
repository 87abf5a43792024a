// Schema introspection of a MySQL / MariaDB state (information_schema of
// DATABASE()), and how its column types are read, written and compared.

package localstate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// baseType is a COLUMN_TYPE's type name: "DECIMAL(10,2) UNSIGNED" → DECIMAL.
func baseType(decl string) string {
	if i := strings.IndexAny(decl, "( "); i >= 0 {
		return decl[:i]
	}
	return decl
}

// mysqlClass sorts MySQL types into what the store treats alike.
func mysqlClass(c *column) byte {
	switch baseType(c.declType) {
	case "CHAR", "VARCHAR", "TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET":
		if c.udt == "json" {
			return 'j'
		}
		return 's'
	case "JSON":
		return 'j' // MySQL 8; MariaDB's JSON is LONGTEXT with a json_valid check
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "INTEGER", "BIGINT", "YEAR":
		if (mysqlDialect{}).boolAffinity(c.declType) {
			return 'b'
		}
		return 'i'
	case "DECIMAL", "NUMERIC":
		return 'd'
	case "FLOAT", "DOUBLE", "REAL":
		return 'f'
	case "DATETIME", "TIMESTAMP":
		return 't'
	case "DATE":
		return 'D'
	}
	return 'o'
}

// readSchema reads the table's columns and indexes from information_schema.
// Column names are case-insensitive (the lookup folds case); table names
// are as the server compares them (lower_case_table_names).
func (d mysqlDialect) readSchema(ctx context.Context, q dbQuerier, name, stateName string) (*tableSchema, error) {
	ts := newTableSchema(name, stateName)
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT IS NOT NULL, EXTRA, ORDINAL_POSITION, TABLE_NAME, DATETIME_PRECISION
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, name)
	if err != nil {
		return nil, err
	}
	var table string
	for rows.Next() {
		var c column
		var nullable, extra string
		var fsp sql.NullInt64
		if err := rows.Scan(&c.name, &c.declType, &c.udt, &nullable, &c.hasDefault, &extra, &c.cid, &table, &fsp); err != nil {
			rows.Close()
			return nil, err
		}
		c.fsp = -1
		if fsp.Valid && (strings.EqualFold(c.udt, "datetime") || strings.EqualFold(c.udt, "timestamp")) {
			c.fsp = int(fsp.Int64)
		}
		c.declType = strings.ToUpper(c.declType)
		c.udt = strings.ToLower(c.udt)
		c.notNull = nullable == "NO"
		extra = strings.ToUpper(extra)
		c.generated = strings.Contains(extra, "VIRTUAL") || strings.Contains(extra, "STORED") || strings.Contains(extra, "PERSISTENT")
		if strings.Contains(extra, "AUTO_INCREMENT") {
			c.hasDefault = true
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
	if table != "" {
		ts.ref = d.quote(table)
	}
	if err := d.readJSONChecks(ctx, q, ts, table); err != nil {
		return nil, err
	}
	if err := d.readEngine(ctx, q, ts, table); err != nil {
		return nil, err
	}
	ts.finish()
	if err := d.readIndexes(ctx, q, ts, table); err != nil {
		return nil, err
	}
	return ts, nil
}

// readEngine refuses writes to a table whose storage engine has no
// transactions (MyISAM, MEMORY, ARIA, CSV, …): a write that fails half way
// would stay half done, while reconctl's Apply promises all or nothing. A
// view (no engine) is written through to its base table, which the server
// checks.
func (d mysqlDialect) readEngine(ctx context.Context, q dbQuerier, ts *tableSchema, table string) error {
	var engine, txs sql.NullString
	err := q.QueryRowContext(ctx, `SELECT t.ENGINE, e.TRANSACTIONS FROM information_schema.TABLES t
		LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE
		WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME = ?`, table).Scan(&engine, &txs)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return err
	}
	if engine.Valid && engine.String != "" && !strings.EqualFold(txs.String, "YES") {
		ts.noWrite = fmt.Sprintf("state %s: table %q uses the %s storage engine, which has no transactions: a write failing half way would stay half done, so reconctl does not write it; convert it (ALTER TABLE %s ENGINE=InnoDB) or run read-only (diff)",
			ts.stateName, ts.name, engine.String, d.quote(table))
	}
	return nil
}

// readJSONChecks marks MariaDB's JSON columns (LONGTEXT with a json_valid
// check) as JSON. MySQL 8 has a JSON type and no such constraint.
func (d mysqlDialect) readJSONChecks(ctx context.Context, q dbQuerier, ts *tableSchema, table string) error {
	rows, err := q.QueryContext(ctx, `SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ?`, table)
	if err != nil {
		return nil // MySQL 8 has no TABLE_NAME there: nothing to learn
	}
	defer rows.Close()
	for rows.Next() {
		var clause string
		if rows.Scan(&clause) != nil {
			continue
		}
		clause = strings.ToLower(clause)
		if !strings.HasPrefix(clause, "json_valid(`") {
			continue
		}
		col := strings.TrimSuffix(strings.TrimPrefix(clause, "json_valid(`"), "`)")
		if i, ok := ts.lookup(strings.ReplaceAll(col, "``", "`")); ok {
			ts.cols[i].udt = "json"
		}
	}
	return rows.Err()
}

func (d mysqlDialect) readIndexes(ctx context.Context, q dbQuerier, ts *tableSchema, table string) error {
	rows, err := q.QueryContext(ctx, `SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COALESCE(COLUMN_NAME, ''), SUB_PART IS NOT NULL
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`, table)
	if err != nil {
		return err
	}
	type index struct {
		cols    []string
		unique  bool
		partial bool // a prefix of a column: not unique on its whole value
	}
	var order []string
	idx := map[string]*index{}
	for rows.Next() {
		var name, col string
		var nonUnique, seq int
		var prefix bool
		if err := rows.Scan(&name, &nonUnique, &seq, &col, &prefix); err != nil {
			rows.Close()
			return err
		}
		x := idx[name]
		if x == nil {
			x = &index{unique: nonUnique == 0}
			idx[name] = x
			order = append(order, name)
		}
		x.cols = append(x.cols, col)
		x.partial = x.partial || prefix
	}
	if err := rows.Close(); err != nil {
		return err
	}
	uniques := 0
	for _, name := range order {
		x := idx[name]
		if x.unique {
			uniques++
		}
		if len(x.cols) == 0 || x.cols[0] == "" {
			continue // a functional index (MySQL 8)
		}
		i, ok := ts.lookup(x.cols[0])
		if !ok {
			continue
		}
		ts.indexed[i] = true
		if len(x.cols) == 1 && x.unique && !x.partial {
			ts.unique[i] = true
		}
		if name == "PRIMARY" {
			ts.cols[i].pk = 1
		}
	}
	// ON DUPLICATE KEY UPDATE fires on any unique index.
	ts.upsertAnyIndex = uniques > 1
	return nil
}

func (d mysqlDialect) noTable(ctx context.Context, q dbQuerier, name, stateName string) error {
	var tables []string
	rows, err := q.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()
		AND TABLE_NAME NOT LIKE 'reconctl\_%' ORDER BY TABLE_NAME`)
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

func (d mysqlDialect) selectExpr(c *column) string { return d.quote(c.name) }

// scanConv gives the engine canonical values: DECIMAL text without
// trailing zeros (10.50 = the provider's 10.5), BIGINT UNSIGNED beyond
// int64 as exact digits, DATETIME/TIMESTAMP as RFC 3339 UTC text, a
// TINYINT(1) 0/1 as a boolean.
func (mysqlDialect) scanConv(c *column) func(any) any {
	switch mysqlClass(c) {
	case 'd':
		return func(v any) any {
			if s, ok := v.(string); ok {
				return json.Number(canonDecimal(s))
			}
			return v
		}
	case 'i':
		if strings.Contains(c.declType, "UNSIGNED") {
			return func(v any) any {
				if u, ok := v.(uint64); ok {
					if u <= math.MaxInt64 {
						return int64(u)
					}
					return json.Number(strconv.FormatUint(u, 10))
				}
				return v
			}
		}
	case 'b':
		return func(v any) any {
			if n, ok := v.(int64); ok && (n == 0 || n == 1) {
				return n == 1
			}
			return v
		}
	case 't':
		fsp := c.fsp
		return func(v any) any {
			s, ok := v.(string)
			if !ok || len(s) < 19 || s[10] != ' ' || strings.HasPrefix(s, "0000") {
				return v
			}
			if fsp >= 0 && fsp < 3 {
				// The session's time zone is UTC (serverconn.go).
				if t, err := time.Parse("2006-01-02 15:04:05.999999999", s); err == nil {
					return serverTime(t, fsp)
				}
			}
			return s[:10] + "T" + s[11:] + "Z"
		}
	}
	return nil
}

// canonDecimal writes a DECIMAL's text without trailing fractional zeros.
func canonDecimal(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}

// keyPresent: only text keys can be empty (an integer compared with ”
// would compare with 0).
func (mysqlDialect) keyPresent(c *column, expr string) string {
	if mysqlClass(c) == 's' {
		return fmt.Sprintf("%s IS NOT NULL AND %s <> ''", expr, expr)
	}
	return expr + " IS NOT NULL"
}

func (mysqlDialect) keyAbsent(c *column, expr string) string {
	if mysqlClass(c) == 's' {
		return fmt.Sprintf("(%s IS NULL OR %s = '')", expr, expr)
	}
	return expr + " IS NULL"
}

// liveCond matches isLive in the column's own type: text compares with
// text only (MySQL would read 'abc' = 0 as true), numbers with 0, a time is
// live only when NULL.
func (mysqlDialect) liveCond(c *column, expr string) string {
	switch mysqlClass(c) {
	case 's':
		return fmt.Sprintf(" AND (%[1]s IS NULL OR %[1]s = '' OR %[1]s = '0')", expr)
	case 'i', 'b', 'd', 'f':
		return fmt.Sprintf(" AND (%[1]s IS NULL OR %[1]s = 0)", expr)
	}
	return fmt.Sprintf(" AND %s IS NULL", expr)
}

func (mysqlDialect) liveValue(c *column) string {
	if !c.notNull {
		return "NULL"
	}
	switch mysqlClass(c) {
	case 'i', 'b', 'd', 'f':
		return "0"
	}
	return "''"
}

// softDeleted: a DATETIME/TIMESTAMP gets the UTC time, an integer the unix
// seconds, a boolean 1, text RFC 3339.
func (mysqlDialect) softDeleted(c *column, now time.Time) any {
	switch mysqlClass(c) {
	case 't':
		return now.UTC().Format("2006-01-02 15:04:05")
	case 'D':
		return now.UTC().Format("2006-01-02")
	case 'b':
		return int64(1)
	case 'i', 'd', 'f':
		return now.Unix()
	}
	return FormatTime(now)
}

// value converts a provider value for column c: times into DATETIME's
// 'YYYY-MM-DD HH:MM:SS[.ffffff]' UTC, DECIMAL as exact text, JSON as JSON
// text; the rest as SQLite's (sqlValue).
func (d mysqlDialect) value(c *column, v any, asTime bool, tf timeFormat) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch mysqlClass(c) {
	case 't', 'D':
		t, ok := v.(time.Time)
		if !ok {
			if _, isNum := v.(json.Number); !isNum || asTime {
				t, ok = ParseTime(v)
			}
		}
		if ok {
			if mysqlClass(c) == 'D' {
				return t.UTC().Format("2006-01-02"), nil
			}
			// In UTC (the session's zone), truncated to the column's
			// fraction digits: the server would truncate (MariaDB) or
			// round (MySQL), and a rounded second reads as drift forever.
			t = truncTime(t, c.fsp)
			layout := "2006-01-02 15:04:05"
			if t.Nanosecond() != 0 {
				layout += ".000000"
			}
			return t.Format(layout), nil
		}
	case 'd':
		switch x := v.(type) {
		case json.Number:
			return string(x), nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		}
	case 'j':
		if x, ok := v.(string); ok && json.Valid([]byte(x)) {
			return x, nil
		}
		s, err := compactJSON(v)
		if err != nil {
			return nil, fmt.Errorf("cannot store %s: %w", describe(v), err)
		}
		return s, nil
	}
	return sqlValue(v, asTime, tf, d.intAffinity(c.declType))
}

// sampleTimeFormat: DATETIME columns have their own format (value writes
// it); an integer column's largest sampled value tells the unit; a text
// column's first value its layout.
func (d mysqlDialect) sampleTimeFormat(ctx context.Context, q querier, ts *tableSchema, i int) (timeFormat, error) {
	var tf timeFormat
	c := &ts.cols[i]
	col := d.quote(c.name)
	switch mysqlClass(c) {
	case 'i':
		var n sql.NullInt64
		err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT max(abs(c)) FROM (SELECT %s AS c FROM %s WHERE %s <> 0 LIMIT 1000) AS reconctl_s", col, ts.ref, col)).Scan(&n)
		if err != nil {
			return tf, err
		}
		if n.Valid {
			tf = timeFormatOf(n.Int64)
		}
	case 's':
		var text sql.NullString
		err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s IS NOT NULL AND trim(%s) <> '' LIMIT 1", col, ts.ref, col, col)).Scan(&text)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return tf, err
		}
		if text.Valid {
			tf = timeFormatOf(text.String)
		}
	}
	return tf, nil
}

// keySample: the lowest and highest spelling of a key the column's
// collation makes one (utf8mb4_general_ci: abc = ABC = 'abc ').
func (mysqlDialect) keySample(key string) string {
	return fmt.Sprintf("CAST(min(CAST(%[1]s AS BINARY)) AS CHAR), CAST(max(CAST(%[1]s AS BINARY)) AS CHAR)", key)
}
