package commands

import (
	"context"
	"database/sql"
)

// inTx runs fn in one transaction of db. Only commands/journal.go uses it
// (replay's transactions moved to replay/tx.go); it goes when journal.go
// moves to the localstate transaction seam.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
