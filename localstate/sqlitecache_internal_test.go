package localstate

import (
	"context"
	"path/filepath"
	"testing"
)

// TestSQLiteDefaultCache: every connection keeps SQLite's default page
// cache (2 MB), the reading ones and a write transaction's alike. A
// resync's single large write and replay's small chunk transactions both
// write with it: the 256 MB one a write transaction once had kept every
// page the write touched (issue #16).
func TestSQLiteDefaultCache(t *testing.T) {
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
	for i := range 2 { // the first runs on the pinned connection, the second on the pool's
		tx, err := s.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var in int
		if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&in); err != nil {
			t.Fatal(err)
		}
		if in != -2000 {
			t.Errorf("write transaction %d: cache_size = %d, want SQLite's default -2000", i+1, in)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	}
}
