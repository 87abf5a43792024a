package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

// ScopeFixture is the fixture of the tenant-scoping cases: rows of two
// tenants, one soft-deleted, one of no tenant; orgs has an integer tenant
// column.
func ScopeFixture() Fixture {
	text := func(name string) Column { return Column{Name: name, Type: "TEXT"} }
	return Fixture{Tables: []FixtureTable{
		{
			Name:    "members",
			Columns: []Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, text("account"), text("email"), text("deleted_at")},
			Rows: [][]any{
				{"a1", "acct_1", "a1@example.com", nil},
				{"a2", "acct_1", "a2@example.com", nil},
				{"b1", "acct_2", "b1@example.com", nil},
				{"b2", "acct_2", "b2@example.com", "2026-01-01T00:00:00Z"},
				{"n1", nil, "n1@example.com", nil},
			},
		},
		{
			Name:    "orgs",
			Columns: []Column{{Name: "id", Type: "TEXT", PrimaryKey: true}, {Name: "org", Type: "INTEGER"}, text("v")},
			Rows:    [][]any{{"o1", int64(7), "seven"}, {"o2", int64(8), "eight"}},
		},
	}}
}

// Tables of ScopeFixture, unscoped.
var (
	Members = &localstate.Table{Resource: "members", SoftDelete: "deleted_at", Fields: []localstate.Field{{Column: "email", Path: "email"}}}
	Orgs    = &localstate.Table{Resource: "orgs", Fields: []localstate.Field{{Column: "v", Path: "v"}}}
)

// RunScope runs the tenant-scoping cases (issue #17): a scoped table reads,
// counts and writes only its tenant's rows; creates set the tenant; a write
// naming another tenant's row is refused whole. A store that cannot scope
// (JSON) must say so with ErrScopeNeedsSQL.
func RunScope(t *testing.T, open Opener) {
	ctx := context.Background()
	fresh := func(t *testing.T, readOnly bool) localstate.Store {
		t.Helper()
		st := open(t, ScopeFixture(), readOnly)
		t.Cleanup(func() { st.Close() })
		return st
	}
	acct1, acct2 := Members.Scoped("account", "acct_1"), Members.Scoped("account", "acct_2")
	all := &localstate.Table{Resource: "members"} // every row, the tenant column too

	t.Run("NeedsSQL", func(t *testing.T) {
		st := fresh(t, false)
		if !schemaless(st) {
			t.Skip("a SQL store scopes")
		}
		if err := st.Scan(ctx, acct1, []string{"email"}, func(localstate.Row) error { return nil }); !errors.Is(err, localstate.ErrScopeNeedsSQL) {
			t.Errorf("Scan scoped: %v, want ErrScopeNeedsSQL", err)
		}
		if err := st.Apply(ctx, []localstate.Change{{Table: acct1, Op: localstate.OpCreate, Key: "a9", Values: map[string]any{"email": "x"}}}); !errors.Is(err, localstate.ErrScopeNeedsSQL) {
			t.Errorf("Apply scoped: %v, want ErrScopeNeedsSQL", err)
		}
		if _, err := localstate.DistinctScopeValues(ctx, st, Members, "account"); !errors.Is(err, localstate.ErrScopeNeedsSQL) {
			t.Errorf("DistinctScopeValues: %v, want ErrScopeNeedsSQL", err)
		}
	})
	sqlOnly := func(t *testing.T, readOnly bool) localstate.Store {
		t.Helper()
		st := fresh(t, readOnly)
		if schemaless(st) {
			t.Skip("a JSON snapshot cannot scope (NeedsSQL)")
		}
		return st
	}

	t.Run("ScanGetCount", func(t *testing.T) {
		st := sqlOnly(t, true)
		sameRows(t, dump(t, st, acct1, "email"), map[string][]any{"a1": {"a1@example.com"}, "a2": {"a2@example.com"}})
		sameRows(t, dump(t, st, acct2, "email"), map[string][]any{"b1": {"b1@example.com"}})
		if got := dump(t, st, Members.Scoped("account", "acct_404"), "email"); len(got) != 0 {
			t.Errorf("unknown tenant sees %v", got)
		}
		if _, ok, err := st.Get(ctx, acct1, []string{"email"}, "b1"); ok || err != nil {
			t.Errorf("Get another tenant's row: ok=%v err=%v, want absent", ok, err)
		}
		if _, ok, err := st.Get(ctx, acct1, []string{"email"}, "n1"); ok || err != nil {
			t.Errorf("Get a row of no tenant: ok=%v err=%v, want absent", ok, err)
		}
		var batch []string
		if err := localstate.GetEach(ctx, st, acct1, []string{"email"}, []string{"b1", "a1", "n1", "a2", "b2"}, func(k string, _ localstate.Row) error {
			batch = append(batch, k)
			return nil
		}); err != nil || !slices.Equal(batch, []string{"a1", "a2"}) {
			t.Errorf("GetEach as acct_1 of b1 a1 n1 a2 b2 = %v, %v; want only acct_1's a1 a2", batch, err)
		}
		row, ok, err := st.Get(ctx, acct2, []string{"email"}, "b1")
		if err != nil || !ok {
			t.Fatalf("Get own row: ok=%v err=%v", ok, err)
		}
		sameValues(t, "b1", row.Values, []any{"b1@example.com"})
		if ex := st.Features().Exists; ex != nil {
			// Exists sees the tenant's rows only, as Get does.
			got, err := ex(ctx, acct1, []string{"a1", "b1", "n1", "a2"})
			if err != nil || !got["a1"] || got["b1"] || got["n1"] || !got["a2"] {
				t.Errorf("Exists scoped = %v, %v; want a1 and a2 only", got, err)
			}
		}
		if count := st.Features().Count; count != nil {
			for tb, want := range map[*localstate.Table]int{acct1: 2, acct2: 1, Members: 4} {
				if n, err := count(ctx, tb); err != nil || n != want {
					t.Errorf("Count(%v) = %d, %v; want %d", tb.Scope, n, err, want)
				}
			}
		}
		if kh := st.Features().KeyHealth; kh != nil {
			if h, err := kh(ctx, acct1); err != nil || h.NullKeys != 0 {
				t.Errorf("KeyHealth scoped = %+v, %v", h, err)
			}
		}
		cols, err := st.Columns(ctx, acct1)
		if err != nil || slices.Contains(cols, "account") || !slices.Contains(cols, "email") {
			t.Errorf("Columns scoped = %v, %v; want them without the tenant column", cols, err)
		}
		// An integer tenant column takes the tenant id as its own type.
		sameRows(t, dump(t, st, Orgs.Scoped("org", "7"), "v"), map[string][]any{"o1": {"seven"}})
	})

	t.Run("Distinct", func(t *testing.T) {
		st := sqlOnly(t, true)
		got, err := localstate.DistinctScopeValues(ctx, st, Members, "account")
		if err != nil || strings.Join(got, ",") != "acct_1,acct_2" {
			t.Errorf("DistinctScopeValues = %v, %v", got, err)
		}
		got, err = localstate.DistinctScopeValues(ctx, st, Orgs, "org")
		if err != nil || strings.Join(got, ",") != "7,8" {
			t.Errorf("DistinctScopeValues(int) = %v, %v", got, err)
		}
		var se *localstate.SchemaError
		if _, err := localstate.DistinctScopeValues(ctx, st, Members, "tenant"); !errors.As(err, &se) {
			t.Errorf("missing column: %v", err)
		}
	})

	t.Run("BadScope", func(t *testing.T) {
		st := sqlOnly(t, true)
		var se *localstate.SchemaError
		if _, err := st.Columns(ctx, Members.Scoped("tenant", "acct_1")); !errors.As(err, &se) || !strings.Contains(err.Error(), "tenants.column") {
			t.Errorf("missing tenant column: %v", err)
		}
		if _, err := st.Columns(ctx, Members.Scoped("id", "acct_1")); err == nil || !strings.Contains(err.Error(), "is the key") {
			t.Errorf("tenant column = key: %v", err)
		}
		if _, err := st.Columns(ctx, Members.Scoped("email", "acct_1")); err == nil || !strings.Contains(err.Error(), "is mapped") {
			t.Errorf("tenant column mapped: %v", err)
		}
	})

	t.Run("Writes", func(t *testing.T) {
		st := sqlOnly(t, false)
		vals := map[string]any{"email": "b3@example.com"}
		apply(t, st,
			localstate.Change{Table: acct2, Op: localstate.OpCreate, Key: "b3", Values: vals},
			localstate.Change{Table: acct1, Op: localstate.OpUpdate, Key: "a1", Values: map[string]any{"email": "new@example.com"}},
			localstate.Change{Table: acct1, Op: localstate.OpDelete, Key: "a2"},
		)
		if len(vals) != 1 {
			t.Errorf("Apply changed the caller's values: %v", vals)
		}
		re := reopen(t, st)
		sameRows(t, dump(t, re, all, "account", "email"), map[string][]any{
			"a1": {"acct_1", "new@example.com"}, "a2": {"acct_1", "a2@example.com"},
			"b1": {"acct_2", "b1@example.com"}, "b2": {"acct_2", "b2@example.com"},
			"b3": {"acct_2", "b3@example.com"}, "n1": {nil, "n1@example.com"},
		})
		sameRows(t, dump(t, re, acct1, "email"), map[string][]any{"a1": {"new@example.com"}})
		sameRows(t, dump(t, re, acct2, "email"), map[string][]any{"b1": {"b1@example.com"}, "b3": {"b3@example.com"}})
	})

	t.Run("WritesRefuseOtherTenants", func(t *testing.T) {
		st := sqlOnly(t, false)
		before := dump(t, st, all, "account", "email", "deleted_at")
		for _, c := range []struct {
			ch   localstate.Change
			want string
		}{
			{localstate.Change{Table: acct1, Op: localstate.OpUpdate, Key: "b1", Values: map[string]any{"email": "x"}}, `belongs to tenant "acct_2"`},
			{localstate.Change{Table: acct1, Op: localstate.OpDelete, Key: "n1"}, "belongs to no tenant"},
			{localstate.Change{Table: acct1, Op: localstate.OpCreate, Key: "b2", Values: map[string]any{"email": "x"}}, `belongs to tenant "acct_2"`},
		} {
			// With a good change first: the whole Apply is refused.
			good := localstate.Change{Table: acct1, Op: localstate.OpUpdate, Key: "a1", Values: map[string]any{"email": "changed"}}
			err := st.Apply(ctx, []localstate.Change{good, c.ch})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %s as acct_1: %v, want %q", c.ch.Op, c.ch.Key, err, c.want)
			}
		}
		sameRows(t, dump(t, reopen(t, st), all, "account", "email", "deleted_at"), before)
	})

	// A conditional update or delete (the engine's) of a row that is now
	// another tenant's — the app moved it since the run read it — is, to
	// this tenant, a row deleted since it was read: that record's conflict,
	// not a refusal of the whole write; the rest are written.
	t.Run("ConditionalMovedRowIsConflict", func(t *testing.T) {
		st := sqlOnly(t, false)
		ok := func([]any) string { return "" }
		moved := &localstate.Expect{Columns: []string{"email"}, Match: ok}
		gone := &localstate.Expect{Columns: []string{"email"}, Match: ok}
		good := &localstate.Expect{Columns: []string{"email"}, Match: ok}
		apply(t, st,
			localstate.Change{Table: acct1, Op: localstate.OpUpdate, Key: "b1", Values: map[string]any{"email": "stale"}, Expect: moved},
			localstate.Change{Table: acct1, Op: localstate.OpDelete, Key: "n1", Expect: gone},
			localstate.Change{Table: acct1, Op: localstate.OpUpdate, Key: "a1", Values: map[string]any{"email": "fresh@example.com"}, Expect: good},
		)
		if moved.Conflict != localstate.ReasonDeleted || gone.Conflict != localstate.ReasonDeleted || good.Conflict != "" {
			t.Errorf("conflicts %q, %q, %q; want the two rows outside acct_1 conflicts (%q), a1 written", moved.Conflict, gone.Conflict, good.Conflict, localstate.ReasonDeleted)
		}
		sameRows(t, dump(t, reopen(t, st), all, "account", "email"), map[string][]any{
			"a1": {"acct_1", "fresh@example.com"}, "a2": {"acct_1", "a2@example.com"},
			"b1": {"acct_2", "b1@example.com"}, "b2": {"acct_2", "b2@example.com"}, "n1": {nil, "n1@example.com"},
		})
	})

	t.Run("TxApply", func(t *testing.T) {
		st := sqlOnly(t, false)
		begin := st.Features().Begin
		if begin == nil {
			t.Skip("the store has no transactions")
		}
		tx, err := begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		err = tx.Apply(ctx, []localstate.Change{{Table: acct1, Op: localstate.OpCreate, Key: "a3", Values: map[string]any{"email": "a3@example.com"}}})
		if err != nil {
			tx.Rollback()
			t.Fatal(err)
		}
		if err := tx.Apply(ctx, []localstate.Change{{Table: acct1, Op: localstate.OpUpdate, Key: "b1", Values: map[string]any{"email": "x"}}}); err == nil {
			t.Error("a Tx update of another tenant's row was not refused")
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		sameRows(t, dump(t, reopen(t, st), acct1, "email"), map[string][]any{"a1": {"a1@example.com"}, "a2": {"a2@example.com"}, "a3": {"a3@example.com"}})
	})
}
