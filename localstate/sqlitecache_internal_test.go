package localstate

import (
	"context"
	"path/filepath"
	"testing"
)

// TestSQLiteWriteCacheOnlyInTransactions: the large page cache is a
// setting of a write transaction's connection; the connections that only
// read (a scan of the whole table) keep SQLite's default, so a resync does
// not hold the table twice, once in the scan's cache and once in the
// writer's.
func TestSQLiteWriteCacheOnlyInTransactions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	if err := CreateSQLite(ctx, path, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT)`); err != nil {
		t.Fatal(err)
	}
	s, err := openSQLite(ctx, path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var def int
	if err := s.db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&def); err != nil {
		t.Fatal(err)
	}
	if def != -2000 {
		t.Errorf("a reading connection's cache_size = %d, want SQLite's default -2000", def)
	}
	tx, err := s.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var in int
	if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&in); err != nil {
		t.Fatal(err)
	}
	if in != -262144 {
		t.Errorf("a write transaction's cache_size = %d, want -262144 (256 MB)", in)
	}
}

// TestSQLiteSmallWritesKeepDefaultCache: a state opened for small write
// transactions (replay's chunks) keeps SQLite's default page cache in them
// too: the large one would keep every page a replay touches (issue #16).
func TestSQLiteSmallWritesKeepDefaultCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	if err := CreateSQLite(ctx, path, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT)`); err != nil {
		t.Fatal(err)
	}
	s, err := openSQLite(ctx, path, OpenOptions{SmallWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tx, err := s.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var in int
	if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&in); err != nil {
		t.Fatal(err)
	}
	if in != -2000 {
		t.Errorf("a small-writes transaction's cache_size = %d, want SQLite's default -2000", in)
	}
}
