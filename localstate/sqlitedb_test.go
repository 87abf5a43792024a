package localstate_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

// OpenSQLiteDB: the seam for a SQLite file that is not a state (the
// journal's own). Create decides whether a missing file is made; odd paths
// open what they name; transactions come back as a Tx whose Apply refuses.
func TestOpenSQLiteDB(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "j.db")

	// Without Create a missing file is not made.
	db, err := localstate.OpenSQLiteDB(path, localstate.SQLiteDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)`)
	if code, _, ok := localstate.SQLiteErrorCode(err); !ok || code != localstate.SQLiteCantOpen {
		t.Errorf("missing file without Create: code %d ok %v (%v)", code, ok, err)
	}
	db.Close()
	if _, err := os.Stat(path); err == nil {
		t.Fatal("OpenSQLiteDB without Create made the file")
	}

	db, err = localstate.OpenSQLiteDB(path, localstate.SQLiteDBOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at %s: %v", path, err)
	}
	var timeout int
	if err := db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&timeout); err != nil || timeout != int(localstate.DefaultBusyTimeout.Milliseconds()) {
		t.Errorf("busy_timeout %d (%v), want %d", timeout, err, localstate.DefaultBusyTimeout.Milliseconds())
	}
	var v string
	if err := db.QueryRowContext(ctx, `SELECT v FROM t WHERE k = ?`, "x").Scan(&v); !errors.Is(err, localstate.ErrNoRows) {
		t.Errorf("no row: want ErrNoRows, got %v", err)
	}

	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(ctx, []localstate.Change{{Op: localstate.OpDelete, Key: "x"}}); !errors.Is(err, localstate.ErrNoTx) {
		t.Errorf("Apply: want ErrNoTx, got %v", err)
	}
	p, ok := tx.(localstate.Preparer)
	if !ok {
		t.Fatal("a SQLiteDB transaction does not prepare statements")
	}
	st, err := p.PrepareContext(ctx, `INSERT INTO t (k, v) VALUES (?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ExecContext(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_ = tx.Savepoint(ctx, func() error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t (k, v) VALUES ('b', '2')`); err != nil {
			t.Fatal(err)
		}
		return errors.New("undo b")
	})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT k FROM t ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") != "a" {
		t.Errorf("rows after commit: %v, want [a]", keys)
	}
}

// SQLiteErrorCode finds the driver's error and its primary code; other
// errors are not SQLite's.
func TestSQLiteErrorCode(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "not.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := localstate.OpenSQLiteDB(path, localstate.SQLiteDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&n)
	code, se, ok := localstate.SQLiteErrorCode(err)
	if !ok || code != localstate.SQLiteNotADB || se == nil || !strings.Contains(se.Error(), "not a database") {
		t.Errorf("not a database: code %d ok %v driver error %v (from %v)", code, ok, se, err)
	}
	if _, _, ok := localstate.SQLiteErrorCode(errors.New("other")); ok {
		t.Error("a plain error read as SQLite's")
	}
	if _, _, ok := localstate.SQLiteErrorCode(nil); ok {
		t.Error("nil read as SQLite's")
	}
}
