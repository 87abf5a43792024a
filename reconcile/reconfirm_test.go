package reconcile

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// movedProvider lists one version of each record and, from Get, serves
// another: the provider changed them after their page was read.
type movedProvider struct {
	memProvider
	current map[string]providers.Record // id -> the record now; absent: deleted
	gets    atomic.Int64
}

func (p *movedProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	p.gets.Add(1)
	if r, ok := p.current[id]; ok {
		return r, providers.StatusPresent, nil
	}
	return providers.Record{}, providers.StatusDeleted, nil
}

func withUpd(r providers.Record, at string) providers.Record {
	r.UpdatedAt, _ = time.Parse(time.RFC3339, at)
	return r
}

func movedFixture() (*movedProvider, *memStore, *localstate.Table) {
	p := &movedProvider{memProvider: memProvider{records: map[string][]providers.Record{"customers": {
		rec("cus_1", `{"plan":"pro"}`),                                  // now back to free: in sync
		rec("cus_2", `{"plan":"pro"}`),                                  // now team
		rec("cus_3", `{"plan":"pro"}`),                                  // now deleted
		rec("cus_new", `{"plan":"pro"}`),                                // now deleted
		rec("cus_n2", `{"plan":"pro"}`),                                 // now team
		withUpd(rec("cus_4", `{"plan":"pro"}`), "2026-01-02T00:00:00Z"), // listed copy newer than the local row: not re-read
	}}}, current: map[string]providers.Record{
		"cus_1":  rec("cus_1", `{"plan":"free"}`),
		"cus_2":  rec("cus_2", `{"plan":"team"}`),
		"cus_n2": rec("cus_n2", `{"plan":"team"}`),
		"cus_4":  rec("cus_4", `{"plan":"gone-wrong"}`),
	}}
	s := &memStore{cols: []string{"plan", "updated_at"}, rows: map[string]map[string]any{
		"cus_1": {"plan": "free"}, "cus_2": {"plan": "free"}, "cus_3": {"plan": "free"},
		"cus_4": {"plan": "free", "updated_at": "2026-01-01T00:00:00Z"},
	}}
	tbl := &localstate.Table{Resource: "customers", Name: "users", UpdatedAt: "updated_at", Fields: []localstate.Field{{Column: "plan", Path: "plan"}}}
	return p, s, tbl
}

// TestReconfirm: planned creates and updates whose listed copy is old are
// re-read and re-planned from the fresh copy before anything is written.
func TestReconfirm(t *testing.T) {
	ctx := context.Background()
	p, s, tbl := movedFixture()
	e, res := compare(t, p, s, tbl, ModeDiff)
	if err := e.Reconfirm(ctx, res); err != nil { // ReconfirmAfter 0: every one
		t.Fatal(err)
	}
	if n := p.gets.Load(); n != 5 {
		t.Errorf("%d re-reads, want 5 (cus_4's listed copy is newer than its local row)", n)
	}
	sum := res.Summaries()["customers"]
	if sum.Reconfirmed != 5 || sum.Changed != 2 || sum.MissingLocal != 1 || sum.MissingRemote != 1 || sum.InSync != 1 {
		t.Errorf("summary %+v", *sum)
	}
	kinds := map[string]string{}
	for _, d := range res.Drift {
		kinds[d.ID] = d.Kind + "/" + d.Action
	}
	want := map[string]string{"cus_2": "changed/update", "cus_3": "missing_remote/delete", "cus_n2": "missing_local/create", "cus_4": "changed/update"}
	if len(kinds) != len(want) {
		t.Errorf("drift %v, want %v", kinds, want)
	}
	for id, k := range want {
		if kinds[id] != k {
			t.Errorf("%s: %s, want %s", id, kinds[id], k)
		}
	}
	if err := e.Apply(ctx, res); err != nil {
		t.Fatal(err)
	}
	for id, plan := range map[string]any{"cus_1": "free", "cus_2": "team", "cus_n2": "team", "cus_4": "pro"} {
		if got := s.rows[id]["plan"]; got != plan {
			t.Errorf("%s: plan %v, want %v", id, got, plan)
		}
	}
	for _, id := range []string{"cus_3", "cus_new"} {
		if _, ok := s.rows[id]; ok {
			t.Errorf("%s: still (or now) local", id)
		}
	}
}

// TestReconfirmFresh: a listed copy younger than ReconfirmAfter is written
// as listed, without a re-read.
func TestReconfirmFresh(t *testing.T) {
	p, s, tbl := movedFixture()
	e, res := compare(t, p, s, tbl, ModeDiff)
	e.ReconfirmAfter = time.Hour
	if err := e.Reconfirm(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	if n := p.gets.Load(); n != 0 {
		t.Errorf("%d provider reads, want none", n)
	}
	if sum := res.Summaries()["customers"]; sum.Reconfirmed != 0 || sum.Changed != 4 || sum.MissingLocal != 2 {
		t.Errorf("summary %+v", *sum)
	}
}

// TestReconfirmOrder: after the re-reads, the drift list and the plan are
// in the order, and of the kinds, a comparison of the fresh copies gives:
// an update the re-read turned into a deletion is a missing_remote item
// among the others (by kind, then id), its delete planned with the
// deletions.
func TestReconfirmOrder(t *testing.T) {
	ctx := context.Background()
	p, s, tbl := movedFixture()
	s.rows["cus_0"] = map[string]any{"plan": "free"} // not listed, deleted at the provider
	s.rows["cus_9"] = map[string]any{"plan": "free"} // not listed, deleted at the provider
	e, res := compare(t, p, s, tbl, ModeDiff)
	if err := e.Reconfirm(ctx, res); err != nil {
		t.Fatal(err)
	}
	// The fresh copies, listed: what a comparison run now would plan
	// (cus_4 keeps its listed copy: Reconfirm does not re-read it).
	fresh := &memProvider{records: map[string][]providers.Record{"customers": {
		p.current["cus_1"], p.current["cus_2"], p.current["cus_n2"], withUpd(rec("cus_4", `{"plan":"pro"}`), "2026-01-02T00:00:00Z"),
	}}}
	_, want := compare(t, fresh, s, tbl, ModeDiff)
	items := func(r *Result) []string {
		var out []string
		for _, d := range r.Drift {
			out = append(out, d.ID+":"+d.Kind+"/"+d.Action)
		}
		return out
	}
	plan := func(r *Result) []string {
		var out []string
		for _, pe := range r.Resources[0].plan {
			id := ""
			if pe.drift >= 0 {
				id = r.Drift[pe.drift].ID
			}
			out = append(out, string(pe.op)+" "+pe.key+"="+id)
		}
		return out
	}
	if got, w := items(res), items(want); !slices.Equal(got, w) {
		t.Errorf("drift after the re-reads:\n %v\nwant (a comparison of the fresh copies):\n %v", got, w)
	}
	if got, w := plan(res), plan(want); !slices.Equal(got, w) {
		t.Errorf("plan after the re-reads:\n %v\nwant:\n %v", got, w)
	}
	if got, w := res.Summaries()["customers"], want.Summaries()["customers"]; got.Changed != w.Changed || got.MissingRemote != w.MissingRemote || got.MissingLocal != w.MissingLocal || got.InSync != w.InSync {
		t.Errorf("summary %+v, want %+v", *got, *w)
	}
}
