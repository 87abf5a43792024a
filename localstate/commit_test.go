package localstate_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
)

const commitUnknown = "the connection was lost while committing: the writes may or may not be in the state; run diff to see"

// A COMMIT whose connection is lost may or may not have committed: Apply
// says so, never "rolled back, nothing was written". The session ends
// inside COMMIT itself: a deferred trigger terminates its own backend.
func TestCommitLostApplyUnknown(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE t (id text PRIMARY KEY, v text);
		CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER die AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION die()`)
	st, err := localstate.Open(ctx, db.DSN, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tb := &localstate.Table{Resource: "t"}
	err = st.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpCreate, Key: "k1", Values: map[string]any{"v": "x"}}})
	var ue *localstate.CommitUnknownError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), commitUnknown) || strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("Apply whose COMMIT lost its session: %v", err)
	}
}

// The same through the Tx seam (the engine's and replay's transactions):
// the transaction's session is killed, then Commit.
func TestCommitLostTxUnknown(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			db := servertest.New(t, kind)
			db.Exec(t, "CREATE TABLE t (id VARCHAR(16) PRIMARY KEY, v TEXT)")
			st, err := localstate.Open(ctx, db.DSN, localstate.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tx, err := st.Features().Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tb := &localstate.Table{Resource: "t"}
			if err := tx.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpCreate, Key: "k1", Values: map[string]any{"v": "x"}}}); err != nil {
				t.Fatal(err)
			}
			var sess int64
			q, kill := "SELECT CONNECTION_ID()", "KILL "
			if kind == "postgres" {
				q, kill = "SELECT pg_backend_pid()", "SELECT pg_terminate_backend("
			}
			if err := tx.QueryRowContext(ctx, q).Scan(&sess); err != nil {
				t.Fatal(err)
			}
			stmt := kill + strconv.FormatInt(sess, 10)
			if kind == "postgres" {
				stmt += ")"
			}
			db.Exec(t, stmt)
			err = tx.Commit()
			var ue *localstate.CommitUnknownError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), commitUnknown) {
				t.Errorf("Commit on a lost session: %v", err)
			}
		})
	}
}
