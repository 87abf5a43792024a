package reconcile

import (
	"context"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// vanishStore is a memStore whose row gone is deleted (by "the app") once
// the scan has read it: planChanged's read no longer finds it.
type vanishStore struct {
	*memStore
	gone string
}

func (s *vanishStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	err := s.memStore.Scan(ctx, t, cols, fn)
	delete(s.rows, s.gone)
	return err
}

// TestVanishedCandidateIsConflict: a drifted record whose local row is
// deleted between the scan and planChanged's read is a conflict of that
// record (not applied, counted, the reason says why) in every mode, dry run
// or apply; the run goes on and the other fixes are applied.
func TestVanishedCandidateIsConflict(t *testing.T) {
	for _, mode := range []Mode{ModeDiff, ModeResync, ModeResyncForce} {
		for _, apply := range []bool{false, true} {
			p, s := fixture()
			vs := &vanishStore{memStore: s, gone: "cus_3"} // cus_3 differs (plan)
			e, res := compare(t, p, vs, customersTable(), mode)
			if apply {
				if err := e.Apply(context.Background(), res); err != nil {
					t.Fatal(err)
				}
			}
			var gone *Drift
			for i := range res.Drift {
				if res.Drift[i].ID == "cus_3" {
					gone = &res.Drift[i]
				}
			}
			if gone == nil || !gone.Conflict || gone.Applied || gone.Reason != ReasonDeletedSinceScan || gone.Kind != KindChanged {
				t.Errorf("mode %d apply %v: cus_3's drift = %+v; want a conflict, not applied, reason %q", mode, apply, gone, ReasonDeletedSinceScan)
			}
			sum := res.Summaries()["customers"]
			if sum.Conflicts != 1 || res.Unresolved() == 0 {
				t.Errorf("mode %d apply %v: summary %+v, want 1 conflict and unresolved drift", mode, apply, *sum)
			}
			if _, ok := s.rows["cus_3"]; ok {
				t.Errorf("mode %d apply %v: the deleted row was written again", mode, apply)
			}
			if _, created := s.rows["cus_new"]; apply != created {
				t.Errorf("mode %d apply %v: the other fix (create cus_new) applied: %v", mode, apply, created)
			}
		}
	}
}

// getCountStore is a memStore whose row gone is deleted (by "the app")
// after its after-th Get: check-user reads the user once for its lookup,
// once for its scoped scan, then planChanged reads it again.
type getCountStore struct {
	*memStore
	gone  string
	after int
	gets  int
}

func (s *getCountStore) Get(ctx context.Context, t *localstate.Table, cols []string, key string) (localstate.Row, bool, error) {
	if key == s.gone {
		if s.gets++; s.gets > s.after {
			delete(s.rows, s.gone)
		}
	}
	return s.memStore.Get(ctx, t, cols, key)
}

func (s *getCountStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	for _, k := range s.keys() {
		r, ok, _ := s.memStore.Get(ctx, t, cols, k)
		if !ok {
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// TestCheckUserFixVanishedIsConflict: check-user --fix of a user whose
// local row the app deletes between the comparison's scan and its
// field-by-field read: a conflict (exit 2), not a failure, nothing written.
func TestCheckUserFixVanishedIsConflict(t *testing.T) {
	ctx := context.Background()
	p := &memProvider{records: map[string][]providers.Record{"customers": {rec("cus_1", `{"plan":"pro"}`)}}}
	s := &getCountStore{memStore: &memStore{cols: []string{"plan"}, rows: map[string]map[string]any{"cus_1": {"plan": "free"}, "cus_2": {"plan": "free"}}},
		gone: "cus_1", after: 2}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "plan", Path: "plan"}}}
	e := &Engine{Provider: p, Store: s, ReconfirmAfter: 1 << 62}
	u := &UserReport{Resource: "customers", Query: "cus_1"}
	res, err := e.CheckUser(ctx, u, UserOptions{Fix: true, Brake: noLimit{},
		Table:   func(string) *localstate.Table { return tbl },
		Prepare: func(ctx context.Context, e *Engine, t *localstate.Table) (*Resource, error) { return e.Prepare(ctx, t) }})
	if err != nil {
		t.Fatalf("check-user --fix failed: %v", err)
	}
	if len(u.Drift) != 1 || !u.Drift[0].Conflict || u.Drift[0].Applied || u.Drift[0].Reason != ReasonDeletedSinceScan {
		t.Errorf("drift %+v; want one conflict, deleted since the scan", u.Drift)
	}
	if u.Applied || u.ExitCode != ExitDrift {
		t.Errorf("applied %v, exit %d; want not applied, exit 2", u.Applied, u.ExitCode)
	}
	if res != nil && res.Summaries()["customers"].Conflicts != 1 {
		t.Errorf("summary %+v, want 1 conflict", *res.Summaries()["customers"])
	}
	if len(s.applied) != 0 {
		t.Errorf("written: %+v", s.applied)
	}
	t.Logf("verdict %s: %s", u.Verdict, u.Message)
}

// TestVanishedConflictAndIgnore: an ignore rule for a column does not drop
// a deleted-since-the-scan conflict (it has no fields to ignore); one for
// its record does, and the conflict then counts no more.
func TestVanishedConflictAndIgnore(t *testing.T) {
	for rule, want := range map[string]int{"customers/*/email\n": 1, "customers/cus_3\n": 0} {
		p, s := fixture()
		_, res := compare(t, p, &vanishStore{memStore: s, gone: "cus_3"}, customersTable(), ModeDiff)
		rules, err := ReadIgnoreFile(strings.NewReader(rule), ".reconctlignore")
		if err != nil {
			t.Fatal(err)
		}
		res.Ignore(rules)
		kept := 0
		for _, d := range res.Drift {
			if d.ID == "cus_3" && d.Conflict {
				kept++
			}
		}
		if kept != want || res.Conflicts() != want || res.Summaries()["customers"].Conflicts != want {
			t.Errorf("rule %q: %d conflict items, %d conflicts (summary %d); want %d", rule, kept, res.Conflicts(), res.Summaries()["customers"].Conflicts, want)
		}
	}
}
