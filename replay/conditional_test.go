package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

var t0 = time.Date(2026, 1, 1, 10, 0, 0, 500e6, time.UTC) // 10:00:00.500

// replayState is a SQLite state with users(id, plan, updated_at) holding
// rows, and its compiled mapping (updated_at mapped when upd).
func replayState(t *testing.T, upd bool, rows ...string) (localstate.Store, *eventTable) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	script := []string{"CREATE TABLE users (id TEXT PRIMARY KEY, plan TEXT, updated_at TEXT)"}
	script = append(script, rows...)
	if err := localstate.CreateSQLite(ctx, path, script...); err != nil {
		t.Fatal(err)
	}
	st, err := localstate.Open(ctx, path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "plan", Path: "plan"}}}
	if upd {
		tbl.UpdatedAt = "updated_at"
	}
	res, err := (&reconcile.Engine{Store: st}).Prepare(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	return st, &eventTable{table: tbl, res: res}
}

func event(id string, at time.Time, plan string) providers.Event {
	return providers.Event{ID: "evt_" + plan, Type: "customer.updated", Created: at, Resource: "customers", ObjectID: id, Object: map[string]any{"id": id, "plan": plan}}
}

// applyEvent writes e as replay does (its change planned from the state as
// it is now, unless ch is given) and returns why it was not applied.
func applyEvent(t *testing.T, st localstate.Store, ch *localstate.Change) string {
	t.Helper()
	if err := st.Apply(context.Background(), []localstate.Change{*ch}); err != nil {
		t.Fatal(err)
	}
	return conflict(ch)
}

func planEvent(t *testing.T, st localstate.Store, et *eventTable, e providers.Event) *localstate.Change {
	t.Helper()
	ch, err := eventChange(context.Background(), st, existence{}, et, e, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func row(t *testing.T, st localstate.Store, et *eventTable, id string) []any {
	t.Helper()
	r, ok, err := st.Get(context.Background(), et.table, []string{"plan", "updated_at"}, id)
	if err != nil || !ok {
		t.Fatalf("row %s: found %v, %v", id, ok, err)
	}
	return r.Values
}

// TestReplayGuardPrecision: the updated_at guard compares at the column's
// precision, and an applied event's updated_at keeps its fraction: an
// event 300 ms newer than the row applies, one 300 ms older does not (also
// against the row the newer event just wrote, in the same second).
func TestReplayGuardPrecision(t *testing.T) {
	st, et := replayState(t, true, "INSERT INTO users VALUES ('cus_1', 'app', '2026-01-01T10:00:00.5Z')")
	if why := applyEvent(t, st, planEvent(t, st, et, event("cus_1", t0.Add(-300*time.Millisecond), "older"))); why == "" {
		t.Error("an event 300 ms older than the row was applied")
	}
	if why := applyEvent(t, st, planEvent(t, st, et, event("cus_1", t0.Add(300*time.Millisecond), "newer"))); why != "" {
		t.Errorf("an event 300 ms newer than the row was not applied: %s", why)
	}
	if got := row(t, st, et, "cus_1"); got[0] != "newer" || !sameInstant(got[1], t0.Add(300*time.Millisecond)) {
		t.Errorf("row %v, want newer at 10:00:00.8 (the event's time, not truncated to the second)", got)
	}
	// The app writes the row at .900; an event at .600 is older than that.
	if err := st.Apply(context.Background(), []localstate.Change{{Table: et.table, Op: localstate.OpUpdate, Key: "cus_1", Values: map[string]any{"plan": "app2", "updated_at": "2026-01-01T10:00:00.9Z"}}}); err != nil {
		t.Fatal(err)
	}
	why := applyEvent(t, st, planEvent(t, st, et, event("cus_1", t0.Add(100*time.Millisecond), "late")))
	if want := "the local row is newer than the event (updated_at 2026-01-01T10:00:00.9Z, event 2026-01-01T10:00:00.6Z): not overwritten"; why != want {
		t.Errorf("reason %q, want %q", why, want)
	}

	// Finer and coarser columns than milliseconds.
	us := t0.Add(400 * time.Microsecond) // a Postgres timestamptz: microseconds
	for _, c := range []struct {
		local any
		at    time.Time
		stale bool
	}{
		{us, t0.Add(100 * time.Microsecond), true},                                                        // 300 µs older: same millisecond
		{us, t0.Add(700 * time.Microsecond), false},                                                       // 300 µs newer
		{localstate.Time{T: t0.Truncate(time.Second), Digits: 0}, t0.Add(-200 * time.Millisecond), false}, // 10:00:00.300 in the stored second
		{localstate.Time{T: t0.Truncate(time.Second), Digits: 0}, t0.Add(-800 * time.Millisecond), true},  // 09:59:59.700: the second before
		{localstate.Time{T: t0.Truncate(10 * time.Millisecond), Digits: 2}, t0.Add(-3 * time.Millisecond), true},
	} {
		ch := &localstate.Change{Op: localstate.OpUpdate}
		guard(ch, et.table, providers.Event{Created: c.at})
		if got := ch.Expect.Match([]any{c.local}) != ""; got != c.stale {
			t.Errorf("local %v, event %s: stale %v, want %v", c.local, c.at.Format(time.RFC3339Nano), got, c.stale)
		}
	}
}

// TestReplayCreateMeetsAppRow: an event's create that meets a row the app
// inserted after replay planned it applies over it when the row's
// updated_at is older than the event, is stale when newer, and without
// updated_at mapped is a conflict (reported, exit 2), never an overwrite.
func TestReplayCreateMeetsAppRow(t *testing.T) {
	ctx := context.Background()
	appInsert := func(st localstate.Store, et *eventTable, id, at string) {
		vals := map[string]any{"plan": "app"}
		if at != "" {
			vals["updated_at"] = at
		}
		tbl := *et.table
		tbl.UpdatedAt = ""
		tbl.Fields = append(tbl.Fields, localstate.Field{Column: "updated_at", Path: "updated_at"})
		if err := st.Apply(ctx, []localstate.Change{{Table: &tbl, Op: localstate.OpCreate, Key: id, Values: vals}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("updated_at", func(t *testing.T) {
		st, et := replayState(t, true)
		older, newer, empty := planEvent(t, st, et, event("cus_old", t0, "ev")), planEvent(t, st, et, event("cus_new", t0, "ev")), planEvent(t, st, et, event("cus_nul", t0, "ev"))
		if older.Op != localstate.OpCreate {
			t.Fatalf("op %s, want a create", older.Op)
		}
		appInsert(st, et, "cus_old", "2026-01-01T10:00:00.2Z")
		appInsert(st, et, "cus_new", "2026-01-01T10:00:00.7Z")
		appInsert(st, et, "cus_nul", "")
		if why := applyEvent(t, st, older); why != "" {
			t.Errorf("create over an older app row: %s", why)
		}
		if got := row(t, st, et, "cus_old"); got[0] != "ev" {
			t.Errorf("older app row %v, want the event's", got)
		}
		if why := applyEvent(t, st, newer); why == "" || !isStale(why) {
			t.Errorf("create over a newer app row: reason %q, want stale", why)
		}
		if why := applyEvent(t, st, empty); why == "" || isStale(why) {
			t.Errorf("create over an app row with no updated_at: reason %q, want a conflict", why)
		}
		for _, id := range []string{"cus_new", "cus_nul"} {
			if got := row(t, st, et, id); got[0] != "app" {
				t.Errorf("%s: %v, want the app's row kept", id, got)
			}
		}
	})
	t.Run("no updated_at", func(t *testing.T) {
		st, et := replayState(t, false)
		ch := planEvent(t, st, et, event("cus_1", t0, "ev"))
		appInsert(st, et, "cus_1", "")
		why := applyEvent(t, st, ch)
		if got := row(t, st, et, "cus_1"); got[0] != "app" {
			t.Errorf("row %v, want the app's kept", got)
		}
		rep := &Report{Summary: map[string]int{}, ByType: map[string]map[string]int{}}
		rep.notApplied(event("cus_1", t0, "ev"), why)
		b, _ := json.Marshal(rep.Events[0])
		if rep.ExitCode != reconcile.ExitDrift || rep.Summary["conflicts"] != 1 || !rep.Events[0].Conflict {
			t.Errorf("exit %d, summary %v, event %s; want a conflict, exit 2", rep.ExitCode, rep.Summary, b)
		}
		var text bytes.Buffer
		if err := report.Render(&text, "table", rep, report.Options{}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), "conflicts (not applied; run reconctl diff to settle these records):\n  evt_ev customer.updated cus_1: the app created the local row since the event: not overwritten") {
			t.Errorf("the text report does not list the conflict:\n%s", text.String())
		}
	})
}

func sameInstant(v any, want time.Time) bool {
	got, ok := reconcile.Instant(v)
	return ok && got.Equal(want)
}

func isStale(why string) bool {
	return len(why) >= len(reasonNewer) && why[:len(reasonNewer)] == reasonNewer
}
