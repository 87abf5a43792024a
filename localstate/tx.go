package localstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Querier is the narrow SQL handle of a transaction: what the journal needs
// to write its own rows in the state's transaction. Every Tx satisfies it,
// and so does a SQLiteDB (and *sql.Tx and *sql.DB, inside localstate).
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is one transaction of a store with Features().Begin: the seam through
// which the engine, the journal and replay commit together, so that none of
// them drives database/sql itself.
type Tx interface {
	// Apply writes changes inside the transaction. After an error part of
	// them may be in it: roll back (or, inside Savepoint, return the error).
	// It keeps nothing of changes (nor their Values maps) once it returns:
	// callers reuse them.
	Apply(ctx context.Context, changes []Change) error
	// Savepoint runs fn in a nested transaction: when fn fails, what it
	// wrote is undone and the rest of the transaction stays (replay
	// isolates each event this way). fn's error is returned.
	Savepoint(ctx context.Context, fn func() error) error
	// Querier runs the journal's statements inside the transaction (the
	// journal in the state's own database).
	Querier
	Commit() error
	Rollback() error
}

// ErrNoTx is returned by a Tx that holds no store (see SQLiteDB.Begin) when
// asked to apply changes.
var ErrNoTx = errors.New("this transaction is not the state's: it cannot write the state's records")

// sqlTx is a Tx over a *sql.Tx; apply is nil for a database that is not a
// state (the journal's own file, see SQLiteDB).
type sqlTx struct {
	*sql.Tx
	apply func(ctx context.Context, tx *sql.Tx, changes []Change) error
	depth int
}

func (t *sqlTx) Apply(ctx context.Context, changes []Change) error {
	if t.apply == nil {
		return ErrNoTx
	}
	if len(changes) == 0 {
		return nil
	}
	return t.apply(ctx, t.Tx, changes)
}

func (t *sqlTx) Savepoint(ctx context.Context, fn func() error) error {
	name := fmt.Sprintf("reconctl_sp%d", t.depth)
	if _, err := t.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return err
	}
	t.depth++
	err := fn()
	t.depth--
	if err != nil {
		_, _ = t.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name)
		_, _ = t.ExecContext(ctx, "RELEASE SAVEPOINT "+name)
		return err
	}
	_, err = t.ExecContext(ctx, "RELEASE SAVEPOINT "+name)
	return err
}

// InTx runs fn in a transaction from begin — a state store's
// (Features().Begin) or the journal's own (Journal.Begin) — and commits it,
// or rolls it back when fn fails.
func InTx(ctx context.Context, begin func(context.Context) (Tx, error), fn func(Tx) error) error {
	tx, err := begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
