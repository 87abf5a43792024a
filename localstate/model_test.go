package localstate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/storetest"
)

// modelRecord is what a record should hold after a sequence of changes.
type modelRecord struct {
	vals    map[string]any
	deleted bool
}

type model map[string]*modelRecord

var modelCols = []string{"email", "name", "plan", "note"}

func (m model) apply(ch localstate.Change) {
	r := m[ch.Key]
	switch ch.Op {
	case localstate.OpCreate:
		if r == nil {
			r = &modelRecord{vals: map[string]any{}}
			m[ch.Key] = r
		}
		r.deleted = false
		fallthrough
	case localstate.OpUpdate:
		for k, v := range ch.Values {
			r.vals[k] = v
		}
	case localstate.OpDelete:
		r.deleted = true
	}
}

func (m model) liveKeys() []string {
	var keys []string
	for k, r := range m {
		if !r.deleted {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func randomChange(rng *rand.Rand, m model, tb *localstate.Table) localstate.Change {
	values := func() map[string]any {
		v := map[string]any{}
		for _, c := range modelCols[:3] {
			if rng.IntN(3) > 0 {
				if rng.IntN(6) == 0 {
					v[c] = nil
				} else {
					v[c] = fmt.Sprintf("%s-%d", c, rng.IntN(1000))
				}
			}
		}
		return v
	}
	live := m.liveKeys()
	switch n := rng.IntN(100); {
	case n < 40 || len(live) == 0:
		return localstate.Change{Table: tb, Op: localstate.OpCreate, Key: fmt.Sprintf("k%02d", rng.IntN(40)), Values: values()}
	case n < 75:
		v := values()
		if len(v) == 0 {
			v["email"] = "e"
		}
		return localstate.Change{Table: tb, Op: localstate.OpUpdate, Key: live[rng.IntN(len(live))], Values: v}
	default:
		return localstate.Change{Table: tb, Op: localstate.OpDelete, Key: live[rng.IntN(len(live))]}
	}
}

// TestStoresAgreeOnRandomChanges applies random batches (creates, revivals,
// updates, soft deletes, shapes changing from one change to the next) to
// both stores, a table with a unique key and one without, and checks both
// against a model.
func TestStoresAgreeOnRandomChanges(t *testing.T) {
	cols := []storetest.Column{{Name: "email", Type: "TEXT"}, {Name: "name", Type: "TEXT"},
		{Name: "plan", Type: "TEXT"}, {Name: "note", Type: "TEXT"}, {Name: "deleted_at", Type: "TEXT"}}
	fixture := storetest.Fixture{Tables: []storetest.FixtureTable{
		{Name: "users", Columns: append([]storetest.Column{{Name: "id", Type: "TEXT", PrimaryKey: true}}, cols...),
			Rows: [][]any{{"k01", "a", "A", "pro", "keep", nil}, {"k02", "b", "B", nil, "keep", "2026-01-01T00:00:00Z"}}},
		{Name: "loose", Columns: append([]storetest.Column{{Name: "id", Type: "TEXT"}}, cols...),
			Rows: [][]any{{"k01", "a", "A", "pro", "keep", nil}, {"k02", "b", "B", nil, "keep", "2026-01-01T00:00:00Z"}}},
	}}
	tables := []*localstate.Table{
		{Resource: "users", SoftDelete: "deleted_at"},
		{Resource: "loose", SoftDelete: "deleted_at"},
	}
	ctx := context.Background()
	for seed := range 3 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		stores := []localstate.Store{openSQLiteFixture(t, fixture, false), openJSONFixture(t, fixture, false)}
		models := []model{{}, {}}
		for i := range models {
			models[i]["k01"] = &modelRecord{vals: map[string]any{"email": "a", "name": "A", "plan": "pro", "note": "keep"}}
			models[i]["k02"] = &modelRecord{vals: map[string]any{"email": "b", "name": "B", "plan": nil, "note": "keep"}, deleted: true}
		}
		for round := range 6 {
			var changes []localstate.Change
			for range 400 {
				i := rng.IntN(2)
				if round%2 == 1 {
					i = 0 // long runs of one table, so batches fill up
				}
				ch := randomChange(rng, models[i], tables[i])
				models[i].apply(ch)
				changes = append(changes, ch)
			}
			for _, st := range stores {
				if err := st.Apply(ctx, changes); err != nil {
					t.Fatalf("seed %d round %d %s: %v", seed, round, st.Kind(), err)
				}
			}
		}
		for _, st := range stores {
			for i, tb := range tables {
				all := &localstate.Table{Resource: tb.Resource}
				got := map[string][]any{}
				err := st.Scan(ctx, all, append(slices.Clone(modelCols), "deleted_at"), func(r localstate.Row) error {
					if _, dup := got[r.Key]; dup {
						t.Errorf("%s %s: key %s twice", st.Kind(), tb.Resource, r.Key)
					}
					got[r.Key] = slices.Clone(r.Values)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(models[i]) {
					t.Errorf("seed %d %s %s: %d records, model has %d", seed, st.Kind(), tb.Resource, len(got), len(models[i]))
				}
				for k, want := range models[i] {
					row := got[k]
					if row == nil {
						t.Errorf("seed %d %s %s: %s missing", seed, st.Kind(), tb.Resource, k)
						continue
					}
					for j, c := range modelCols {
						if !storetest.Equivalent(row[j], want.vals[c]) {
							t.Errorf("seed %d %s %s %s.%s = %#v, want %#v", seed, st.Kind(), tb.Resource, k, c, row[j], want.vals[c])
						}
					}
					if deleted := row[4] != nil && row[4] != ""; deleted != want.deleted {
						t.Errorf("seed %d %s %s %s: deleted_at %#v, want deleted=%v", seed, st.Kind(), tb.Resource, k, row[4], want.deleted)
					}
				}
			}
		}
	}
}
