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

// ErrTxRolledBack is in the chain of every error a Tx returns once the
// server has rolled the whole transaction back (a MySQL deadlock victim, a
// lock wait timeout with innodb_rollback_on_timeout, a lost connection):
// nothing of the transaction was committed, nor will be.
var ErrTxRolledBack = errors.New("the server rolled the transaction back")

// txRolledBackError is ErrTxRolledBack with its cause.
type txRolledBackError struct {
	why   string // "deadlock", "lost connection", …
	cause error
}

func (e *txRolledBackError) Error() string {
	return fmt.Sprintf("%v; the server rolled the transaction back (%s): nothing of it was committed", e.cause, e.why)
}

func (e *txRolledBackError) Unwrap() []error { return []error{ErrTxRolledBack, e.cause} }

// txGoner is an optional part of a dialect: err (from a statement inside a
// transaction) says the server rolled the WHOLE transaction back, and why
// in a few words. The *sql.Tx does not know: later statements would run
// in autocommit, outside any transaction, so sqlTx stops at once.
type txGoner interface {
	txGone(err error) (why string, gone bool)
}

// sqlTx is a Tx over a *sql.Tx; apply is nil for a database that is not a
// state (the journal's own file, see SQLiteDB). gone (nil: never) is the
// dialect's txGone; once the transaction is gone (gone said so, or a
// ROLLBACK TO SAVEPOINT failed) every later call fails with rolledBack.
type sqlTx struct {
	*sql.Tx
	apply      func(ctx context.Context, tx *sql.Tx, changes []Change) error
	depth      int
	gone       func(error) (string, bool)
	rolledBack error
}

// check classifies err: when it says the server ended the transaction, the
// Tx is marked rolled back (and the *sql.Tx released, so that nothing runs
// on it in autocommit) and the returned error says so.
func (t *sqlTx) check(err error) error {
	if err == nil || t.rolledBack != nil || t.gone == nil {
		if t.rolledBack != nil {
			return t.rolledBack
		}
		return err
	}
	if why, gone := t.gone(err); gone {
		return t.abort(why, err)
	}
	return err
}

// abort marks the transaction as rolled back by the server.
func (t *sqlTx) abort(why string, cause error) error {
	if t.rolledBack == nil {
		t.rolledBack = &txRolledBackError{why: why, cause: cause}
		_ = t.Tx.Rollback()
	}
	return t.rolledBack
}

func (t *sqlTx) Apply(ctx context.Context, changes []Change) error {
	if t.apply == nil {
		return ErrNoTx
	}
	if t.rolledBack != nil {
		return t.rolledBack
	}
	if len(changes) == 0 {
		return nil
	}
	return t.check(t.apply(ctx, t.Tx, changes))
}

func (t *sqlTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if t.rolledBack != nil {
		return nil, t.rolledBack
	}
	res, err := t.Tx.ExecContext(ctx, query, args...)
	return res, t.check(err)
}

func (t *sqlTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if t.rolledBack != nil {
		return nil, t.rolledBack
	}
	rows, err := t.Tx.QueryContext(ctx, query, args...)
	return rows, t.check(err)
}

// QueryRowContext: once the transaction is gone the *sql.Tx is rolled back,
// so the row's Scan fails (sql.ErrTxDone) instead of reading in autocommit.

func (t *sqlTx) Savepoint(ctx context.Context, fn func() error) error {
	name := fmt.Sprintf("reconctl_sp%d", t.depth)
	if _, err := t.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return err
	}
	t.depth++
	err := fn()
	t.depth--
	if err != nil {
		if err := t.check(err); t.rolledBack != nil {
			// Not only fn's part: the whole transaction is undone.
			return err
		}
		if _, rerr := t.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); rerr != nil {
			if t.rolledBack != nil {
				return t.rolledBack
			}
			// The savepoint is gone, so is the transaction it was in.
			return t.abort("undoing the failed part failed: "+rerr.Error(), err)
		}
		_, _ = t.ExecContext(ctx, "RELEASE SAVEPOINT "+name)
		return err
	}
	_, err = t.ExecContext(ctx, "RELEASE SAVEPOINT "+name)
	return err
}

// Commit fails once the server rolled the transaction back.
func (t *sqlTx) Commit() error {
	if t.rolledBack != nil {
		return t.rolledBack
	}
	return t.check(t.Tx.Commit())
}

// Rollback after the server rolled the transaction back has nothing left
// to do.
func (t *sqlTx) Rollback() error {
	if t.rolledBack != nil {
		return nil
	}
	return t.Tx.Rollback()
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
