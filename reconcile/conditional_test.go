package reconcile

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"

	_ "modernc.org/sqlite"
)

// TestConditionalApply: rows the app writes between the comparison and the
// apply are not overwritten; their drift items are conflicts with a reason,
// the summary counts them, and every other fix is applied.
func TestConditionalApply(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	if err := localstate.CreateSQLite(ctx, path,
		`CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, plan TEXT, amount REAL)`,
		`INSERT INTO users VALUES ('cus_1','a@x','free',10.5), ('cus_2','b@x','free',1), ('cus_3','c@x','free',1), ('cus_gone','g@x','free',1), ('cus_gone2','h@x','free',1)`,
	); err != nil {
		t.Fatal(err)
	}
	store, err := localstate.Open(ctx, path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p := &memProvider{records: map[string][]providers.Record{"customers": {
		rec("cus_1", `{"email":"a@x","plan":"pro","amount":"10.50"}`), // update plan: the app changes amount's spelling only
		rec("cus_2", `{"email":"b@x","plan":"pro","amount":1}`),       // update plan: the app changes the email
		rec("cus_3", `{"email":"c@x","plan":"pro","amount":1}`),       // update plan: untouched
		rec("cus_new", `{"email":"n@x","plan":"team","amount":1}`),    // create: the app inserts it first
		rec("cus_new2", `{"email":"m@x","plan":"team","amount":1}`),   // create: nobody else
	}}, gets: map[string]providers.RemoteStatus{"cus_gone": providers.StatusDeleted, "cus_gone2": providers.StatusDeleted}}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{
		{Column: "email", Path: "email"}, {Column: "plan", Path: "plan"}, {Column: "amount", Path: "amount", Compare: localstate.CompareNumber}}}
	e, res := compare(t, p, store, tbl, ModeDiff)

	app, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, err := app.Exec(`UPDATE users SET amount = '10.50' WHERE id = 'cus_1';
		UPDATE users SET email = 'b2@x' WHERE id = 'cus_2';
		INSERT INTO users VALUES ('cus_new', 'app@x', 'app', 2);
		UPDATE users SET plan = 'app' WHERE id = 'cus_gone2'`); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ctx, res); err != nil {
		t.Fatal(err)
	}
	got := map[string]Drift{}
	for _, d := range res.Drift {
		got[d.ID] = d
	}
	for id, want := range map[string]string{
		"cus_1": "", "cus_3": "", "cus_new2": "", "cus_gone": "",
		"cus_2":     "local row changed since it was read: plan=b@x now=b2@x (column email)",
		"cus_new":   localstate.ReasonInserted,
		"cus_gone2": "local row changed since it was read",
	} {
		d := got[id]
		if d.Conflict != (want != "") || d.Reason != want || d.Applied != (want == "") {
			t.Errorf("%s: applied %v conflict %v reason %q; want reason %q", id, d.Applied, d.Conflict, d.Reason, want)
		}
	}
	s := res.Summaries()["customers"]
	if s.Conflicts != 3 || s.Applied != 4 || s.Unresolved != 3 {
		t.Errorf("summary: %+v, want 3 conflicts, 4 applied, 3 unresolved", *s)
	}
	rows, err := app.Query(`SELECT id, email, plan FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, email, plan string
		if err := rows.Scan(&id, &email, &plan); err != nil {
			t.Fatal(err)
		}
		b.WriteString(id + "," + email + "," + plan + ";")
	}
	want := "cus_1,a@x,pro;cus_2,b2@x,free;cus_3,c@x,pro;cus_gone2,h@x,app;cus_new,app@x,app;cus_new2,m@x,team;"
	if b.String() != want {
		t.Errorf("rows:\n got %s\nwant %s", b.String(), want)
	}
}

// TestConditionsFromReads: every condition the engine puts on a write is
// what its reads of the store returned (Expect.FromReads), so a store that
// can tell nothing was written since (SQLite's data_version) may hold it
// without reading the row again; an app write in between is still a
// conflict (TestConditionalApply).
func TestConditionsFromReads(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	if err := localstate.CreateSQLite(ctx, path,
		`CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT)`,
		`INSERT INTO users VALUES ('cus_1','a@x')`,
	); err != nil {
		t.Fatal(err)
	}
	store, err := localstate.Open(ctx, path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p := &memProvider{records: map[string][]providers.Record{"customers": {
		rec("cus_1", `{"email":"b@x"}`), rec("cus_2", `{"email":"c@x"}`),
	}}}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "email", Path: "email"}}}
	_, res := compare(t, p, store, tbl, ModeDiff)
	changes := res.Changes()
	if len(changes) != 2 {
		t.Fatalf("%d changes, want an update and a create", len(changes))
	}
	for _, c := range changes {
		if c.Expect == nil || !c.Expect.FromReads {
			t.Errorf("%s %s: Expect %+v, want FromReads", c.Op, c.Key, c.Expect)
		}
	}
}
