package localstate_test

import (
	"context"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/localstate/storetest"
)

// pgFixture is a fresh database holding f, and its DSN.
func pgFixture(t *testing.T, f storetest.Fixture) *servertest.DB {
	t.Helper()
	db := servertest.New(t, "postgres")
	f.WritePostgres(t, db.SQL)
	return db
}

func openPGStore(t *testing.T, dsn string, opts localstate.OpenOptions) localstate.Store {
	t.Helper()
	st, err := localstate.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, f storetest.Fixture, readOnly bool) localstate.Store {
		db := pgFixture(t, f)
		st, err := localstate.Open(context.Background(), db.DSN, localstate.OpenOptions{ReadOnly: readOnly})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}
