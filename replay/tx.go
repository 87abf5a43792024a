package replay

// The state's transactions, through the localstate seam: replay never drives
// database/sql itself.

import (
	"context"

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
	return store.Features().Begin != nil && journalInState
}

// inStateTx runs fn in one transaction of store (sharesTx said yes): fn's
// error rolls it all back, and so does env.CheckLock's right before the
// commit.
func inStateTx(ctx context.Context, env *Env, store localstate.Store, fn func(stateTx) error) error {
	return localstate.InTx(ctx, store.Features().Begin, func(tx localstate.Tx) error {
		if err := fn(seamTx{tx}); err != nil {
			return err
		}
		return env.checkLock(ctx)
	})
}

// checkLock is env.CheckLock (nil: nothing to check).
func (env *Env) checkLock(ctx context.Context) error {
	if env.CheckLock == nil {
		return nil
	}
	return env.CheckLock(ctx)
}

// inJournalTx runs fn in one transaction of the journal's database.
func inJournalTx(ctx context.Context, j *journal.Journal, fn func(journal.Querier) error) error {
	return localstate.InTx(ctx, j.Begin, func(tx localstate.Tx) error { return fn(tx) })
}

// seamTx is a localstate.Tx seen as a stateTx: the journal's querier is the
// transaction itself.
type seamTx struct{ localstate.Tx }

func (t seamTx) Journal() journal.Querier { return t.Tx }
