package journal

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

// The replay seam (issue #13): the journal writes its rows through the state
// store's own transaction (localstate.Tx), one savepoint per event; a failed
// event's writes and journal rows are undone together, the rest commit
// together. Nothing here drives *sql.Tx.
func TestJournalThroughStateTx(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	if err := localstate.CreateSQLite(ctx, path, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT); INSERT INTO users VALUES ('cus_1', 'a@example.com'), ('cus_2', 'b@example.com')`); err != nil {
		t.Fatal(err)
	}
	j, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	st, err := localstate.Open(ctx, path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "email", Path: "email"}}}
	if _, err := st.Columns(ctx, users); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tx, err := st.Features().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	event := func(id, key, email string, fail error) error {
		return tx.Savepoint(ctx, func() error {
			if err := tx.Apply(ctx, []localstate.Change{{Table: users, Op: localstate.OpUpdate, Key: key, Values: map[string]any{"email": email}}}); err != nil {
				return err
			}
			if err := j.RecordEvent(ctx, tx, EventRow{Provider: "stripe", EventID: id, RunID: "r_1", Type: "customer.updated", Created: created, Outcome: OutcomeApplied}); err != nil {
				return err
			}
			return fail
		})
	}
	boom := errors.New("event 1 fails after its writes")
	if err := event("evt_1", "cus_1", "x@example.com", boom); !errors.Is(err, boom) {
		t.Fatalf("event 1: %v", err)
	}
	if err := event("evt_2", "cus_2", "y@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := j.EventProcessed(ctx, nil, "stripe", "", "evt_1"); found {
		t.Error("the failed event's journal row committed")
	}
	if _, found, _ := j.EventProcessed(ctx, nil, "stripe", "", "evt_2"); !found {
		t.Error("event 2's journal row did not commit")
	}
	row, _, err := st.Get(ctx, users, []string{"email"}, "cus_1")
	if err != nil || row.Values[0] != "a@example.com" {
		t.Errorf("cus_1 after the failed event: %v %v", row.Values, err)
	}
	row, _, err = st.Get(ctx, users, []string{"email"}, "cus_2")
	if err != nil || row.Values[0] != "y@example.com" {
		t.Errorf("cus_2: %v %v", row.Values, err)
	}
}

// Journal.Begin: the same seam over the journal's own file (a journal beside
// a JSON snapshot); its Apply refuses, as it holds no state.
func TestJournalBegin(t *testing.T) { eachKind(t, testJournalBegin) }

func testJournalBegin(t *testing.T, j *Journal) {
	ctx := context.Background()
	tx, err := j.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.Apply(ctx, []localstate.Change{{Op: localstate.OpDelete, Key: "x"}}); !errors.Is(err, localstate.ErrNoTx) {
		t.Errorf("Apply on a journal transaction: want ErrNoTx, got %v", err)
	}
	created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	_ = tx.Savepoint(ctx, func() error {
		if err := j.RecordEvent(ctx, tx, EventRow{Provider: "stripe", EventID: "evt_a", RunID: "r_1", Created: created, Outcome: OutcomeApplied}); err != nil {
			t.Fatal(err)
		}
		return errors.New("undo evt_a")
	})
	// A savepoint whose fn succeeds is released (MySQL needs RELEASE SAVEPOINT).
	must(t, tx.Savepoint(ctx, func() error {
		return j.RecordEvent(ctx, tx, EventRow{Provider: "stripe", EventID: "evt_b", RunID: "r_1", Created: created, Outcome: OutcomeApplied})
	}))
	if err := j.RecordVersions(ctx, tx, []VersionRow{{Provider: "stripe", Resource: "customers", ObjectID: "cus_1", At: created, Source: "t"}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := j.EventProcessed(ctx, nil, "stripe", "", "evt_b"); !found {
		t.Error("the released savepoint's event did not commit")
	}
	if _, found, _ := j.EventProcessed(ctx, nil, "stripe", "", "evt_a"); found {
		t.Error("the rolled-back savepoint's event committed")
	}
	if _, _, found, _ := j.Version(ctx, nil, "stripe", "customers", "cus_1"); !found {
		t.Error("the version written after the savepoint did not commit")
	}
}

// The journal in the state's own database, on each kind: its rows written
// on a transaction of that database (here a localstate.Tx from OpenDB's
// Begin, standing in for the store's) roll back with a failed write and
// commit with a good one.
func TestJournalRowsFollowTheWriteTx(t *testing.T) { eachKind(t, testJournalRowsFollowTheWriteTx) }

func testJournalRowsFollowTheWriteTx(t *testing.T, j *Journal) {
	ctx := context.Background()
	must(t, execq(ctx, j, `CREATE TABLE users (id VARCHAR(20) PRIMARY KEY, email VARCHAR(100))`))
	must(t, execq(ctx, j, `INSERT INTO users (id, email) VALUES ('cus_1', 'a@example.com')`))
	db, err := localstate.OpenDB(ctx, j.Path(), localstate.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Kind() != j.Kind() {
		t.Fatalf("kinds %s and %s", db.Kind(), j.Kind())
	}
	must(t, j.StartRun(ctx, Run{ID: "r_1", Command: "resync"}))
	created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	rep := &reconcile.Report{Command: "resync", RunID: "r_1", Drift: []reconcile.Drift{{Resource: "customers", ID: "cus_1", Kind: reconcile.KindChanged, Action: reconcile.ActionUpdate, Applied: true}}}
	write := func(tx localstate.Tx, email string) error {
		if _, err := tx.ExecContext(ctx, j.d.bind(`UPDATE users SET email = ? WHERE id = ?`), email, "cus_1"); err != nil {
			return err
		}
		if err := j.RecordApplied(ctx, tx, "r_1", rep, []byte(`{"applied":1}`)); err != nil {
			return err
		}
		if err := j.RecordVersion(ctx, tx, "stripe", "customers", "cus_1", created, "", "resync r_1"); err != nil {
			return err
		}
		return j.RecordEvent(ctx, tx, EventRow{Provider: "stripe", EventID: "evt_1", RunID: "r_1", Created: created, Outcome: OutcomeApplied})
	}
	// The write fails after the journal rows: all of it rolls back.
	err = localstate.InTx(ctx, db.Begin, func(tx localstate.Tx) error {
		if err := write(tx, "x@example.com"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email) VALUES ('cus_1', 'dup')`)
		return err
	})
	if err == nil {
		t.Fatal("the duplicate insert succeeded")
	}
	if d, _ := j.RunDrift(ctx, "r_1"); len(d) != 0 {
		t.Errorf("%d drift rows survived the rollback", len(d))
	}
	if _, got, _ := j.GetRun(ctx, "r_1"); got != nil {
		t.Errorf("report survived the rollback: %s", got)
	}
	if _, found, _ := j.EventProcessed(ctx, nil, "stripe", "", "evt_1"); found {
		t.Error("event row survived the rollback")
	}
	if _, _, found, _ := j.Version(ctx, nil, "stripe", "customers", "cus_1"); found {
		t.Error("version row survived the rollback")
	}
	var email string
	if err := j.DB().QueryRowContext(ctx, `SELECT email FROM users WHERE id = 'cus_1'`).Scan(&email); err != nil || email != "a@example.com" {
		t.Errorf("users.email = %q (%v)", email, err)
	}
	// The same write that succeeds commits the rows with it.
	must(t, localstate.InTx(ctx, db.Begin, func(tx localstate.Tx) error { return write(tx, "y@example.com") }))
	if d, _ := j.RunDrift(ctx, "r_1"); len(d) != 1 || !d[0].Applied {
		t.Errorf("drift after the commit: %+v", d)
	}
	if _, found, _ := j.EventProcessed(ctx, nil, "stripe", "", "evt_1"); !found {
		t.Error("event row did not commit")
	}
}
