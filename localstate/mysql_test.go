package localstate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/localstate/storetest"
	"github.com/reconctl/reconctl/reconcile"
)

// openMySQLFixture is the storetest Opener for MariaDB/MySQL: a fresh
// database holding the fixture.
func openMySQLFixture(t *testing.T, f storetest.Fixture, readOnly bool) localstate.Store {
	t.Helper()
	db := servertest.New(t, "mysql")
	f.WriteMySQL(t, db.SQL)
	st, err := localstate.Open(context.Background(), db.DSN, localstate.OpenOptions{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMySQLConformance(t *testing.T) { storetest.Run(t, openMySQLFixture) }

// mysqlStore opens db's state (read-only or not) and closes it at the end.
func mysqlStore(t *testing.T, db *servertest.DB, opts localstate.OpenOptions) localstate.Store {
	t.Helper()
	st, err := localstate.Open(context.Background(), db.DSN, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mysqlDump(t *testing.T, st localstate.Store, tb *localstate.Table, cols ...string) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	if err := st.Scan(context.Background(), tb, cols, func(r localstate.Row) error {
		out[r.Key] = slices.Clone(r.Values)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMySQLOpenErrors(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, email TEXT)")
	user, pw := servertest.Name("u"), "s3cret-Pw_42"
	db.Exec(t, fmt.Sprintf("CREATE USER '%[1]s'@'%%' IDENTIFIED BY '%[2]s'; CREATE USER '%[1]s'@'localhost' IDENTIFIED BY '%[2]s'; GRANT ALL ON `%[3]s`.* TO '%[1]s'@'%%'; GRANT ALL ON `%[3]s`.* TO '%[1]s'@'localhost'", user, pw, db.Name))
	t.Cleanup(func() {
		if _, err := db.SQL.Exec(fmt.Sprintf("DROP USER IF EXISTS '%[1]s'@'%%', '%[1]s'@'localhost'", user)); err != nil {
			t.Errorf("dropping user %s: %v", user, err)
		}
	})
	u, _ := url.Parse(db.DSN)
	host := u.Host

	// A password inside the DSN works and is never shown.
	good := fmt.Sprintf("mysql://%s:%s@%s/%s", user, pw, host, db.Name)
	st, err := localstate.Open(ctx, good, localstate.OpenOptions{})
	if err != nil {
		t.Fatalf("open with the DSN's password: %v", err)
	}
	if _, err := st.Columns(ctx, &localstate.Table{Resource: "users"}); err != nil {
		t.Fatal(err)
	}
	if shown := localstate.RedactLocation(st.Path()); strings.Contains(shown, pw) || !strings.Contains(shown, ":***@") {
		t.Errorf("RedactLocation(Path()) = %q", shown)
	}
	_, err = st.Columns(ctx, &localstate.Table{Resource: "nope"})
	if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), ":***@") {
		t.Errorf("a schema error must name the redacted location: %v", err)
	}
	st.Close()

	// password_env: names the variable holding the password.
	t.Setenv("RCT_MYSQL_TEST_PW", pw)
	nopw := fmt.Sprintf("mysql://%s@%s/%s", user, host, db.Name)
	st, err = localstate.Open(ctx, nopw, localstate.OpenOptions{Server: localstate.ServerOptions{PasswordEnv: "RCT_MYSQL_TEST_PW"}})
	if err != nil {
		t.Fatalf("open with password_env: %v", err)
	}
	st.Close()
	_, err = localstate.Open(ctx, nopw, localstate.OpenOptions{Server: localstate.ServerOptions{PasswordEnv: "RCT_MYSQL_TEST_UNSET"}})
	if err == nil || !strings.Contains(err.Error(), "RCT_MYSQL_TEST_UNSET") {
		t.Errorf("password_env naming an unset variable: %v", err)
	}

	for _, tc := range []struct {
		name, loc, want string
	}{
		{"wrong password", fmt.Sprintf("mysql://%s:%s@%s/%s", user, "wrong-"+pw, host, db.Name), "access denied"},
		{"unknown database, not granted", fmt.Sprintf("mysql://%s:%s@%s/%s", user, pw, host, db.Name+"_nope"), "does not exist"},
		{"database not granted", fmt.Sprintf("mysql://%s:%s@%s/%s", user, pw, host, "mysql"), "may not use the database"},
		{"no such database", strings.Replace(db.DSN, "/"+db.Name, "/"+db.Name+"_nope", 1), "does not exist"},
		{"nothing listening", fmt.Sprintf("mysql://%s:%s@127.0.0.1:1/%s", user, pw, db.Name), "nothing answers at 127.0.0.1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := localstate.Open(ctx, tc.loc, localstate.OpenOptions{})
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, pw) || strings.Contains(msg, "\n") || !strings.Contains(msg, tc.want) || (strings.Contains(tc.loc, pw) && !strings.Contains(msg, ":***@")) || !strings.Contains(msg, "check") {
				t.Errorf("want one line naming %q and the redacted DSN, saying what to check, without the password: %s", tc.want, msg)
			}
		})
	}
}

func TestMySQLSchemaErrors(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, Email TEXT); CREATE TABLE orders (id BIGINT PRIMARY KEY)")
	st := mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true})
	_, err := st.Columns(ctx, &localstate.Table{Resource: "customers", Name: "clients"})
	var se *localstate.SchemaError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), `"clients"`) || !strings.Contains(err.Error(), "orders, users") {
		t.Errorf("missing table: want a schema error listing orders, users: %v", err)
	}
	_, err = st.Columns(ctx, &localstate.Table{Resource: "users", Fields: []localstate.Field{{Column: "nope", Path: "x"}}})
	if !errors.As(err, &se) || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "id, Email") {
		t.Errorf("missing column: want a schema error listing id, Email: %v", err)
	}
	// Column names are case-insensitive, as MySQL's are.
	if _, err := st.Columns(ctx, &localstate.Table{Resource: "users", Key: "ID", Fields: []localstate.Field{{Column: "email", Path: "email"}}}); err != nil {
		t.Errorf("columns in another case: %v", err)
	}
}

// TestMySQLTypedValues writes provider values into the columns' own types
// (creates, then a batch of updates through the joined UPDATE) and checks
// that the engine's comparison finds every value read back equal to what
// the provider sent: the next diff finds nothing.
func TestMySQLTypedValues(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, `CREATE TABLE things (
		id VARCHAR(64) PRIMARY KEY,
		at_dt DATETIME(6) NULL, at_ts TIMESTAMP NULL DEFAULT NULL, at_s DATETIME NULL, day DATE NULL,
		big BIGINT NULL, ubig BIGINT UNSIGNED NULL, price DECIMAL(10,2) NULL, ratio DOUBLE NULL,
		flag TINYINT(1) NULL, doc JSON NULL, name VARCHAR(100) NULL, color ENUM('red','green','blue') NULL)`)
	// The application wrote this one: JSON with other key order and spacing.
	db.Exec(t, `INSERT INTO things (id, doc, price, flag) VALUES ('app_1', '{ "b": [1, 2],   "a": "x" }', 10.50, 1)`)
	fields := []localstate.Field{
		{Column: "at_dt", Path: "created", Compare: localstate.CompareTime},
		{Column: "at_ts", Path: "created_unix", Compare: localstate.CompareTime},
		{Column: "at_s", Path: "seen"}, {Column: "day", Path: "day"},
		{Column: "big", Path: "big"}, {Column: "ubig", Path: "ubig"}, {Column: "price", Path: "price"}, {Column: "ratio", Path: "ratio"},
		{Column: "flag", Path: "flag"}, {Column: "doc", Path: "doc"}, {Column: "name", Path: "name"}, {Column: "color", Path: "color"},
	}
	tb := &localstate.Table{Resource: "things", Fields: fields}
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = f.Column
	}
	record := func(i int) map[string]any {
		return map[string]any{
			"at_dt": fmt.Sprintf("2024-03-01T10:20:%02d.123456Z", i%60), "at_ts": json.Number(fmt.Sprint(1709288430 + i)),
			"at_s": "2024-03-01T10:20:30Z", "day": "2024-03-01",
			"big": json.Number(fmt.Sprint(int64(1)<<53 + 1 + int64(i))), "ubig": json.Number("18446744073709551615"),
			"price": json.Number(fmt.Sprintf("%d.5", i)), "ratio": json.Number("0.1"),
			"flag": i%2 == 0, "doc": map[string]any{"a": "x", "b": []any{json.Number("1"), json.Number(fmt.Sprint(i))}},
			"name": fmt.Sprintf("héllo %d", i), "color": []string{"red", "green", "blue"}[i%3],
		}
	}
	check := func(st localstate.Store, n int, rec func(int) map[string]any) {
		t.Helper()
		got := mysqlDump(t, st, tb, cols...)
		for i := range n {
			key := fmt.Sprintf("th_%03d", i)
			row, ok := got[key]
			if !ok {
				t.Fatalf("%s missing", key)
			}
			want := rec(i)
			for j, f := range fields {
				if !reconcile.Equal(row[j], want[f.Column], f.Compare) {
					t.Errorf("%s.%s: read back %#v, the provider has %#v: the next diff would find drift", key, f.Column, row[j], want[f.Column])
				}
			}
		}
	}
	st := mysqlStore(t, db, localstate.OpenOptions{})
	var changes []localstate.Change
	for i := range 300 {
		changes = append(changes, localstate.Change{Table: tb, Op: localstate.OpCreate, Key: fmt.Sprintf("th_%03d", i), Values: record(i)})
	}
	if err := st.Apply(ctx, changes); err != nil {
		t.Fatal(err)
	}
	check(st, 300, record)
	check(mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true}), 300, record)

	// Updates of every type go through the batched joined UPDATE.
	changed := func(i int) map[string]any {
		r := record(i + 1000)
		r["ubig"] = json.Number(fmt.Sprint(uint64(1)<<63 + uint64(i)))
		return r
	}
	changes = changes[:0]
	for i := range 300 {
		changes = append(changes, localstate.Change{Table: tb, Op: localstate.OpUpdate, Key: fmt.Sprintf("th_%03d", i), Values: changed(i)})
	}
	if err := st.Apply(ctx, changes); err != nil {
		t.Fatal(err)
	}
	check(mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true}), 300, changed)

	// The application's own row: 10.50 is the provider's 10.5, JSON key
	// order and whitespace are no drift, tinyint(1) 1 is true.
	row, ok, err := st.Get(ctx, tb, []string{"doc", "price", "flag"}, "app_1")
	if err != nil || !ok {
		t.Fatalf("Get app_1: %v %v", ok, err)
	}
	for j, want := range []any{map[string]any{"a": "x", "b": []any{json.Number("1"), json.Number("2")}}, json.Number("10.5"), true} {
		if !reconcile.Equal(row.Values[j], want, "") {
			t.Errorf("app_1 value %d: %#v is not %#v", j, row.Values[j], want)
		}
	}
	if reconcile.Equal(row.Values[1], json.Number("10.51"), "") {
		t.Error("10.50 must differ from 10.51")
	}
}

// TestMySQLSoftDelete: DATETIME and boolean soft-delete columns, and an
// integer key, with conditions of the column's own type.
func TestMySQLSoftDelete(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, `CREATE TABLE a (id BIGINT PRIMARY KEY, name TEXT, deleted_at DATETIME NULL);
		CREATE TABLE b (id VARCHAR(32) PRIMARY KEY, name TEXT, is_deleted TINYINT(1) NOT NULL DEFAULT 0);
		INSERT INTO a VALUES (0, 'zero', NULL), (1, 'one', NULL), (2, 'two', '2026-01-01 00:00:00');
		INSERT INTO b VALUES ('b1', 'one', 0), ('b2', 'two', 1), ('b3', 'three', 0)`)
	ta := &localstate.Table{Resource: "a", SoftDelete: "deleted_at"}
	tbl := &localstate.Table{Resource: "b", SoftDelete: "is_deleted"}
	st := mysqlStore(t, db, localstate.OpenOptions{})
	if got := mysqlDump(t, st, ta, "name"); len(got) != 2 || got["0"] == nil || got["1"] == nil {
		t.Fatalf("a: want live rows 0 and 1 (an integer key 0 is a key), got %v", got)
	}
	if got := mysqlDump(t, st, tbl, "name"); len(got) != 2 || got["b2"] != nil {
		t.Fatalf("b: want live rows b1 and b3, got %v", got)
	}
	if err := st.Apply(ctx, []localstate.Change{
		{Table: ta, Op: localstate.OpDelete, Key: "1"},
		{Table: ta, Op: localstate.OpCreate, Key: "2", Values: map[string]any{"name": "two again"}},
		{Table: tbl, Op: localstate.OpDelete, Key: "b3"},
		{Table: tbl, Op: localstate.OpCreate, Key: "b2", Values: map[string]any{"name": "two again"}},
	}); err != nil {
		t.Fatal(err)
	}
	ro := mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true})
	if got := mysqlDump(t, ro, ta, "name"); len(got) != 2 || got["1"] != nil || got["2"][0] != "two again" {
		t.Errorf("a after the apply: %v", got)
	}
	if got := mysqlDump(t, ro, tbl, "name"); len(got) != 2 || got["b3"] != nil || got["b2"][0] != "two again" {
		t.Errorf("b after the apply: %v", got)
	}
	var at sql.NullString
	var flag int
	if err := db.SQL.QueryRow("SELECT (SELECT deleted_at FROM a WHERE id = 1), (SELECT is_deleted FROM b WHERE id = 'b3')").Scan(&at, &flag); err != nil {
		t.Fatal(err)
	}
	if !at.Valid || flag != 1 {
		t.Errorf("soft deletes wrote deleted_at=%v is_deleted=%d", at, flag)
	}
	if _, ok, _ := ro.Get(ctx, ta, nil, "1"); ok {
		t.Error("a soft-deleted row must read as absent")
	}
}

// TestMySQLAllOrNothing: a value the column cannot hold in the middle of a
// batch fails the Apply and nothing is written.
func TestMySQLAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE t (id VARCHAR(32) PRIMARY KEY, code VARCHAR(5)); INSERT INTO t VALUES ('k0', 'old')")
	tb := &localstate.Table{Resource: "t"}
	var changes []localstate.Change
	for i := range 500 {
		v := "ok"
		if i == 250 {
			v = "far too long for five"
		}
		changes = append(changes, localstate.Change{Table: tb, Op: localstate.OpCreate, Key: fmt.Sprintf("k%03d", i+1), Values: map[string]any{"code": v}})
	}
	changes = append(changes, localstate.Change{Table: tb, Op: localstate.OpUpdate, Key: "k0", Values: map[string]any{"code": "new"}})
	st := mysqlStore(t, db, localstate.OpenOptions{})
	err := st.Apply(ctx, changes)
	if err == nil || !strings.Contains(err.Error(), "k251") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("want an error naming k251 and saying nothing was written: %v", err)
	}
	var n int
	var code string
	if err := db.SQL.QueryRow("SELECT count(*), max(code) FROM t").Scan(&n, &code); err != nil || n != 1 || code != "old" {
		t.Errorf("the table holds %d rows (code %q): want only k0, unchanged (%v)", n, code, err)
	}
}

// TestMySQLKeyHealth: a _ci collation makes abc and ABC one key.
func TestMySQLKeyHealth(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, `CREATE TABLE t (id VARCHAR(32) COLLATE utf8mb4_general_ci, v TEXT, KEY (id));
		INSERT INTO t VALUES ('abc', '1'), ('ABC', '2'), ('xyz', '3'), ('', '4'), (NULL, '5')`)
	st := mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true})
	kh, err := st.Features().KeyHealth(ctx, &localstate.Table{Resource: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if kh.NullKeys != 2 || kh.Duplicates != 1 || kh.Keys != 1 || !slices.Equal(kh.Sample, []string{"ABC/abc"}) {
		t.Errorf("KeyHealth = %+v; want 2 keyless rows and abc/ABC one duplicated key", kh)
	}
}

// TestMySQLReadOnlySnapshot: a read-only store reads one moment of every
// table, whatever another session commits between and during its reads;
// a Get while a Scan streams works; Apply refuses.
func TestMySQLReadOnlySnapshot(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, `CREATE TABLE a (id VARCHAR(16) PRIMARY KEY, v TEXT); CREATE TABLE b (id VARCHAR(16) PRIMARY KEY, v TEXT);
		INSERT INTO a VALUES ('a1', 'old'), ('a2', 'old'), ('a3', 'old'); INSERT INTO b VALUES ('b1', 'old')`)
	ta, tb := &localstate.Table{Resource: "a"}, &localstate.Table{Resource: "b"}
	st := mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true})
	commit := func(stmts string) {
		t.Helper()
		db.Exec(t, stmts) // autocommit: committed when Exec returns
	}
	commit("UPDATE a SET v = 'new'; INSERT INTO a VALUES ('a4', 'new'); UPDATE b SET v = 'new'")
	n := 0
	err := st.Scan(ctx, ta, []string{"v"}, func(r localstate.Row) error {
		if r.Values[0] != "old" {
			t.Errorf("scan of a: %s = %v, want the value at open", r.Key, r.Values[0])
		}
		if n++; n == 1 {
			commit("DELETE FROM a WHERE id = 'a3'; DELETE FROM b")
			// A read by key while a scan streams (no command does it)
			// works, on a second snapshot started now: it may see the
			// commits since open (here: b1 deleted).
			row, ok, err := st.Get(ctx, tb, []string{"v"}, "b1")
			if err != nil || ok && row.Values[0] != "old" {
				t.Errorf("Get b1 during the scan: %v %v %v", row.Values, ok, err)
			}
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("scan of a: %d rows, %v; want the 3 rows at open", n, err)
	}
	if got := mysqlDump(t, st, tb, "v"); len(got) != 1 || got["b1"][0] != "old" {
		t.Errorf("scan of b after a: %v, want b1 as at open", got)
	}
	if c, err := st.Features().Count(ctx, ta); err != nil || c != 3 {
		t.Errorf("Count(a) = %d, %v; want 3 as at open", c, err)
	}
	if err := st.Apply(ctx, []localstate.Change{{Table: ta, Op: localstate.OpDelete, Key: "a1"}}); !errors.Is(err, localstate.ErrReadOnly) {
		t.Errorf("Apply on a read-only store: %v, want ErrReadOnly", err)
	}
	// A store opened now sees the commits.
	if got := mysqlDump(t, mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true}), ta, "v"); len(got) != 3 || got["a4"] == nil || got["a3"] != nil {
		t.Errorf("a fresh store: %v", got)
	}
}

// TestMySQLRowLocked: a row another session holds locked makes Apply wait
// at most the busy timeout, then fail with one clear line, nothing written.
func TestMySQLRowLocked(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE t (id VARCHAR(16) PRIMARY KEY, v TEXT); INSERT INTO t VALUES ('k1', 'old'), ('k2', 'old')")
	app, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Rollback()
	if _, err := app.ExecContext(ctx, "SELECT v FROM t WHERE id = 'k2' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	tb := &localstate.Table{Resource: "t"}
	st := mysqlStore(t, db, localstate.OpenOptions{BusyTimeout: time.Second})
	err = st.Apply(ctx, []localstate.Change{
		{Table: tb, Op: localstate.OpUpdate, Key: "k1", Values: map[string]any{"v": "new"}},
		{Table: tb, Op: localstate.OpDelete, Key: "k2"},
	})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "locked by another session") || !strings.Contains(err.Error(), "nothing was written") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want one line saying the row is locked and nothing was written: %v", err)
	}
	app.Rollback()
	got := mysqlDump(t, mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true}), tb, "v")
	if len(got) != 2 || got["k1"][0] != "old" {
		t.Errorf("after the failed apply: %v, want k1 and k2 unchanged", got)
	}
	// Once the lock is gone the same apply goes through.
	if err := st.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpDelete, Key: "k2"}}); err != nil {
		t.Fatal(err)
	}
}

// TestMySQLCreateNeverOverwritesAnotherRow: ON DUPLICATE KEY UPDATE fires
// on any unique index; with a second one (email) a create whose email
// belongs to another row must fail, not rewrite that row.
func TestMySQLCreateNeverOverwritesAnotherRow(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, `CREATE TABLE u (id VARCHAR(16) PRIMARY KEY, email VARCHAR(64) UNIQUE, name TEXT);
		INSERT INTO u VALUES ('cus_1', 'ann@example.com', 'Ann'), ('cus_2', 'bob@example.com', 'Bob')`)
	tb := &localstate.Table{Resource: "u"}
	st := mysqlStore(t, db, localstate.OpenOptions{})
	err := st.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpCreate, Key: "cus_9", Values: map[string]any{"email": "ann@example.com", "name": "Impostor"}}})
	if err == nil || !strings.Contains(err.Error(), "cus_9") {
		t.Fatalf("want the create of cus_9 to fail on the email index: %v", err)
	}
	got := mysqlDump(t, st, tb, "email", "name")
	if len(got) != 2 || got["cus_1"][1] != "Ann" {
		t.Errorf("after the failed create: %v, want cus_1 untouched", got)
	}
	// A create of an existing key still overwrites its own row.
	if err := st.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpCreate, Key: "cus_2", Values: map[string]any{"email": "bob@new.example", "name": "Bob"}},
		{Table: tb, Op: localstate.OpCreate, Key: "cus_3", Values: map[string]any{"email": "cat@example.com", "name": "Cat"}}}); err != nil {
		t.Fatal(err)
	}
	if got := mysqlDump(t, st, tb, "email"); len(got) != 3 || got["cus_2"][0] != "bob@new.example" {
		t.Errorf("after the creates: %v", got)
	}
}

// TestMySQLDeadlockRetried: when InnoDB picks the Apply's transaction as a
// deadlock victim it rolls it back whole; Apply runs it again and it
// commits once the other session is done.
func TestMySQLDeadlockRetried(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE t (id VARCHAR(16) PRIMARY KEY, v TEXT)")
	var rows []string
	for i := range 60 {
		rows = append(rows, fmt.Sprintf("('k%d', 'old')", i))
	}
	db.Exec(t, "INSERT INTO t VALUES "+strings.Join(rows, ", "))
	// The application's transaction changes many rows, k2 among them: when
	// the deadlock comes, it is the heavier one and InnoDB rolls back ours.
	app, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	// One row at a time by primary key: record locks only (a statement
	// scanning the table would lock k1 as well).
	qs := []string{"BEGIN"}
	for i := 2; i < 60; i++ {
		qs = append(qs, fmt.Sprintf("UPDATE t SET v = 'app' WHERE id = 'k%d'", i))
	}
	for _, q := range qs {
		if _, err := app.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var appID int64
	if err := app.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&appID); err != nil {
		t.Fatal(err)
	}
	tb := &localstate.Table{Resource: "t"}
	st := mysqlStore(t, db, localstate.OpenOptions{BusyTimeout: 50 * time.Second})
	done := make(chan error, 1)
	go func() {
		// k1 is locked by the update, then the delete waits for k2.
		done <- st.Apply(ctx, []localstate.Change{
			{Table: tb, Op: localstate.OpUpdate, Key: "k1", Values: map[string]any{"v": "ours"}},
			{Table: tb, Op: localstate.OpDelete, Key: "k2"},
		})
	}()
	for {
		var waiting int
		// The server is shared: count only transactions waiting for the
		// application's.
		if err := db.SQL.QueryRow(`SELECT count(*) FROM information_schema.INNODB_LOCK_WAITS w JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
			WHERE b.trx_mysql_thread_id = ?`, appID).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Apply ended before waiting for the lock: %v", err)
		case <-time.After(200 * time.Millisecond): // INNODB_* tables are a cache refreshed at most every 0.1s
		}
	}
	// Now the application asks for k1: a deadlock, and ours is the victim.
	if _, err := app.ExecContext(ctx, "UPDATE t SET v = 'app' WHERE id = 'k1'"); err != nil {
		t.Fatalf("the application's update was the deadlock victim (%v): the test needs the Apply to be", err)
	}
	if _, err := app.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Apply after a deadlock must run again and commit: %v", err)
	}
	var v string
	var n int
	if err := db.SQL.QueryRow("SELECT (SELECT v FROM t WHERE id = 'k1'), (SELECT count(*) FROM t WHERE id = 'k2')").Scan(&v, &n); err != nil || v != "ours" || n != 0 {
		t.Errorf("k1 = %q, k2 rows = %d (%v): want the Apply's writes", v, n, err)
	}
}
