package journal

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
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
func TestJournalBegin(t *testing.T) {
	ctx := context.Background()
	j := newJournal(t)
	tx, err := j.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
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
	if err := j.RecordVersions(ctx, tx, []VersionRow{{Provider: "stripe", Resource: "customers", ObjectID: "cus_1", At: created, Source: "t"}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := j.EventProcessed(ctx, nil, "stripe", "", "evt_a"); found {
		t.Error("the rolled-back savepoint's event committed")
	}
	if _, _, found, _ := j.Version(ctx, nil, "stripe", "customers", "cus_1"); !found {
		t.Error("the version written after the savepoint did not commit")
	}
}
