package localstate_test

import (
	"context"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/localstate/storetest"
)

// openMySQLFixture is the storetest Opener for MariaDB/MySQL: a fresh
// database holding the fixture.
func openMySQLFixture(t *testing.T, f storetest.Fixture, readOnly bool) localstate.Store {
	t.Helper()
	db := servertest.New(t, "mysql")
	f.WriteMySQL(t, db.SQL)
	st, err := localstate.Open(context.Background(), db.DSN, localstate.OpenOptions{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestMySQLConformance(t *testing.T) { storetest.Run(t, openMySQLFixture) }
