package localstate_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
)

// TestPostgresApplyReusesStatements: the Applies of one transaction (the
// engine writes a large plan in chunks) prepare each statement once and
// reuse it: after the first chunk its statements are still prepared in the
// session, and the second chunk of the same shape prepares none.
func TestPostgresApplyReusesStatements(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE users (id text PRIMARY KEY, email text, plan text)`)
	db.Exec(t, `INSERT INTO users SELECT 'cus_' || i, 'u' || i || '@x', 'free' FROM generate_series(1, 600) AS i`)
	st := openPGStore(t, db.DSN, localstate.OpenOptions{})
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "email", Path: "email"}, {Column: "plan", Path: "plan"}}}
	chunk := func(from int) []localstate.Change {
		var out []localstate.Change
		for i := from; i < from+300; i++ {
			out = append(out, localstate.Change{Table: tbl, Op: localstate.OpUpdate, Key: fmt.Sprintf("cus_%d", i),
				Values: map[string]any{"email": fmt.Sprintf("n%d@x", i), "plan": "pro"}})
		}
		return out
	}
	tx, err := st.Features().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	prepared := func() int {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'UPDATE %'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := tx.Apply(ctx, chunk(1)); err != nil {
		t.Fatal(err)
	}
	first := prepared()
	if first == 0 {
		t.Fatal("the first Apply's statements were closed: the next chunk prepares them again")
	}
	if err := tx.Apply(ctx, chunk(301)); err != nil {
		t.Fatal(err)
	}
	if n := prepared(); n != first {
		t.Errorf("the second Apply of the same shape left %d UPDATE statements prepared, the first %d: want it to reuse them", n, first)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE plan = 'pro' AND email LIKE 'n%'`).Scan(&n); err != nil || n != 600 {
		t.Fatalf("%d rows written (%v), want 600", n, err)
	}
}
