// Package storetest is the conformance suite every localstate.Store passes:
// the same fixture and the same assertions for the SQLite database, the JSON
// snapshot and the server stores, so the engine can rely on one behaviour.
//
// Documented differences the suite allows: a schemaless store (JSON) does not
// reject a mapped column that no record carries; a store may return a bool as
// the number 1/0 and an object or list as its compact JSON text; a time field
// may come back as RFC 3339 text or unix seconds.
package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"

	_ "modernc.org/sqlite" // WriteSQLite
)

// Fixture is a store's starting content, described once for every kind of store.
type Fixture struct {
	Tables []FixtureTable
}

// FixtureTable is one table (SQLite) or top-level key (JSON).
type FixtureTable struct {
	Name    string
	Columns []Column
	Rows    [][]any // in Columns order: string, int64, float64, bool or nil
}

// Column is a column of a fixture table. Type, PrimaryKey, NotNull and
// Default only shape a SQL schema (SQLite's as given; a server maps Type,
// see MySQLType).
type Column struct {
	Name       string
	Type       string // SQLite declared type: TEXT, INTEGER, REAL, ...
	PrimaryKey bool
	NotNull    bool
	Default    string // SQL default expression; "" for none
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// SQLiteURI is the modernc.org/sqlite data source name for path opened in
// mode (ro, rw, rwc): a bare path would be cut at a '?' in a directory name.
func SQLiteURI(path, mode string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs)) + "?mode=" + mode
}

// WriteSQLite creates a SQLite database at path holding f.
func (f Fixture) WriteSQLite(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", SQLiteURI(path, "rwc"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tb := range f.Tables {
		var defs, names []string
		for _, c := range tb.Columns {
			d := quote(c.Name) + " " + c.Type
			if c.PrimaryKey {
				d += " PRIMARY KEY"
			}
			if c.NotNull {
				d += " NOT NULL"
			}
			if c.Default != "" {
				d += " DEFAULT " + c.Default
			}
			defs = append(defs, d)
			names = append(names, quote(c.Name))
		}
		if _, err := db.Exec(fmt.Sprintf("CREATE TABLE %s (%s)", quote(tb.Name), strings.Join(defs, ", "))); err != nil {
			t.Fatal(err)
		}
		ins := fmt.Sprintf("INSERT INTO %s (%s) VALUES (?%s)", quote(tb.Name), strings.Join(names, ", "), strings.Repeat(", ?", len(names)-1))
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range tb.Rows {
			if _, err := tx.Exec(ins, row...); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// PostgresType maps a fixture column's SQLite-ish type to Postgres's:
// INTEGER → bigint, REAL → double precision, TEXT → text; any other type is
// taken as Postgres spells it.
func PostgresType(typ string) string {
	switch strings.ToUpper(typ) {
	case "TEXT", "":
		return "text"
	case "INTEGER", "INT":
		return "bigint"
	case "REAL", "DOUBLE", "FLOAT":
		return "double precision"
	}
	return typ
}

// WritePostgres creates f's tables in the Postgres database db.
func (f Fixture) WritePostgres(t testing.TB, db *sql.DB) {
	t.Helper()
	for _, tb := range f.Tables {
		var defs, names, params []string
		for i, c := range tb.Columns {
			d := quote(c.Name) + " " + PostgresType(c.Type)
			if c.PrimaryKey {
				d += " PRIMARY KEY"
			}
			if c.NotNull {
				d += " NOT NULL"
			}
			if c.Default != "" {
				d += " DEFAULT " + c.Default
			}
			defs = append(defs, d)
			names = append(names, quote(c.Name))
			params = append(params, fmt.Sprintf("$%d", i+1))
		}
		if _, err := db.Exec(fmt.Sprintf("CREATE TABLE %s (%s)", quote(tb.Name), strings.Join(defs, ", "))); err != nil {
			t.Fatal(err)
		}
		ins := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", quote(tb.Name), strings.Join(names, ", "), strings.Join(params, ", "))
		for _, row := range tb.Rows {
			if _, err := db.Exec(ins, row...); err != nil {
				t.Fatalf("%s: %v", ins, err)
			}
		}
	}
}

// MySQLType is the MySQL/MariaDB column type for a fixture column's
// SQLite-ish Type: a TEXT primary key becomes VARCHAR(191) (an indexable
// utf8mb4 length), other TEXT stays TEXT, INTEGER BIGINT, REAL DOUBLE,
// BOOLEAN TINYINT(1); any other Type is taken as the server's own.
func MySQLType(c Column) string {
	switch strings.ToUpper(c.Type) {
	case "TEXT":
		if c.PrimaryKey {
			return "VARCHAR(191)"
		}
		return "TEXT"
	case "INTEGER":
		return "BIGINT"
	case "REAL":
		return "DOUBLE"
	case "BOOLEAN", "BOOL":
		return "TINYINT(1)"
	}
	return c.Type
}

// WriteMySQL creates f's tables in the MySQL/MariaDB database behind db
// (types mapped by MySQLType) and inserts its rows.
func (f Fixture) WriteMySQL(t testing.TB, db *sql.DB) {
	t.Helper()
	mq := func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
	for _, tb := range f.Tables {
		var defs, names []string
		for _, c := range tb.Columns {
			d := mq(c.Name) + " " + MySQLType(c)
			if c.PrimaryKey {
				d += " PRIMARY KEY"
			}
			if c.NotNull {
				d += " NOT NULL"
			}
			if c.Default != "" {
				d += " DEFAULT " + c.Default
			}
			defs = append(defs, d)
			names = append(names, mq(c.Name))
		}
		if _, err := db.Exec(fmt.Sprintf("CREATE TABLE %s (%s) ENGINE=InnoDB", mq(tb.Name), strings.Join(defs, ", "))); err != nil {
			t.Fatal(err)
		}
		ins := fmt.Sprintf("INSERT INTO %s (%s) VALUES (?%s)", mq(tb.Name), strings.Join(names, ", "), strings.Repeat(", ?", len(names)-1))
		for _, row := range tb.Rows {
			if _, err := db.Exec(ins, row...); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// WriteJSON writes f as a JSON snapshot at path (nil values as null).
func (f Fixture) WriteJSON(t testing.TB, path string) {
	t.Helper()
	doc := map[string][]map[string]any{}
	for _, tb := range f.Tables {
		recs := []map[string]any{}
		for _, row := range tb.Rows {
			rec := map[string]any{}
			for i, c := range tb.Columns {
				rec[c.Name] = row[i]
			}
			recs = append(recs, rec)
		}
		doc[tb.Name] = recs
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Standard is the fixture Run uses.
func Standard() Fixture {
	text := func(name string) Column { return Column{Name: name, Type: "TEXT"} }
	return Fixture{Tables: []FixtureTable{
		{
			Name:    "users",
			Columns: []Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, text("email"), text("name"), text("plan"), text("deleted_at"), text("note")},
			Rows: [][]any{
				{"cus_1", "ann@example.com", "Ann", "pro", nil, "keep-1"},
				{"cus_2", "bob@example.com", "Bob", "free", nil, "keep-2"},
				{"cus_3", "cat@example.com", "Cat", "pro", "2026-01-01T00:00:00Z", "keep-3"},
				{"cus_4", "dan@example.com", "Dan", nil, "", "keep-4"},
			},
		},
		{
			Name:    "accounts",
			Columns: []Column{{Name: "id", Type: "INTEGER", PrimaryKey: true}, text("name")},
			Rows:    [][]any{{int64(1), "one"}, {int64(2), "two"}, {int64(10), "ten"}},
		},
		{
			Name:    "plain",
			Columns: []Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, text("v")},
			Rows:    [][]any{{"p1", "one"}, {"p2", "two"}},
		},
		{
			Name: "items",
			Columns: []Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, {Name: "n", Type: "INTEGER"}, {Name: "f", Type: "REAL"},
				{Name: "b", Type: "INTEGER"}, text("z"), text("meta"), text("s"), text("at"), {Name: "at_unix", Type: "INTEGER"}, text("big")},
			Rows: [][]any{{"it_0", int64(1), 1.5, int64(0), "x", "{}", "s", nil, nil, nil}},
		},
	}}
}

// Tables used with Standard.
var (
	Customers = &localstate.Table{Resource: "customers", Name: "users", SoftDelete: "deleted_at",
		Fields: []localstate.Field{{Column: "email", Path: "email"}, {Column: "name", Path: "name"}, {Column: "plan", Path: "metadata.plan"}}}
	// CustomersAll is the users table without soft-delete filtering: it sees every row.
	CustomersAll = &localstate.Table{Resource: "customers", Name: "users"}
	Accounts     = &localstate.Table{Resource: "accounts"}
	Plain        = &localstate.Table{Resource: "plain"}
	Items        = &localstate.Table{Resource: "items", Fields: []localstate.Field{
		{Column: "at", Path: "created", Compare: localstate.CompareTime},
		{Column: "at_unix", Path: "created", Compare: localstate.CompareTime},
	}}
)

// Opener returns a fresh store holding fixture. Run closes it.
type Opener func(t *testing.T, fixture Fixture, readOnly bool) localstate.Store

// Run runs the conformance suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	ctx := context.Background()
	fresh := func(t *testing.T, readOnly bool) localstate.Store {
		t.Helper()
		st := open(t, Standard(), readOnly)
		t.Cleanup(func() { st.Close() })
		return st
	}

	t.Run("Scope", func(t *testing.T) { RunScope(t, open) })

	t.Run("Kind", func(t *testing.T) {
		st := fresh(t, true)
		if k := st.Kind(); !slices.Contains([]string{"sqlite", "json", "postgres", "mysql"}, k) {
			t.Errorf("Kind() = %q", k)
		}
		if st.Path() == "" {
			t.Error("Path() is empty")
		}
	})

	t.Run("Columns", func(t *testing.T) {
		st := fresh(t, true)
		cols, err := st.Columns(ctx, Customers)
		if err != nil {
			t.Fatal(err)
		}
		sameSet(t, cols, []string{"email", "name", "plan", "deleted_at", "note"})
		cols, err = st.Columns(ctx, Accounts)
		if err != nil {
			t.Fatal(err)
		}
		sameSet(t, cols, []string{"name"})
	})

	t.Run("Columns/MissingTable", func(t *testing.T) {
		st := fresh(t, true)
		_, err := st.Columns(ctx, &localstate.Table{Resource: "orders", Name: "nope"})
		if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "users") {
			t.Fatalf("want an error naming table \"nope\" and listing users, got %v", err)
		}
		if _, err := st.Columns(ctx, &localstate.Table{Resource: "nope"}); err == nil {
			t.Fatal("the table name defaults to the resource: want an error for resource nope")
		}
	})

	t.Run("Columns/MissingColumn", func(t *testing.T) {
		st := fresh(t, true)
		tb := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "nope", Path: "x"}}}
		_, err := st.Columns(ctx, tb)
		if schemaless(st) {
			if err != nil {
				t.Fatalf("a snapshot may leave a field unset: want no error, got %v", err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), `"users"`) || !strings.Contains(err.Error(), "email") {
			t.Fatalf("want an error naming table users, column nope and listing the columns, got %v", err)
		}
		for _, tb := range []*localstate.Table{
			{Resource: "customers", Name: "users", Key: "nope"},
			{Resource: "customers", Name: "users", UpdatedAt: "nope"},
			{Resource: "customers", Name: "users", SoftDelete: "nope"},
		} {
			if _, err := st.Columns(ctx, tb); err == nil || !strings.Contains(err.Error(), `"nope"`) {
				t.Errorf("%+v: want an error naming column nope, got %v", tb, err)
			}
		}
	})

	t.Run("Scan", func(t *testing.T) {
		st := fresh(t, true)
		got := dump(t, st, Customers, "name", "email")
		want := map[string][]any{
			"cus_1": {"Ann", "ann@example.com"},
			"cus_2": {"Bob", "bob@example.com"},
			"cus_4": {"Dan", "dan@example.com"},
		}
		sameRows(t, got, want)
		got = dump(t, st, Customers, "plan")
		sameRows(t, got, map[string][]any{"cus_1": {"pro"}, "cus_2": {"free"}, "cus_4": {nil}})
		got = dump(t, st, Customers)
		sameRows(t, got, map[string][]any{"cus_1": {}, "cus_2": {}, "cus_4": {}})
	})

	t.Run("Scan/SoftDeletedVisibleWithoutSoftDelete", func(t *testing.T) {
		st := fresh(t, true)
		got := dump(t, st, CustomersAll, "name")
		if len(got) != 4 || got["cus_3"] == nil {
			t.Fatalf("without soft_delete every row is live: got %v", got)
		}
	})

	t.Run("Scan/IntegerKeys", func(t *testing.T) {
		st := fresh(t, true)
		sameRows(t, dump(t, st, Accounts, "name"), map[string][]any{"1": {"one"}, "2": {"two"}, "10": {"ten"}})
	})

	t.Run("Scan/CallbackError", func(t *testing.T) {
		st := fresh(t, true)
		stop := errors.New("stop")
		n := 0
		err := st.Scan(ctx, Customers, []string{"email"}, func(localstate.Row) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Scan must stop at and return the callback's error: err=%v after %d rows", err, n)
		}
	})

	t.Run("Scan/MissingTable", func(t *testing.T) {
		st := fresh(t, true)
		err := st.Scan(ctx, &localstate.Table{Resource: "nope"}, nil, func(localstate.Row) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("want an error naming table nope, got %v", err)
		}
	})

	t.Run("Get", func(t *testing.T) {
		st := fresh(t, true)
		row, ok, err := st.Get(ctx, Customers, []string{"email", "plan"}, "cus_2")
		if err != nil || !ok {
			t.Fatalf("Get cus_2: ok=%v err=%v", ok, err)
		}
		if row.Key != "cus_2" {
			t.Errorf("Key = %q", row.Key)
		}
		sameValues(t, "cus_2", row.Values, []any{"bob@example.com", "free"})
		for _, key := range []string{"cus_404", "cus_3", ""} {
			if _, ok, err := st.Get(ctx, Customers, []string{"email"}, key); ok || err != nil {
				t.Errorf("Get %q (absent or soft-deleted): ok=%v err=%v, want absent", key, ok, err)
			}
		}
		row, ok, err = st.Get(ctx, Accounts, []string{"name"}, "10")
		if err != nil || !ok {
			t.Fatalf("Get integer key 10: ok=%v err=%v", ok, err)
		}
		sameValues(t, "10", row.Values, []any{"ten"})
	})

	// GetMany (through localstate.GetEach, which falls back to Get) answers
	// every key as Get does: present, absent, soft-deleted, empty, NULL
	// values, integer keys, a key asked twice, and keys another spelling
	// of which is stored (which a case-insensitive collation finds) —
	// across more keys than one batch holds.
	t.Run("GetMany", func(t *testing.T) {
		st := fresh(t, true)
		cases := []struct {
			tb   *localstate.Table
			cols []string
			keys []string
		}{
			{Customers, []string{"email", "plan"}, []string{"cus_2", "cus_404", "cus_3", "", "cus_4", "cus_1", "CUS_2", "cus_2", "Cus_1 "}},
			{Accounts, []string{"name"}, []string{"10", "1", "3", "010", "x", "2"}},
			{Customers, nil, []string{"cus_1"}},
		}
		// More keys than a batch: the fixture's rows at the start, the
		// middle and the end of 1,300 absent ones.
		var many []string
		for i := range 1300 {
			many = append(many, fmt.Sprintf("p_absent_%d", i))
		}
		many[0], many[700], many[1299] = "p2", "p1", "p2"
		cases = append(cases, struct {
			tb   *localstate.Table
			cols []string
			keys []string
		}{Plain, []string{"v"}, many})
		for _, c := range cases {
			want := map[string][]any{}
			var order []string
			for _, k := range c.keys {
				row, ok, err := st.Get(ctx, c.tb, c.cols, k)
				if err != nil {
					t.Fatalf("Get %q: %v", k, err)
				}
				if _, dup := want[k]; ok && !dup {
					want[k] = slices.Clone(row.Values)
					order = append(order, k)
				}
			}
			got := map[string][]any{}
			var gotOrder []string
			err := localstate.GetEach(ctx, st, c.tb, c.cols, c.keys, func(k string, row localstate.Row) error {
				if _, dup := got[k]; dup {
					t.Errorf("%s: key %q answered twice", c.tb.Resource, k)
				}
				if len(row.Values) != len(c.cols) {
					t.Errorf("%s %q: %d values for %d columns", c.tb.Resource, k, len(row.Values), len(c.cols))
				}
				got[k] = slices.Clone(row.Values)
				gotOrder = append(gotOrder, k)
				return nil
			})
			if err != nil {
				t.Fatalf("GetEach %s: %v", c.tb.Resource, err)
			}
			sameRows(t, got, want)
			if !slices.Equal(gotOrder, order) {
				t.Errorf("%s: answered in order %q, want the keys' order %q", c.tb.Resource, gotOrder, order)
			}
		}
		// The fixed part of what Get answers, so the comparison above is
		// not of two empty answers.
		got := map[string][]any{}
		if err := localstate.GetEach(ctx, st, Customers, []string{"email", "plan"}, []string{"cus_4", "cus_3", "cus_2", "cus_404"}, func(k string, row localstate.Row) error {
			got[k] = slices.Clone(row.Values)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sameRows(t, got, map[string][]any{"cus_2": {"bob@example.com", "free"}, "cus_4": {"dan@example.com", nil}})
		stop := errors.New("stop")
		if err := localstate.GetEach(ctx, st, Plain, []string{"v"}, []string{"p1", "p2"}, func(string, localstate.Row) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("GetEach must stop at and return the callback's error, got %v", err)
		}
	})

	t.Run("Exists", func(t *testing.T) {
		// Features.Exists answers what Get's ok does, key by key: live,
		// absent, soft-deleted, empty, an integer key written otherwise,
		// a key given twice, and a part of only absent keys.
		st := fresh(t, true)
		ex := st.Features().Exists
		if ex == nil {
			t.Skip("no Features.Exists: callers ask Get")
		}
		for _, c := range []struct {
			t    *localstate.Table
			keys []string
		}{
			{Customers, []string{"cus_2", "cus_404", "cus_3", "", "cus_1", "cus_2"}},
			{Customers, []string{"cus_404", "cus_405"}},
			{Accounts, []string{"10", "010", "11", "999"}},
		} {
			got, err := ex(ctx, c.t, c.keys)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range c.keys {
				_, want, err := st.Get(ctx, c.t, nil, k)
				if err != nil {
					t.Fatal(err)
				}
				if v, asked := got[k]; !asked || v != want {
					t.Errorf("%s Exists %q = %v (answered %v), Get says %v", c.t.Resource, k, v, asked, want)
				}
			}
		}
	})

	t.Run("Apply/Create", func(t *testing.T) {
		st := fresh(t, false)
		apply(t, st, localstate.Change{Table: Customers, Op: localstate.OpCreate, Key: "cus_9",
			Values: map[string]any{"email": "new@example.com", "name": "New", "plan": "pro"}})
		for _, s := range []localstate.Store{st, reopen(t, st)} {
			got := dump(t, s, Customers, "email", "name", "plan")
			sameValues(t, "cus_9", got["cus_9"], []any{"new@example.com", "New", "pro"})
			if len(got) != 4 {
				t.Errorf("%s: want 4 live rows, got %d", s.Kind(), len(got))
			}
		}
	})

	t.Run("Apply/CreateIntegerKey", func(t *testing.T) {
		st := fresh(t, false)
		apply(t, st, localstate.Change{Table: Accounts, Op: localstate.OpCreate, Key: "11", Values: map[string]any{"name": "eleven"}})
		sameRows(t, dump(t, reopen(t, st), Accounts, "name"),
			map[string][]any{"1": {"one"}, "2": {"two"}, "10": {"ten"}, "11": {"eleven"}})
	})

	t.Run("Apply/CreateRevivesSoftDeleted", func(t *testing.T) {
		st := fresh(t, false)
		apply(t, st, localstate.Change{Table: Customers, Op: localstate.OpCreate, Key: "cus_3",
			Values: map[string]any{"email": "cat2@example.com", "name": "Cat", "plan": "free"}})
		got := dump(t, reopen(t, st), CustomersAll, "email", "plan", "deleted_at", "note")
		sameValues(t, "cus_3", got["cus_3"], []any{"cat2@example.com", "free", nil, "keep-3"})
		if len(got) != 4 {
			t.Errorf("reviving must not add a row: %d rows", len(got))
		}
	})

	t.Run("Apply/CreateExistingOverwrites", func(t *testing.T) {
		st := fresh(t, false)
		apply(t, st, localstate.Change{Table: Customers, Op: localstate.OpCreate, Key: "cus_1",
			Values: map[string]any{"email": "ann2@example.com", "name": "Ann", "plan": "pro"}})
		n := 0
		err := reopen(t, st).Scan(ctx, CustomersAll, []string{"email", "note"}, func(r localstate.Row) error {
			if r.Key == "cus_1" {
				n++
				sameValues(t, "cus_1", r.Values, []any{"ann2@example.com", "keep-1"})
			}
			return nil
		})
		if err != nil || n != 1 {
			t.Fatalf("a create of an existing key must leave exactly one row: %d rows, err %v", n, err)
		}
	})

	t.Run("Apply/Update", func(t *testing.T) {
		st := fresh(t, false)
		apply(t, st, localstate.Change{Table: Customers, Op: localstate.OpUpdate, Key: "cus_1", Values: map[string]any{"email": "ann@new.example"}})
		got := dump(t, reopen(t, st), CustomersAll, "email", "name", "plan", "deleted_at", "note")
		sameValues(t, "cus_1", got["cus_1"], []any{"ann@new.example", "Ann", "pro", nil, "keep-1"})
		sameValues(t, "cus_2", got["cus_2"], []any{"bob@example.com", "Bob", "free", nil, "keep-2"})
	})

	t.Run("Apply/UpdateToNull", func(t *testing.T) {
		st := fresh(t, false)
		apply(t, st, localstate.Change{Table: Customers, Op: localstate.OpUpdate, Key: "cus_1", Values: map[string]any{"plan": nil}})
		sameValues(t, "cus_1", dump(t, reopen(t, st), Customers, "plan", "name")["cus_1"], []any{nil, "Ann"})
	})

	t.Run("Apply/Delete", func(t *testing.T) {
		st := fresh(t, false)
		apply(t, st, localstate.Change{Table: Plain, Op: localstate.OpDelete, Key: "p1"})
		sameRows(t, dump(t, reopen(t, st), Plain, "v"), map[string][]any{"p2": {"two"}})
	})

	t.Run("Apply/SoftDelete", func(t *testing.T) {
		st := fresh(t, false)
		before := time.Now().Add(-2 * time.Second)
		apply(t, st, localstate.Change{Table: Customers, Op: localstate.OpDelete, Key: "cus_2"})
		re := reopen(t, st)
		if _, ok, _ := re.Get(ctx, Customers, nil, "cus_2"); ok {
			t.Error("a soft-deleted row must read as absent")
		}
		all := dump(t, re, CustomersAll, "deleted_at", "note", "email")
		row := all["cus_2"]
		if row == nil {
			t.Fatal("a soft delete must keep the row")
		}
		ts, ok := localstate.ParseTime(row[0])
		if !ok || ts.Before(before) || ts.After(time.Now().Add(2*time.Second)) {
			t.Errorf("deleted_at = %v, want the current time", row[0])
		}
		sameValues(t, "cus_2", row[1:], []any{"keep-2", "bob@example.com"})
	})

	t.Run("Apply/UpdateOrDeleteAbsentFails", func(t *testing.T) {
		st := fresh(t, false)
		for _, ch := range []localstate.Change{
			{Table: Customers, Op: localstate.OpUpdate, Key: "cus_404", Values: map[string]any{"email": "x"}},
			{Table: Customers, Op: localstate.OpUpdate, Key: "cus_3", Values: map[string]any{"email": "x"}},
			{Table: Customers, Op: localstate.OpDelete, Key: "cus_3"},
			{Table: Plain, Op: localstate.OpDelete, Key: "p404"},
		} {
			if err := st.Apply(ctx, []localstate.Change{ch}); err == nil || !strings.Contains(err.Error(), ch.Key) {
				t.Errorf("%s %s: want an error naming the key, got %v", ch.Op, ch.Key, err)
			}
		}
	})

	t.Run("Apply/AllOrNothing", func(t *testing.T) {
		st := fresh(t, false)
		err := st.Apply(ctx, []localstate.Change{
			{Table: Customers, Op: localstate.OpCreate, Key: "cus_9", Values: map[string]any{"email": "n@example.com", "name": "N", "plan": "pro"}},
			{Table: Customers, Op: localstate.OpUpdate, Key: "cus_1", Values: map[string]any{"email": "changed@example.com"}},
			{Table: Plain, Op: localstate.OpDelete, Key: "p1"},
			{Table: Customers, Op: localstate.OpUpdate, Key: "cus_404", Values: map[string]any{"email": "x"}},
		})
		if err == nil {
			t.Fatal("a batch with a failing change must fail")
		}
		unchanged(t, st)
		unchanged(t, reopen(t, st))
	})

	t.Run("Apply/ReadOnly", func(t *testing.T) {
		st := fresh(t, true)
		err := st.Apply(ctx, []localstate.Change{{Table: Customers, Op: localstate.OpUpdate, Key: "cus_1", Values: map[string]any{"email": "x"}}})
		if !errors.Is(err, localstate.ErrReadOnly) {
			t.Fatalf("want ErrReadOnly, got %v", err)
		}
		unchanged(t, reopen(t, st))
	})

	t.Run("Apply/Empty", func(t *testing.T) {
		st := fresh(t, false)
		if err := st.Apply(ctx, nil); err != nil {
			t.Fatal(err)
		}
		unchanged(t, reopen(t, st))
	})

	t.Run("Apply/MultipleTables", func(t *testing.T) {
		st := fresh(t, false)
		apply(t, st,
			localstate.Change{Table: Accounts, Op: localstate.OpUpdate, Key: "2", Values: map[string]any{"name": "deux"}},
			localstate.Change{Table: Plain, Op: localstate.OpCreate, Key: "p3", Values: map[string]any{"v": "three"}},
			localstate.Change{Table: Customers, Op: localstate.OpDelete, Key: "cus_4"},
		)
		re := reopen(t, st)
		sameValues(t, "2", dump(t, re, Accounts, "name")["2"], []any{"deux"})
		sameValues(t, "p3", dump(t, re, Plain, "v")["p3"], []any{"three"})
		if _, ok := dump(t, re, Customers)["cus_4"]; ok {
			t.Error("cus_4 must be deleted")
		}
	})

	t.Run("Apply/ValueRoundTrip", func(t *testing.T) {
		st := fresh(t, false)
		when := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
		values := map[string]any{
			"n":       json.Number("42"),
			"f":       json.Number("2.5"),
			"b":       true,
			"z":       nil,
			"meta":    map[string]any{"a": json.Number("1"), "b": []any{"x", true}},
			"s":       "héllo <&>",
			"at":      json.Number("1700000000"),
			"at_unix": "2023-11-14T22:13:20Z",
			"big":     json.Number("12345678901234567890"),
		}
		cols := []string{"n", "f", "b", "z", "meta", "s", "at", "at_unix", "big"}
		want := []any{int64(42), 2.5, true, nil, map[string]any{"a": json.Number("1"), "b": []any{"x", true}}, "héllo <&>", when, when, json.Number("12345678901234567890")}
		apply(t, st, localstate.Change{Table: Items, Op: localstate.OpCreate, Key: "it_1", Values: values})
		for _, s := range []localstate.Store{st, reopen(t, st)} {
			row, ok, err := s.Get(ctx, Items, cols, "it_1")
			if err != nil || !ok {
				t.Fatalf("Get it_1: ok=%v err=%v", ok, err)
			}
			sameValues(t, s.Kind()+" it_1", row.Values, want)
		}
		// An update converts the same way.
		apply(t, st, localstate.Change{Table: Items, Op: localstate.OpUpdate, Key: "it_0", Values: map[string]any{"b": false, "at": "1700000000000"}})
		row, _, _ := reopen(t, st).Get(ctx, Items, []string{"b", "at", "n"}, "it_0")
		sameValues(t, "it_0", row.Values, []any{false, when, int64(1)})
	})

	t.Run("Apply/Cancelled", func(t *testing.T) {
		st := fresh(t, false)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := st.Apply(cctx, []localstate.Change{
			{Table: Customers, Op: localstate.OpCreate, Key: "cus_9", Values: map[string]any{"email": "n@example.com", "name": "N", "plan": "pro"}},
			{Table: Customers, Op: localstate.OpUpdate, Key: "cus_1", Values: map[string]any{"email": "changed@example.com"}},
		})
		if err == nil {
			t.Fatal("Apply with a cancelled context must fail")
		}
		unchanged(t, reopen(t, st))
	})

	t.Run("Apply/CancelledMidway", func(t *testing.T) {
		st := fresh(t, false)
		var changes []localstate.Change
		for i := range 20000 {
			changes = append(changes, localstate.Change{Table: Plain, Op: localstate.OpCreate, Key: fmt.Sprintf("q%05d", i), Values: map[string]any{"v": "x"}})
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
		defer cancel()
		err := st.Apply(cctx, changes)
		n := len(dump(t, reopen(t, st), Plain, "v"))
		switch {
		case err == nil && n != 20002:
			t.Fatalf("Apply succeeded but %d rows are there, want 20002", n)
		case err != nil && n != 2:
			t.Fatalf("Apply failed (%v) but wrote: %d rows, want 2", err, n)
		}
	})

	runFeatures(t, fresh)
	runConditional(t, fresh)
}

// runFeatures checks what a store's Features promise: Count and KeyIndexed
// agree with Scan, and a store with transactions (Begin) commits, rolls back
// and isolates savepoints the way the engine, the journal and replay rely on.
func runFeatures(t *testing.T, fresh func(t *testing.T, readOnly bool) localstate.Store) {
	ctx := context.Background()
	t.Run("Features/Count", func(t *testing.T) {
		st := fresh(t, true)
		count := st.Features().Count
		if count == nil {
			t.Skip("the store does not count")
		}
		n, err := count(ctx, Plain)
		if err != nil || n != len(dump(t, st, Plain, "v")) {
			t.Errorf("Count(plain) = %d, %v; Scan sees %d", n, err, len(dump(t, st, Plain, "v")))
		}
	})
	t.Run("Tx/RollbackAndCommit", func(t *testing.T) {
		st := fresh(t, false)
		begin := st.Features().Begin
		if begin == nil {
			t.Skip("the store has no transactions")
		}
		del := []localstate.Change{{Table: Plain, Op: localstate.OpDelete, Key: "p1"}}
		tx, err := begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Apply(ctx, del); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		unchanged(t, reopen(t, st))
		tx, err = begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Apply(ctx, del); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		sameRows(t, dump(t, reopen(t, st), Plain, "v"), map[string][]any{"p2": {"two"}})
	})
	t.Run("Tx/Savepoint", func(t *testing.T) {
		st := fresh(t, false)
		begin := st.Features().Begin
		if begin == nil {
			t.Skip("the store has no transactions")
		}
		tx, err := begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		failed := errors.New("this event fails")
		if err := tx.Savepoint(ctx, func() error {
			if err := tx.Apply(ctx, []localstate.Change{{Table: Plain, Op: localstate.OpDelete, Key: "p1"}}); err != nil {
				return err
			}
			return failed
		}); !errors.Is(err, failed) {
			t.Fatalf("Savepoint returned %v, want fn's error", err)
		}
		if err := tx.Savepoint(ctx, func() error {
			return tx.Apply(ctx, []localstate.Change{{Table: Plain, Op: localstate.OpUpdate, Key: "p2", Values: map[string]any{"v": "deux"}}})
		}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		sameRows(t, dump(t, reopen(t, st), Plain, "v"), map[string][]any{"p1": {"one"}, "p2": {"deux"}})
	})
}

func schemaless(st localstate.Store) bool { return st.Kind() == "json" }

// reopen opens the store's file again, read-only, to see what was persisted.
func reopen(t *testing.T, st localstate.Store) localstate.Store {
	t.Helper()
	re, err := localstate.Open(context.Background(), st.Path(), localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("reopen %s: %v", st.Path(), err)
	}
	t.Cleanup(func() { re.Close() })
	return re
}

func apply(t *testing.T, st localstate.Store, changes ...localstate.Change) {
	t.Helper()
	if err := st.Apply(context.Background(), changes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// dump scans tb into key → copied values.
func dump(t *testing.T, st localstate.Store, tb *localstate.Table, cols ...string) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	err := st.Scan(context.Background(), tb, cols, func(r localstate.Row) error {
		if _, dup := out[r.Key]; dup {
			t.Errorf("Scan returned key %q twice", r.Key)
		}
		if len(r.Values) != len(cols) {
			t.Errorf("row %q has %d values for %d columns", r.Key, len(r.Values), len(cols))
		}
		out[r.Key] = slices.Clone(r.Values)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan %s: %v", tb.Resource, err)
	}
	return out
}

// unchanged checks the fixture's content is intact.
func unchanged(t *testing.T, st localstate.Store) {
	t.Helper()
	sameRows(t, dump(t, st, CustomersAll, "email", "deleted_at"), map[string][]any{
		"cus_1": {"ann@example.com", nil}, "cus_2": {"bob@example.com", nil},
		"cus_3": {"cat@example.com", "2026-01-01T00:00:00Z"}, "cus_4": {"dan@example.com", ""},
	})
	sameRows(t, dump(t, st, Plain, "v"), map[string][]any{"p1": {"one"}, "p2": {"two"}})
}

func sameSet(t *testing.T, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		t.Errorf("got %v, want %v (any order)", got, want)
	}
}

func sameRows(t *testing.T, got, want map[string][]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("row %q missing (got keys %v)", k, slices.Sorted(mapKeys(got)))
			continue
		}
		sameValues(t, k, g, w)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected row %q", k)
		}
	}
}

func mapKeys(m map[string][]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func sameValues(t *testing.T, key string, got, want []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d values %v, want %v", key, len(got), got, want)
		return
	}
	for i := range want {
		if !Equivalent(got[i], want[i]) {
			t.Errorf("%s: value %d = %#v, want %#v", key, i, got[i], want[i])
		}
	}
}

// Equivalent reports whether a value read from a store is want, allowing the
// representations stores may choose: numbers of any Go type, a bool as 1/0,
// an object or list as compact JSON text, a time (want time.Time) as RFC 3339
// text or unix seconds.
func Equivalent(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case time.Time:
		g, ok := localstate.ParseTime(got)
		return ok && g.Equal(w)
	case bool:
		if g, ok := got.(bool); ok {
			return g == w
		}
		n, ok := number(got)
		return ok && n == map[bool]float64{true: 1, false: 0}[w]
	case string:
		g, ok := got.(string)
		return ok && g == w
	case map[string]any, []any:
		wj, _ := json.Marshal(w)
		if g, ok := got.(string); ok {
			return g == string(wj)
		}
		gj, err := json.Marshal(got)
		return err == nil && string(gj) == string(wj)
	case json.Number:
		if g, ok := got.(json.Number); ok {
			return g == w
		}
		if g, ok := got.(string); ok { // an integer beyond int64 kept as text
			return g == string(w)
		}
		if g, ok := got.(int64); ok {
			return strconv.FormatInt(g, 10) == string(w)
		}
		return false
	}
	wn, ok := number(want)
	if !ok {
		return false
	}
	gn, ok := number(got)
	return ok && gn == wn
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x)
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}
