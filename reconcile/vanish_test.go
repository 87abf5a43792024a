package reconcile

import (
	"context"
	"testing"

	"github.com/reconctl/reconctl/localstate"
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
