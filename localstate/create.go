package localstate

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
)

// CreateSQLite makes a new SQLite database at path and runs script in it, in
// order, in one transaction. It is for fixtures reconctl ships (the demo's
// app.db), never for a state: reconctl does not create an app's state. A
// file already at path is an error.
func CreateSQLite(ctx context.Context, path string, script ...string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+uriPath(abs)+"?mode=rwc")
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if n > 0 {
		return fmt.Errorf("creating %s: a database with tables is already there", path)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	for _, s := range script {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("creating %s: %w", path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	return db.Close()
}
