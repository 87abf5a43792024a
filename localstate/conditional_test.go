package localstate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
)

// TestConditionalReadLocks: on a server, the conditional read of an apply
// locks the rows it checks until the commit, so the app cannot change a row
// between its check and its write: here a second session asking for the row
// with NOWAIT is refused while the transaction is open, and gets it after
// the commit.
func TestConditionalReadLocks(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			db := servertest.New(t, kind)
			db.Exec(t, `CREATE TABLE plain (id VARCHAR(64) PRIMARY KEY, v VARCHAR(64)); INSERT INTO plain VALUES ('p1', 'one')`)
			st, err := localstate.Open(ctx, db.DSN, localstate.OpenOptions{})
			if err != nil {
				if strings.Contains(err.Error(), "not supported yet") {
					t.Skip(err)
				}
				t.Fatal(err)
			}
			defer st.Close()
			tbl := &localstate.Table{Resource: "plain"}
			tx, err := st.Features().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			// A change whose condition fails writes nothing: only the check
			// can have locked the row.
			e := &localstate.Expect{Columns: []string{"v"}, Match: func([]any) string { return "changed" }}
			if err := tx.Apply(ctx, []localstate.Change{{Table: tbl, Op: localstate.OpUpdate, Key: "p1", Values: map[string]any{"v": "uno"}, Expect: e}}); err != nil {
				t.Fatal(err)
			}
			if e.Conflict != "changed" {
				t.Fatalf("Conflict = %q", e.Conflict)
			}
			app, err := db.SQL.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
			lock := `SELECT v FROM plain WHERE id = 'p1' FOR UPDATE NOWAIT`
			if _, err := app.ExecContext(ctx, lock); err == nil {
				t.Fatal("the app locked the row the apply checked while the apply was open")
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if _, err := app.ExecContext(ctx, lock); err != nil {
				t.Fatalf("after the commit: %v", err)
			}
		})
	}
}
