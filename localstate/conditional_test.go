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

// TestConditionalCreateNoUniqueKey: on a server table whose key has no
// unique index, a conditional create whose check found no row, and that
// meets a row the app inserted between the check and the write, does not
// overwrite it: a conflict (Postgres lets the insert through; MySQL's
// next-key locks of the checking read make the app wait, so only Postgres
// can show the window).
func TestConditionalCreateNoUniqueKey(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE nokey (id VARCHAR(64), v VARCHAR(64)); INSERT INTO nokey VALUES ('k0', 'zero')`)
	st, err := localstate.Open(ctx, db.DSN, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var hookErr error
	defer localstate.SetAfterCheckHook(func() {
		_, hookErr = db.SQL.ExecContext(ctx, `INSERT INTO nokey VALUES ('k1', 'app')`)
	})()
	tbl := &localstate.Table{Resource: "nokey"}
	raced, plain := &localstate.Expect{Absent: true}, &localstate.Expect{Absent: true}
	if err := st.Apply(ctx, []localstate.Change{
		{Table: tbl, Op: localstate.OpCreate, Key: "k1", Values: map[string]any{"v": "provider"}, Expect: raced},
		{Table: tbl, Op: localstate.OpCreate, Key: "k2", Values: map[string]any{"v": "two"}, Expect: plain},
	}); err != nil {
		t.Fatal(err)
	}
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if raced.Conflict != localstate.ReasonInserted || plain.Conflict != "" {
		t.Errorf("conflicts %q, %q; want %q, none", raced.Conflict, plain.Conflict, localstate.ReasonInserted)
	}
	rows, err := db.SQL.QueryContext(ctx, `SELECT id, v FROM nokey ORDER BY id, v`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+"="+v)
	}
	if want := "k0=zero k1=app k2=two"; strings.Join(got, " ") != want {
		t.Errorf("rows %v, want %s", got, want)
	}
}
