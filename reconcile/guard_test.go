package reconcile

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// nLocal builds a store of n customers cus_0..cus_{n-1} and a provider that
// lists the first listed of them (the others are confirmed deleted).
func nLocal(n, listed int) (*memProvider, *memStore) {
	p := &memProvider{records: map[string][]providers.Record{"customers": {}}, gets: map[string]providers.RemoteStatus{}}
	s := &memStore{cols: []string{"email"}, rows: map[string]map[string]any{}}
	for i := range n {
		id := fmt.Sprintf("cus_%d", i)
		s.rows[id] = map[string]any{"email": id + "@x"}
		if i < listed {
			p.records["customers"] = append(p.records["customers"], rec(id, `{"email":"`+id+`@x"}`))
		}
	}
	return p, s
}

func emailTable() *localstate.Table {
	return &localstate.Table{Resource: "customers", Key: "id", Fields: []localstate.Field{{Column: "email", Path: "email"}}}
}

// "Nearly all" is 90% of the live local records: the boundary on both sides,
// whatever --max-changes says.
func TestMassDeleteBoundaries(t *testing.T) {
	for _, c := range []struct {
		local, listed int
		reason        string
	}{
		{1, 0, ReasonEmptyListing}, {3, 0, ReasonEmptyListing},
		{10, 1, ReasonDeletesAll}, // 9 of 10 = 90%
		{10, 2, ""},               // 8 of 10
		{100, 10, ReasonDeletesAll},
		{100, 11, ""}, // 89 of 100
		{2, 1, ""},    // 1 of 2
		{5, 5, ""},
	} {
		p, s := nLocal(c.local, c.listed)
		_, res := compare(t, p, s, emailTable(), ModeDiff)
		b := res.MassDelete()
		got := ""
		if b != nil {
			got = b.Reason
			if b.Live != c.local || b.Planned != c.local-c.listed {
				t.Errorf("%d/%d: refusal %+v", c.local, c.listed, b)
			}
		}
		if got != c.reason {
			t.Errorf("%d local, %d listed: reason %q, want %q", c.local, c.listed, got, c.reason)
		}
		if res.Brake(config.MaxChanges{Unlimited: true}) != nil {
			t.Errorf("unlimited brake refused")
		}
	}
	// an empty listing refuses even a small share of deletes (the rest unconfirmed)
	p, s := nLocal(10, 0)
	p.getErr = map[string]error{}
	for i := 1; i < 10; i++ {
		p.getErr[fmt.Sprintf("cus_%d", i)] = fmt.Errorf("timeout")
	}
	_, res := compare(t, p, s, emailTable(), ModeDiff)
	if b := res.MassDelete(); b == nil || b.Reason != ReasonEmptyListing || b.Planned != 1 {
		t.Errorf("empty listing with 1 confirmed delete: %+v", b)
	}
	// a scoped comparison (check-user) brakes against the table's count
	p, s = nLocal(10, 9)
	_, res = compare(t, p, s, emailTable(), ModeDiff)
	res.Resources[0].Scoped, res.Resources[0].BrakeBase = true, 1
	if b := res.MassDelete(); b == nil || b.Reason != ReasonDeletesAll {
		t.Errorf("1 delete of a 1-row table: %+v", b)
	}
	res.Resources[0].BrakeBase = 50
	if b := res.MassDelete(); b != nil {
		t.Errorf("1 delete of 50: %+v", b)
	}
	m, _ := config.ParseMaxChanges("2%")
	if b := res.Brake(m); b != nil || m.Limit(50) != 1 {
		t.Errorf("2%% of 50 refused one change: %+v", b)
	}
}

// dupStore yields some keys twice (a table without a unique key).
type dupStore struct {
	*memStore
	twice []string
}

func (s *dupStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	if err := s.memStore.Scan(ctx, t, cols, fn); err != nil {
		return err
	}
	for _, k := range s.twice {
		r, _, _ := s.Get(ctx, t, cols, k)
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func TestGuardDuplicates(t *testing.T) {
	p, s := nLocal(5, 3)
	ds := &dupStore{memStore: s, twice: []string{"cus_4", "cus_4"}}
	_, res := compare(t, p, ds, emailTable(), ModeDiff)
	if got := res.Resources[0].Summary.DuplicateLocal; got != 2 {
		t.Fatalf("duplicate_local = %d", got)
	}
	err := res.Guard(nil)
	if err == nil || !strings.Contains(err.Error(), `key column "id"`) || !strings.Contains(err.Error(), `"cus_4"`) {
		t.Errorf("guard: %v", err)
	}

	// the provider lists an id twice: counted, never silently dropped, writes refused
	p, s = nLocal(3, 3)
	p.records["customers"] = append(p.records["customers"], p.records["customers"][0], rec("cus_new", `{"email":"n@x"}`), rec("cus_new", `{"email":"n@x"}`))
	_, res = compare(t, p, s, emailTable(), ModeDiff)
	if got := res.Resources[0].Summary.DuplicateRemote; got != 2 {
		t.Fatalf("duplicate_remote = %d", got)
	}
	if err := res.Guard(nil); err == nil || !strings.Contains(err.Error(), `"cus_0", "cus_new"`) {
		t.Errorf("guard: %v", err)
	}
}

// A mapped path absent from every listed record (not present-with-null)
// is reported; a plan that nulls the column with it is refused unless allowed.
func TestGuardAbsentPath(t *testing.T) {
	p, s := nLocal(3, 3)
	tbl := emailTable()
	tbl.Fields = append(tbl.Fields, localstate.Field{Column: "name", Path: "nmae"}, localstate.Field{Column: "nick", Path: "nick"})
	s.cols = []string{"email", "name", "nick"}
	for id, row := range s.rows {
		row["name"], row["nick"] = "N "+id, nil
	}
	for i := range p.records["customers"] {
		p.records["customers"][i].Data["nick"] = nil // present, null
	}
	_, res := compare(t, p, s, tbl, ModeDiff)
	if got := res.Resources[0].Summary.AbsentPaths; len(got) != 1 || got[0] != "nmae" {
		t.Fatalf("absent_paths = %v", got)
	}
	err := res.Guard(nil)
	if err == nil || !strings.Contains(err.Error(), `"nmae" (column name)`) || !strings.Contains(err.Error(), "null on 3 rows") {
		t.Errorf("guard: %v", err)
	}
	if err := res.Guard([]string{"nmae"}); err != nil {
		t.Errorf("allowed: %v", err)
	}
	// nothing local to null: no refusal
	for _, row := range s.rows {
		row["name"] = nil
	}
	_, res = compare(t, p, s, tbl, ModeDiff)
	if err := res.Guard(nil); err != nil {
		t.Errorf("nothing nulled: %v", err)
	}
}
