package commands

import (
	"sync"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

type closeStore struct {
	localstate.Store
	closed *int
}

func (c closeStore) Close() error { *c.closed++; return nil }

// A tenant's replay holds its apply turn from the store's opening to its
// closing (its chunks, journal rows and checkpoint), and gives it back once
// however often the store is closed.
func TestTurnStore(t *testing.T) {
	a := &tenantAgg{}
	closed := 0
	inner := closeStore{Store: kindStore{kind: localstate.KindSQLite}, closed: &closed}
	st := &turnStore{Store: inner, done: sync.OnceFunc(a.applyTurn(inner))}
	if a.applyMu.TryLock() {
		t.Fatal("another tenant's apply got the turn while a replay's store was open")
	}
	if err := st.Close(); err != nil || closed != 1 {
		t.Fatalf("Close: %v, inner closed %d times", err, closed)
	}
	if !a.applyMu.TryLock() {
		t.Fatal("closing the store did not give the turn back")
	}
	st.Close() // a second close must not unlock the turn someone else now holds
	if a.applyMu.TryLock() {
		t.Fatal("a second Close gave back a turn it did not hold")
	}
	a.applyMu.Unlock()
}
