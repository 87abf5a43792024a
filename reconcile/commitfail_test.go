package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

// txStore is a memStore with transactions whose Commit fails with commitErr.
type txStore struct {
	*memStore
	commitErr error
}

func (s *txStore) Features() localstate.Features {
	return localstate.Features{Begin: func(context.Context) (localstate.Tx, error) { return &failTx{s: s}, nil }}
}

type failTx struct {
	localstate.Tx // unused methods
	s             *txStore
}

func (t *failTx) Apply(ctx context.Context, c []localstate.Change) error { return nil }
func (t *failTx) Commit() error                                          { return t.s.commitErr }
func (t *failTx) Rollback() error                                        { return nil }

// A COMMIT of unknown outcome is reported as such, never "rolled back";
// a lost writer lock before the commit says nothing was written once.
func TestApplyCommitUnknownAndLockLost(t *testing.T) {
	p, ms := fixture()
	s := &txStore{memStore: ms, commitErr: &localstate.CommitUnknownError{Location: "postgres://db/app", Err: errors.New("EOF")}}
	e, res := compare(t, p, s, customersTable(), ModeDiff)
	err := e.Apply(context.Background(), res)
	if err == nil || !strings.Contains(err.Error(), "may or may not be in the state; run diff to see") || strings.Contains(err.Error(), "rolled back") {
		t.Errorf("commit of unknown outcome: %v", err)
	}
	p, ms = fixture()
	s = &txStore{memStore: ms}
	e, res = compare(t, p, s, customersTable(), ModeDiff)
	e.BeforeCommit = func(context.Context, localstate.Tx, *Result) error {
		return &localstate.LockLostError{Location: "postgres://db/app", Resource: "users"}
	}
	err = e.Apply(context.Background(), res)
	if err == nil || strings.Count(err.Error(), "nothing was written") != 1 || !strings.Contains(err.Error(), "was lost (its session ended)") {
		t.Errorf("lock lost before commit: %v", err)
	}
	for _, d := range res.Drift {
		if d.Applied {
			t.Errorf("drift marked applied after the lock was lost: %+v", d)
		}
	}
}
