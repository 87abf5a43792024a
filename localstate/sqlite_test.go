package localstate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/storetest"
)

func openSQLiteFixture(t *testing.T, f storetest.Fixture, readOnly bool) localstate.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	f.WriteSQLite(t, path)
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSQLiteConformance(t *testing.T) { storetest.Run(t, openSQLiteFixture) }

// rawRows reads a table directly, bypassing the store.
func rawRows(t *testing.T, path, query string) [][]any {
	t.Helper()
	db, err := sql.Open("sqlite", storetest.SQLiteURI(path, "ro"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSQLiteNotNullCreate(t *testing.T) {
	f := storetest.Fixture{Tables: []storetest.FixtureTable{{
		Name: "users",
		Columns: []storetest.Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, {Name: "email", Type: "TEXT"},
			{Name: "tenant", Type: "TEXT", NotNull: true}, {Name: "created", Type: "TEXT", NotNull: true, Default: "''"}},
		Rows: [][]any{{"cus_1", "a@example.com", "t1", "x"}},
	}}}
	st := openSQLiteFixture(t, f, false)
	users := &localstate.Table{Resource: "customers", Name: "users"}
	err := st.Apply(context.Background(), []localstate.Change{
		{Table: users, Op: localstate.OpUpdate, Key: "cus_1", Values: map[string]any{"email": "changed@example.com"}},
		{Table: users, Op: localstate.OpCreate, Key: "cus_2", Values: map[string]any{"email": "b@example.com"}},
	})
	if err == nil {
		t.Fatal("want an error: tenant is NOT NULL without a default")
	}
	for _, want := range []string{`"tenant"`, `"users"`, "NOT NULL", "map it", "default", "nothing was written"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), `"created"`) {
		t.Errorf("created has a default and must not be blamed: %v", err)
	}
	rows := rawRows(t, st.Path(), "SELECT id, email FROM users")
	if len(rows) != 1 || rows[0][1] != "a@example.com" {
		t.Fatalf("nothing may be written, got %v", rows)
	}
	// Mapping the column fixes it.
	err = st.Apply(context.Background(), []localstate.Change{
		{Table: users, Op: localstate.OpCreate, Key: "cus_2", Values: map[string]any{"email": "b@example.com", "tenant": "t2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A NULL for a NOT NULL column is refused before writing too.
	err = st.Apply(context.Background(), []localstate.Change{
		{Table: users, Op: localstate.OpUpdate, Key: "cus_1", Values: map[string]any{"tenant": nil}},
	})
	if err == nil || !strings.Contains(err.Error(), `"tenant"`) {
		t.Fatalf("want an error naming tenant, got %v", err)
	}
}

func TestSQLiteQuotedIdentifiers(t *testing.T) {
	table, name, mail, soft := `my "users"`, `full "name"`, "e mail", "deleted at"
	f := storetest.Fixture{Tables: []storetest.FixtureTable{{
		Name: table,
		Columns: []storetest.Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, {Name: name, Type: "TEXT"},
			{Name: mail, Type: "TEXT"}, {Name: soft, Type: "TEXT"}},
		Rows: [][]any{{"u1", "Ann", "a@example.com", nil}, {"u2", "Bob", "b@example.com", nil}},
	}}}
	st := openSQLiteFixture(t, f, false)
	ctx := context.Background()
	tb := &localstate.Table{Resource: "customers", Name: table, SoftDelete: soft,
		Fields: []localstate.Field{{Column: name, Path: "name"}, {Column: mail, Path: "email"}}}
	cols, err := st.Columns(ctx, tb)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cols, "|") != name+"|"+mail+"|"+soft {
		t.Fatalf("Columns = %q", cols)
	}
	evil := `x'); DROP TABLE "my ""users"""; --`
	err = st.Apply(ctx, []localstate.Change{
		{Table: tb, Op: localstate.OpCreate, Key: "u3", Values: map[string]any{name: evil, mail: "c@example.com"}},
		{Table: tb, Op: localstate.OpUpdate, Key: "u1", Values: map[string]any{mail: "a2@example.com"}},
		{Table: tb, Op: localstate.OpDelete, Key: "u2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]any{}
	err = st.Scan(ctx, tb, []string{name, mail}, func(r localstate.Row) error {
		got[r.Key] = append([]any(nil), r.Values...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["u1"][1] != "a2@example.com" || got["u3"][0] != evil {
		t.Fatalf("Scan = %v", got)
	}
	if row, ok, err := st.Get(ctx, tb, []string{name}, "u3"); err != nil || !ok || row.Values[0] != evil {
		t.Fatalf("Get u3 = %v %v %v", row, ok, err)
	}
	_, err = st.Columns(ctx, &localstate.Table{Resource: "customers", Name: table, Fields: []localstate.Field{{Column: `no "such"`}}})
	if err == nil || !strings.Contains(err.Error(), `"no \"such\""`) {
		t.Fatalf("want an error naming the column, got %v", err)
	}
}

func TestSQLiteNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is not a database\n", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "is not a SQLite database (file is not a database)") || !strings.Contains(err.Error(), "--state") {
		t.Fatalf("want a clear not-a-database error, got %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the message must be one line: %q", err)
	}
}

func TestSQLiteCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	f := storetest.Fixture{Tables: []storetest.FixtureTable{{
		Name:    "users",
		Columns: []storetest.Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, {Name: "v", Type: "TEXT"}},
	}}}
	for i := range 3000 {
		f.Tables[0].Rows = append(f.Tables[0].Rows, []any{"id" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + time.Duration(i).String(), strings.Repeat("v", 100)})
	}
	f.WriteSQLite(t, path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Smash every page after the schema page: the header stays valid, the b-trees do not.
	for i := 4096 + 16; i < len(data); i++ {
		data[i] = 0xA5
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{ReadOnly: true})
	if err == nil {
		defer st.Close()
		err = st.Scan(context.Background(), &localstate.Table{Resource: "users"}, []string{"v"}, func(localstate.Row) error { return nil })
	}
	if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("want a corrupt-database error, got %v", err)
	}
}

func TestOpenMissing(t *testing.T) {
	for _, name := range []string{"app.db", "app.sqlite3", "state.json"} {
		path := filepath.Join(t.TempDir(), name)
		_, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
		if !errors.Is(err, localstate.ErrStateMissing) {
			t.Fatalf("%s: want ErrStateMissing, got %v", name, err)
		}
		for _, want := range []string{path + " does not exist", "never creates", "--state"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", name, err, want)
			}
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: Open created the file", name)
		}
	}
}

func TestOpenBadExtension(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.csv")
	os.WriteFile(path, []byte("id\n"), 0o644)
	_, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{".db", ".sqlite", ".sqlite3", ".json"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not list %s", err, want)
		}
	}
	dir := filepath.Join(t.TempDir(), "dir.db")
	os.Mkdir(dir, 0o755)
	if _, err := localstate.Open(context.Background(), dir, localstate.OpenOptions{}); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("want a directory error, got %v", err)
	}
}

func TestSQLiteLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	storetest.Standard().WriteSQLite(t, path)
	ctx := context.Background()
	st, err := localstate.Open(ctx, path, localstate.OpenOptions{BusyTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`INSERT INTO plain (id, v) VALUES ('p9', 'held')`); err != nil { // takes the write lock
		t.Fatal(err)
	}
	change := []localstate.Change{{Table: storetest.Plain, Op: localstate.OpUpdate, Key: "p1", Values: map[string]any{"v": "mine"}}}
	start := time.Now()
	err = st.Apply(ctx, change)
	waited := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "is locked by another process") || !strings.Contains(err.Error(), "retry") {
		t.Fatalf("want a clear locked error, got %v", err)
	}
	if waited < 150*time.Millisecond || waited > 3*time.Second {
		t.Errorf("waited %s, want about the 200ms busy timeout", waited)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the message must be one line: %q", err)
	}
	tx.Rollback()
	if err := st.Apply(ctx, change); err != nil {
		t.Fatalf("after the lock is released: %v", err)
	}
}

func TestSQLiteReadOnlyHandle(t *testing.T) {
	st := openSQLiteFixture(t, storetest.Standard(), true)
	defer st.Close()
	begin := st.Features().Begin
	if begin == nil {
		t.Fatal("the SQLite store must have transactions (Features().Begin)")
	}
	ctx := context.Background()
	tx, err := begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM plain`); err == nil {
		t.Fatal("a read-only store's handle must not write")
	}
	if err := tx.Apply(ctx, []localstate.Change{{Table: storetest.Plain, Op: localstate.OpDelete, Key: "p1"}}); !errors.Is(err, localstate.ErrReadOnly) {
		t.Fatalf("ApplyTx on a read-only store: want ErrReadOnly, got %v", err)
	}
}

func TestSQLiteApplyTx(t *testing.T) {
	st := openSQLiteFixture(t, storetest.Standard(), false)
	defer st.Close()
	ctx := context.Background()
	setup, err := st.Features().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.ExecContext(ctx, `CREATE TABLE reconctl_runs (id TEXT)`); err != nil {
		t.Fatal(err)
	}
	if err := setup.Commit(); err != nil {
		t.Fatal(err)
	}
	run := func(commit bool) {
		tx, err := st.Features().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reconctl_runs VALUES ('r1')`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Apply(ctx, []localstate.Change{{Table: storetest.Plain, Op: localstate.OpDelete, Key: "p1"}}); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	run(false)
	if n := len(rawRows(t, st.Path(), "SELECT * FROM plain")); n != 2 {
		t.Fatalf("rolled back: want 2 rows, got %d", n)
	}
	run(true)
	if n := len(rawRows(t, st.Path(), "SELECT * FROM plain")) + len(rawRows(t, st.Path(), "SELECT * FROM reconctl_runs")); n != 2 {
		t.Fatalf("committed: want 1 plain row and 1 run, got %d rows", n)
	}
}

// TestSQLiteTxSavepoint is the seam replay uses: one transaction, each event
// in a savepoint; a failed event's writes are undone, the others commit with
// the journal rows written through the same Tx.
func TestSQLiteTxSavepoint(t *testing.T) {
	st := openSQLiteFixture(t, storetest.Standard(), false)
	defer st.Close()
	ctx := context.Background()
	tx, err := st.Features().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE reconctl_events (id TEXT)`); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("event failed")
	err = tx.Savepoint(ctx, func() error {
		if err := tx.Apply(ctx, []localstate.Change{{Table: storetest.Plain, Op: localstate.OpDelete, Key: "p1"}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Savepoint: want fn's error, got %v", err)
	}
	err = tx.Savepoint(ctx, func() error {
		if err := tx.Apply(ctx, []localstate.Change{{Table: storetest.Plain, Op: localstate.OpDelete, Key: "p2"}}); err != nil {
			return err
		}
		// nested: an inner failure leaves the outer savepoint's writes
		_ = tx.Savepoint(ctx, func() error {
			_, _ = tx.ExecContext(ctx, `INSERT INTO reconctl_events VALUES ('inner')`)
			return boom
		})
		_, err := tx.ExecContext(ctx, `INSERT INTO reconctl_events VALUES ('e2')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rows := rawRows(t, st.Path(), "SELECT id FROM plain ORDER BY id")
	if len(rows) != 1 || rows[0][0] != "p1" {
		t.Fatalf("plain after the savepoints: want only p1 (p1's delete rolled back, p2's kept), got %v", rows)
	}
	if ev := rawRows(t, st.Path(), "SELECT id FROM reconctl_events"); len(ev) != 1 || ev[0][0] != "e2" {
		t.Fatalf("events: want [e2], got %v", ev)
	}
}

// TestJSONHasNoTx: a snapshot declares no transactions, so callers take the
// Apply-only path (the journal beside it).
func TestJSONHasNoTx(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.json")
	if err := os.WriteFile(path, []byte(`{"plain": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := st.Features()
	if f.Begin != nil || f.KeyIndexed == nil || f.KeyHealth == nil {
		t.Fatalf("JSON features: want no Begin, KeyIndexed and KeyHealth, got %+v", f)
	}
}

// TestSQLiteColumnTypes covers values the driver would otherwise convert and
// soft-delete columns that are integers or NOT NULL flags.
func TestSQLiteColumnTypes(t *testing.T) {
	f := storetest.Fixture{Tables: []storetest.FixtureTable{
		{
			Name: "users",
			Columns: []storetest.Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, {Name: "updated", Type: "DATETIME"},
				{Name: "deleted_at", Type: "INTEGER"}, {Name: "blob", Type: "BLOB"}},
			Rows: [][]any{{"u1", "2026-01-02 03:04:05", nil, []byte("raw")}, {"u2", "2026-01-02T03:04:05Z", int64(0), nil}},
		},
		{
			Name:    "flags",
			Columns: []storetest.Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, {Name: "is_deleted", Type: "BOOLEAN", NotNull: true, Default: "0"}},
			Rows:    [][]any{{"f1", int64(0)}, {"f2", int64(1)}},
		},
	}}
	st := openSQLiteFixture(t, f, false)
	defer st.Close()
	ctx := context.Background()
	users := &localstate.Table{Resource: "users", SoftDelete: "deleted_at", UpdatedAt: "updated"}
	row, ok, err := st.Get(ctx, users, []string{"updated", "blob"}, "u1")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if row.Values[0] != "2026-01-02 03:04:05" || row.Values[1] != "raw" {
		t.Fatalf("DATETIME text and BLOBs must read as strings, got %#v", row.Values)
	}
	if _, ok, _ := st.Get(ctx, users, nil, "u2"); !ok {
		t.Fatal("deleted_at = 0 means live")
	}
	before := time.Now().Unix()
	if err := st.Apply(ctx, []localstate.Change{
		{Table: users, Op: localstate.OpDelete, Key: "u1"},
		{Table: users, Op: localstate.OpUpdate, Key: "u2", Values: map[string]any{"updated": int64(1700000000)}},
	}); err != nil {
		t.Fatal(err)
	}
	rows := rawRows(t, st.Path(), "SELECT id, +updated, deleted_at FROM users ORDER BY id")
	if d, ok := rows[0][2].(int64); !ok || d < before || d > time.Now().Unix() {
		t.Errorf("an INTEGER soft-delete column gets unix seconds, got %#v", rows[0][2])
	}
	if rows[1][1] != "2023-11-14T22:13:20Z" {
		t.Errorf("updated_at is written as RFC 3339 text, got %#v", rows[1][1])
	}

	flags := &localstate.Table{Resource: "flags", SoftDelete: "is_deleted"}
	if _, ok, _ := st.Get(ctx, flags, nil, "f2"); ok {
		t.Fatal("is_deleted = 1 means deleted")
	}
	if err := st.Apply(ctx, []localstate.Change{
		{Table: flags, Op: localstate.OpDelete, Key: "f1"},
		{Table: flags, Op: localstate.OpCreate, Key: "f2"},
	}); err != nil {
		t.Fatal(err)
	}
	rows = rawRows(t, st.Path(), "SELECT id, is_deleted FROM flags ORDER BY id")
	if rows[0][1] != int64(1) || rows[1][1] != int64(0) {
		t.Fatalf("a NOT NULL flag is set to 1 and revived to 0, got %v", rows)
	}
}

// TestSQLiteUnindexedKey: without a unique index on the key, creates look keys
// up instead of relying on ON CONFLICT, and still never duplicate a key.
func TestSQLiteUnindexedKey(t *testing.T) {
	f := storetest.Fixture{Tables: []storetest.FixtureTable{{
		Name:    "users",
		Columns: []storetest.Column{{Name: "rowid_", Type: "INTEGER", PrimaryKey: true}, {Name: "stripe_id", Type: "TEXT"}, {Name: "email", Type: "TEXT"}, {Name: "deleted_at", Type: "TEXT"}},
		Rows: [][]any{{int64(1), "cus_1", "a@example.com", nil}, {int64(2), "cus_2", "b@example.com", "2026-01-01"},
			{int64(3), nil, "nokey@example.com", nil}, {int64(4), "", "emptykey@example.com", nil}},
	}}}
	st := openSQLiteFixture(t, f, false)
	defer st.Close()
	ctx := context.Background()
	tb := &localstate.Table{Resource: "customers", Name: "users", Key: "stripe_id", SoftDelete: "deleted_at"}
	if st.Features().KeyIndexed(ctx, tb) {
		t.Error("stripe_id has no index")
	}
	if !st.Features().KeyIndexed(ctx, &localstate.Table{Resource: "users", Key: "rowid_"}) {
		t.Error("an INTEGER PRIMARY KEY is indexed")
	}
	err := st.Apply(ctx, []localstate.Change{
		{Table: tb, Op: localstate.OpCreate, Key: "cus_1", Values: map[string]any{"email": "a2@example.com"}},
		{Table: tb, Op: localstate.OpCreate, Key: "cus_2", Values: map[string]any{"email": "b2@example.com"}},
		{Table: tb, Op: localstate.OpCreate, Key: "cus_3", Values: map[string]any{"email": "c@example.com"}},
		{Table: tb, Op: localstate.OpCreate, Key: "cus_3", Values: map[string]any{"email": "c2@example.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rows := rawRows(t, st.Path(), "SELECT stripe_id, email, deleted_at FROM users WHERE stripe_id <> '' ORDER BY stripe_id")
	if len(rows) != 3 || rows[0][1] != "a2@example.com" || rows[1][1] != "b2@example.com" || rows[1][2] != nil || rows[2][1] != "c2@example.com" {
		t.Fatalf("got %v", rows)
	}
	n := 0
	st.Scan(ctx, tb, []string{"email"}, func(r localstate.Row) error { n++; return nil })
	if n != 3 {
		t.Errorf("rows without a key are not scanned: got %d rows, want 3", n)
	}
}

// TestSQLiteNamesThatCollide: a table called v and columns called column1,
// column2 must not clash with the names reconctl's own SQL uses.
func TestSQLiteNamesThatCollide(t *testing.T) {
	f := storetest.Fixture{Tables: []storetest.FixtureTable{{
		Name:    "v",
		Columns: []storetest.Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, {Name: "column1", Type: "TEXT"}, {Name: "column2", Type: "TEXT"}, {Name: "excluded", Type: "TEXT"}},
		Rows:    [][]any{{"a", nil, "x", "e"}, {"b", nil, "y", "e"}},
	}}}
	st := openSQLiteFixture(t, f, false)
	defer st.Close()
	tb := &localstate.Table{Resource: "v", SoftDelete: "column1"}
	err := st.Apply(context.Background(), []localstate.Change{
		{Table: tb, Op: localstate.OpUpdate, Key: "a", Values: map[string]any{"column2": "x2", "excluded": "e2"}},
		{Table: tb, Op: localstate.OpUpdate, Key: "b", Values: map[string]any{"column2": "y2", "excluded": "e3"}},
		{Table: tb, Op: localstate.OpCreate, Key: "c", Values: map[string]any{"column2": "z", "excluded": "e4"}},
		{Table: tb, Op: localstate.OpCreate, Key: "a", Values: map[string]any{"column2": "x3", "excluded": "e5"}},
		{Table: tb, Op: localstate.OpDelete, Key: "b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rows := rawRows(t, st.Path(), `SELECT id, column1 IS NOT NULL, column2, excluded FROM v ORDER BY id`)
	want := "[[a 0 x3 e5] [b 1 y2 e3] [c 0 z e4]]"
	if got := fmt.Sprint(rows); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestSQLiteOddPath: the path goes into a SQLite URI, where ?, # and % mean something.
func TestSQLiteOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), `a dir?with#odd%20chars'"`)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "app.db")
	storetest.Standard().WriteSQLite(t, path)
	st, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Apply(context.Background(), []localstate.Change{{Table: storetest.Plain, Op: localstate.OpDelete, Key: "p1"}}); err != nil {
		t.Fatal(err)
	}
	if rows := rawRows(t, path, "SELECT id FROM plain"); len(rows) != 1 {
		t.Fatalf("the write went elsewhere: %v", rows)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files beside the database: %v", entries)
	}
}

func TestSQLiteCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE users (k TEXT, deleted_at TEXT); INSERT INTO users VALUES ('a', NULL), ('b', '2026-01-01'), ('c', ''), (NULL, NULL), ('', NULL)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := localstate.Open(context.Background(), path, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.(interface {
		Count(context.Context, *localstate.Table) (int, error)
	}).Count(context.Background(), &localstate.Table{Resource: "users", Name: "users", Key: "k", SoftDelete: "deleted_at"})
	// live rows with a key: a (NULL) and c ('' counts as live); b is soft-deleted; keyless rows never count
	if err != nil || n != 2 {
		t.Fatalf("Count = %d, %v; want 2", n, err)
	}
}

// TestSQLiteKeylessCounts: Count (all rows minus the keyless ones, when no
// soft delete or scope filters them) and KeyHealth (NULL or ” keys, found
// by the key's index) agree with what a scan sees, with and without a
// unique key and a soft-delete column.
func TestSQLiteKeylessCounts(t *testing.T) {
	ctx := context.Background()
	text := [][]any{{1, "a", nil}, {2, "b", "2026-01-01T00:00:00Z"}, {3, nil, nil}, {4, "", nil}, {5, nil, "2026-01-01T00:00:00Z"}, {6, "c", nil}}
	for _, c := range []struct {
		name                 string
		keyDecl, soft        string
		rows                 [][]any
		wantCount, wantNulls int
	}{
		{"unique key", "TEXT UNIQUE", "", text, 3, 3},
		{"plain key", "TEXT", "", append(text, []any{7, "c", nil}), 4, 3},
		{"indexed key", "TEXT", "", append(text, []any{7, "c", nil}), 4, 3},
		{"integer key", "INTEGER", "", [][]any{{1, 10, nil}, {2, 0, nil}, {3, nil, nil}, {4, "", nil}, {5, nil, nil}, {6, 11, nil}, {7, 11, nil}}, 4, 3},
		{"soft delete", "TEXT", "deleted_at", append(text, []any{7, "c", nil}), 3, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.db")
			db, err := sql.Open("sqlite", storetest.SQLiteURI(path, "rwc"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, k ` + c.keyDecl + `, deleted_at TEXT)`); err != nil {
				t.Fatal(err)
			}
			if c.name == "indexed key" {
				if _, err := db.Exec(`CREATE INDEX t_k ON t (k)`); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range c.rows {
				if _, err := db.Exec(`INSERT INTO t VALUES (?, ?, ?)`, r...); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			st, err := localstate.Open(ctx, path, localstate.OpenOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tbl := &localstate.Table{Resource: "r", Name: "t", Key: "k", SoftDelete: c.soft}
			n, err := st.Features().Count(ctx, tbl)
			if err != nil || n != c.wantCount {
				t.Errorf("Count = %d, %v; want %d", n, err, c.wantCount)
			}
			scanned := 0
			if err := st.Scan(ctx, tbl, nil, func(localstate.Row) error { scanned++; return nil }); err != nil || scanned != n {
				t.Errorf("Scan sees %d rows (%v), Count says %d", scanned, err, n)
			}
			kh, err := st.Features().KeyHealth(ctx, tbl)
			if err != nil || kh.NullKeys != c.wantNulls {
				t.Errorf("KeyHealth = %+v, %v; want %d keyless", kh, err, c.wantNulls)
			}
		})
	}
}
