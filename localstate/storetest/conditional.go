package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

// runConditional checks conditional writes (Change.Expect, issue #15): a
// change whose row no longer holds what the caller read is not written and
// says why; the others in the same Apply are written; a conditional create
// meeting a live row leaves it alone; through Apply and through a Tx.
func runConditional(t *testing.T, fresh func(t *testing.T, readOnly bool) localstate.Store) {
	ctx := context.Background()
	// was: a Match that wants the email column to be want.
	was := func(want string) *localstate.Expect {
		return &localstate.Expect{Columns: []string{"email"}, Match: func(now []any) string {
			if fmt.Sprint(now[0]) != want {
				return fmt.Sprintf("local row changed since it was read: email plan=%s now=%v", want, now[0])
			}
			return ""
		}}
	}
	for _, via := range []string{"Apply", "Tx"} {
		t.Run("Conditional/"+via, func(t *testing.T) {
			st := fresh(t, false)
			if via == "Tx" && st.Features().Begin == nil {
				t.Skip("no transactions")
			}
			upHeld, upFailed := was("ann@example.com"), was("old@example.com")
			delHeld, delGone := was("dan@example.com"), was("cat@example.com")
			createLive, createNew, createDead := &localstate.Expect{Absent: true}, &localstate.Expect{Absent: true}, &localstate.Expect{Absent: true}
			createLive.Conflict = "stale" // Apply clears what an earlier run left
			changes := []localstate.Change{
				{Table: Customers, Op: localstate.OpUpdate, Key: "cus_1", Values: map[string]any{"name": "Ann2"}, Expect: upHeld},
				{Table: Customers, Op: localstate.OpUpdate, Key: "cus_2", Values: map[string]any{"name": "Bob2"}, Expect: upFailed},
				{Table: Customers, Op: localstate.OpDelete, Key: "cus_4", Expect: delHeld},
				{Table: Customers, Op: localstate.OpDelete, Key: "cus_3", Expect: delGone}, // soft-deleted already
				{Table: Customers, Op: localstate.OpCreate, Key: "cus_1", Values: map[string]any{"email": "x@example.com", "name": "X"}, Expect: createLive},
				{Table: Customers, Op: localstate.OpCreate, Key: "cus_5", Values: map[string]any{"email": "eve@example.com", "name": "Eve"}, Expect: createNew},
				{Table: Customers, Op: localstate.OpCreate, Key: "cus_3", Values: map[string]any{"email": "cat2@example.com", "name": "Cat2"}, Expect: createDead}, // revives
				{Table: Plain, Op: localstate.OpUpdate, Key: "p1", Values: map[string]any{"v": "uno"}},                                                             // unconditional
			}
			if via == "Apply" {
				apply(t, st, changes...)
			} else if err := localstate.InTx(ctx, st.Features().Begin, func(tx localstate.Tx) error { return tx.Apply(ctx, changes) }); err != nil {
				t.Fatal(err)
			}
			for name, c := range map[string]struct {
				e    *localstate.Expect
				want string
			}{
				"update held": {upHeld, ""}, "update changed": {upFailed, "local row changed since it was read: email plan=old@example.com now=bob@example.com"},
				"delete held": {delHeld, ""}, "delete gone": {delGone, localstate.ReasonDeleted},
				"create over live": {createLive, localstate.ReasonInserted}, "create new": {createNew, ""}, "create revives": {createDead, ""},
			} {
				if c.e.Conflict != c.want {
					t.Errorf("%s: Conflict = %q, want %q", name, c.e.Conflict, c.want)
				}
			}
			sameRows(t, dump(t, reopen(t, st), Customers, "email", "name"), map[string][]any{
				"cus_1": {"ann@example.com", "Ann2"}, // the conditional create left it alone
				"cus_2": {"bob@example.com", "Bob"},  // not updated
				"cus_3": {"cat2@example.com", "Cat2"},
				"cus_5": {"eve@example.com", "Eve"},
			})
			sameRows(t, dump(t, reopen(t, st), Plain, "v"), map[string][]any{"p1": {"uno"}, "p2": {"two"}})
		})
	}

	t.Run("Conditional/CreateOverLive", func(t *testing.T) {
		// A create whose Expect has a Match meets a live row: Match decides
		// whether it is written over (replay: the row is older than the
		// event); a refusal is the conflict's reason. Without a row it is a
		// plain create.
		st := fresh(t, false)
		wants := func(want string) *localstate.Expect {
			return &localstate.Expect{Absent: true, Columns: []string{"v"}, Match: func(now []any) string {
				if fmt.Sprint(now[0]) != want {
					return fmt.Sprintf("v is %v, not %s", now[0], want)
				}
				return ""
			}}
		}
		over, kept, fresh3 := wants("one"), wants("other"), wants("never read")
		apply(t, st,
			localstate.Change{Table: Plain, Op: localstate.OpCreate, Key: "p1", Values: map[string]any{"v": "uno"}, Expect: over},
			localstate.Change{Table: Plain, Op: localstate.OpCreate, Key: "p2", Values: map[string]any{"v": "dos"}, Expect: kept},
			localstate.Change{Table: Plain, Op: localstate.OpCreate, Key: "p3", Values: map[string]any{"v": "tres"}, Expect: fresh3})
		if over.Conflict != "" || kept.Conflict != "v is two, not other" || fresh3.Conflict != "" {
			t.Errorf("conflicts %q, %q, %q", over.Conflict, kept.Conflict, fresh3.Conflict)
		}
		sameRows(t, dump(t, reopen(t, st), Plain, "v"), map[string][]any{"p1": {"uno"}, "p2": {"two"}, "p3": {"tres"}})
	})

	t.Run("Conditional/ManyKeys", func(t *testing.T) {
		// More keys than one locking read names: every one is checked.
		st := fresh(t, false)
		var changes []localstate.Change
		for i := range 1200 {
			changes = append(changes, localstate.Change{Table: Plain, Op: localstate.OpCreate, Key: fmt.Sprintf("m%04d", i), Values: map[string]any{"v": "a"}})
		}
		apply(t, st, changes...)
		expects := make([]*localstate.Expect, len(changes))
		for i := range changes {
			want := "a"
			if i%2 == 1 {
				want = "b" // fails
			}
			expects[i] = &localstate.Expect{Columns: []string{"v"}, Match: func(now []any) string {
				if fmt.Sprint(now[0]) != want {
					return "changed"
				}
				return ""
			}}
			changes[i] = localstate.Change{Table: Plain, Op: localstate.OpUpdate, Key: changes[i].Key, Values: map[string]any{"v": "c"}, Expect: expects[i]}
		}
		apply(t, st, changes...)
		got := dump(t, reopen(t, st), Plain, "v")
		for i, ch := range changes {
			want, conflict := "c", ""
			if i%2 == 1 {
				want, conflict = "a", "changed"
			}
			if fmt.Sprint(got[ch.Key][0]) != want || expects[i].Conflict != conflict {
				t.Fatalf("%s: v = %v, conflict %q; want %s, %q", ch.Key, got[ch.Key][0], expects[i].Conflict, want, conflict)
			}
		}
	})
}
