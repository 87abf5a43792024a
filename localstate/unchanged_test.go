package localstate_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/reconctl/reconctl/localstate"

	_ "modernc.org/sqlite"
)

// TestSQLiteUnchangedSkipsRecheck: a SQLite store's write transaction
// skips re-reading the rows of conditional changes derived from its own
// reads (Expect.FromReads) when no connection committed anything since the
// store opened (data_version on the writer's connection), and re-reads them
// otherwise: an app write between the scan and the apply is still a
// conflict; a change not FromReads, and any apply after the store's own
// first write, are checked as before.
func TestSQLiteUnchangedSkipsRecheck(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	if err := localstate.CreateSQLite(ctx, path,
		`CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT)`,
		`INSERT INTO users VALUES ('u1', 'a@x'), ('u2', 'b@x'), ('u3', 'c@x')`,
	); err != nil {
		t.Fatal(err)
	}
	tbl := &localstate.Table{Resource: "users", Name: "users", Key: "id"}
	checks := 0
	defer localstate.SetAfterCheckHook(func() { checks++ })()

	// scan reads the rows as the engine does; expect is an update's
	// condition on what it read: the email it saw.
	scan := func(st localstate.Store) map[string]string {
		seen := map[string]string{}
		if err := st.Scan(ctx, tbl, []string{"email"}, func(r localstate.Row) error {
			seen[r.Key] = r.Values[0].(string)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return seen
	}
	matches := 0
	expect := func(was string, fromReads bool) *localstate.Expect {
		return &localstate.Expect{Columns: []string{"email"}, FromReads: fromReads, Match: func(now []any) string {
			matches++
			if now[0] != was {
				return "moved"
			}
			return ""
		}}
	}
	email := func(id string) string {
		db, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var e sql.NullString
		if err := db.QueryRow(`SELECT email FROM users WHERE id = ?`, id).Scan(&e); err != nil && err != sql.ErrNoRows {
			t.Fatal(err)
		}
		return e.String
	}
	open := func() localstate.Store {
		st, err := localstate.Open(ctx, path, localstate.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	t.Run("nobody wrote: no re-read", func(t *testing.T) {
		st := open()
		defer st.Close()
		seen := scan(st)
		checks, matches = 0, 0
		upd := expect(seen["u1"], true)
		create := &localstate.Expect{Absent: true, FromReads: true}
		tx, err := st.Features().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.Apply(ctx, []localstate.Change{
			{Table: tbl, Op: localstate.OpUpdate, Key: "u1", Values: map[string]any{"email": "a1@x"}, Expect: upd},
			{Table: tbl, Op: localstate.OpCreate, Key: "u9", Values: map[string]any{"email": "n@x"}, Expect: create},
		}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if checks != 0 || matches != 0 {
			t.Errorf("re-read %d times, Match called %d times; want none", checks, matches)
		}
		if upd.Conflict != "" || create.Conflict != "" || email("u1") != "a1@x" || email("u9") != "n@x" {
			t.Errorf("conflicts %q %q, rows u1=%q u9=%q", upd.Conflict, create.Conflict, email("u1"), email("u9"))
		}

		// The store wrote since it opened: its own writes do not move
		// data_version, so the next apply checks again.
		checks = 0
		again := expect(seen["u2"], true)
		if err := st.Apply(ctx, []localstate.Change{{Table: tbl, Op: localstate.OpUpdate, Key: "u2", Values: map[string]any{"email": "b1@x"}, Expect: again}}); err != nil {
			t.Fatal(err)
		}
		if checks != 1 || again.Conflict != "" {
			t.Errorf("after the store's own write: re-read %d times (want 1), conflict %q", checks, again.Conflict)
		}
	})

	t.Run("the app wrote: still a conflict", func(t *testing.T) {
		st := open()
		defer st.Close()
		seen := scan(st)
		app, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		if _, err := app.Exec(`UPDATE users SET email = 'app@x' WHERE id = 'u3'; INSERT INTO users VALUES ('u8', 'app8@x')`); err != nil {
			t.Fatal(err)
		}
		checks, matches = 0, 0
		upd := expect(seen["u3"], true)
		create := &localstate.Expect{Absent: true, FromReads: true}
		if err := st.Apply(ctx, []localstate.Change{
			{Table: tbl, Op: localstate.OpUpdate, Key: "u3", Values: map[string]any{"email": "c1@x"}, Expect: upd},
			{Table: tbl, Op: localstate.OpCreate, Key: "u8", Values: map[string]any{"email": "p8@x"}, Expect: create},
		}); err != nil {
			t.Fatal(err)
		}
		if checks != 1 || upd.Conflict != "moved" || create.Conflict != localstate.ReasonInserted {
			t.Errorf("re-read %d times (want 1), conflicts %q %q", checks, upd.Conflict, create.Conflict)
		}
		if email("u3") != "app@x" || email("u8") != "app8@x" {
			t.Errorf("the app's rows were overwritten: u3=%q u8=%q", email("u3"), email("u8"))
		}
	})

	t.Run("not from reads: checked", func(t *testing.T) {
		st := open()
		defer st.Close()
		checks, matches = 0, 0
		upd := expect("not what the row holds", false)
		if err := st.Apply(ctx, []localstate.Change{{Table: tbl, Op: localstate.OpUpdate, Key: "u1", Values: map[string]any{"email": "x@x"}, Expect: upd}}); err != nil {
			t.Fatal(err)
		}
		if checks != 1 || matches != 1 || upd.Conflict != "moved" || email("u1") != "a1@x" {
			t.Errorf("re-read %d, Match %d, conflict %q, u1=%q", checks, matches, upd.Conflict, email("u1"))
		}
	})
}
