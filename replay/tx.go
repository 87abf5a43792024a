package replay

// The state's transactions: the one file of replay that knows the state and
// the journal are SQL databases. Everything else goes through stateTx,
// inStateTx and inJournalTx (the integrator swaps this file to the
// localstate transaction seam).

import (
	"context"
	"database/sql"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
)

// stateTx is one transaction of the state database that also holds the
// journal: the changes and the journal rows written in it commit together.
type stateTx interface {
	// Apply writes changes to the state.
	Apply(ctx context.Context, changes []localstate.Change) error
	// Journal is the journal's querier inside the same transaction.
	Journal() journal.Querier
	// Savepoint runs fn so that a failure undoes only fn's writes.
	Savepoint(ctx context.Context, fn func() error) error
}

// sharesTx reports whether store's writes and the journal's rows can commit
// in one transaction: the journal lives in the state's own database.
func sharesTx(store localstate.Store, journalInState bool) bool {
	_, ok := store.(localstate.TxStore)
	return ok && journalInState
}

// inStateTx runs fn in one transaction of store (sharesTx said yes): fn's
// error rolls it all back.
func inStateTx(ctx context.Context, store localstate.Store, fn func(stateTx) error) error {
	txs := store.(localstate.TxStore)
	return inTx(ctx, txs.DB(), func(tx *sql.Tx) error {
		return fn(&sqlStateTx{store: txs, tx: tx})
	})
}

// inJournalTx runs fn in one transaction of the journal's database.
func inJournalTx(ctx context.Context, j *journal.Journal, fn func(journal.Querier) error) error {
	return inTx(ctx, j.DB(), func(tx *sql.Tx) error { return fn(tx) })
}

type sqlStateTx struct {
	store localstate.TxStore
	tx    *sql.Tx
}

func (t *sqlStateTx) Apply(ctx context.Context, changes []localstate.Change) error {
	return t.store.ApplyTx(ctx, t.tx, changes)
}

func (t *sqlStateTx) Journal() journal.Querier { return t.tx }

func (t *sqlStateTx) Savepoint(ctx context.Context, fn func() error) error {
	return withSavepoint(ctx, t.tx, fn)
}

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

// withSavepoint runs fn so that a failure undoes only fn's writes.
func withSavepoint(ctx context.Context, tx *sql.Tx, fn func() error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT reconctl_event"); err != nil {
		return err
	}
	if err := fn(); err != nil {
		_, _ = tx.ExecContext(ctx, "ROLLBACK TO reconctl_event")
		_, _ = tx.ExecContext(ctx, "RELEASE reconctl_event")
		return err
	}
	_, err := tx.ExecContext(ctx, "RELEASE reconctl_event")
	return err
}
