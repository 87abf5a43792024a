package reconcile

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// seqProvider serves, from its n-th Get, versions[n] (the last one from
// then on; one without an id: deleted): the record changes at the provider between check-user's lookup
// and its re-read before writing.
type seqProvider struct {
	memProvider
	versions []providers.Record
	gets     atomic.Int64
}

func (p *seqProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	n := int(p.gets.Add(1)) - 1
	r := p.versions[min(n, len(p.versions)-1)]
	if r.ID == "" {
		return r, providers.StatusDeleted, nil
	}
	return r, providers.StatusPresent, nil
}

type noLimit struct{}

func (noLimit) Limit(int) int  { return -1 }
func (noLimit) String() string { return "unlimited" }

// TestCheckUserFixRereads: check-user --fix re-reads the user from the
// provider before writing (not the copy its lookup read): the fix writes
// the fresh value, and reconfirmed counts that real read.
func TestCheckUserFixRereads(t *testing.T) {
	ctx := context.Background()
	p := &seqProvider{memProvider: memProvider{records: map[string][]providers.Record{"customers": nil}},
		versions: []providers.Record{rec("cus_1", `{"plan":"pro"}`), rec("cus_1", `{"plan":"team"}`)}}
	s := &memStore{cols: []string{"plan"}, rows: map[string]map[string]any{"cus_1": {"plan": "free"}}}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "plan", Path: "plan"}}}
	e := &Engine{Provider: p, Store: s} // ReconfirmAfter 0: every listed copy is re-read
	u := &UserReport{Resource: "customers", Query: "cus_1"}
	res, err := e.CheckUser(ctx, u, UserOptions{Fix: true, Brake: noLimit{},
		Table:   func(string) *localstate.Table { return tbl },
		Prepare: func(ctx context.Context, e *Engine, t *localstate.Table) (*Resource, error) { return e.Prepare(ctx, t) }})
	if err != nil {
		t.Fatal(err)
	}
	if n := p.gets.Load(); n != 2 {
		t.Errorf("%d provider reads, want 2 (the lookup, the re-read before writing)", n)
	}
	if got := s.rows["cus_1"]["plan"]; got != "team" {
		t.Errorf("plan %v, want team (the provider's value when the fix was written)", got)
	}
	if sum := res.Summaries()["customers"]; sum.Reconfirmed != 1 {
		t.Errorf("reconfirmed %d, want 1", sum.Reconfirmed)
	}
	if !u.Applied || u.ExitCode != ExitOK {
		t.Errorf("applied %v, exit %d", u.Applied, u.ExitCode)
	}
}

// TestCheckUserFixRereadDeleted: a user deleted at the provider between the
// lookup and the re-read before writing is fixed and reported as deleted:
// the verdict and drift are the fresh copy's, not the lookup's.
func TestCheckUserFixRereadDeleted(t *testing.T) {
	ctx := context.Background()
	p := &seqProvider{memProvider: memProvider{records: map[string][]providers.Record{"customers": nil}},
		versions: []providers.Record{rec("cus_1", `{"plan":"pro"}`), {}}}
	s := &memStore{cols: []string{"plan"}, rows: map[string]map[string]any{"cus_1": {"plan": "free"}, "cus_2": {"plan": "free"}}}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{{Column: "plan", Path: "plan"}}}
	e := &Engine{Provider: p, Store: s}
	u := &UserReport{Resource: "customers", Query: "cus_1"}
	if _, err := e.CheckUser(ctx, u, UserOptions{Fix: true, Brake: noLimit{}, AllowEmpty: true,
		Table:   func(string) *localstate.Table { return tbl },
		Prepare: func(ctx context.Context, e *Engine, t *localstate.Table) (*Resource, error) { return e.Prepare(ctx, t) }}); err != nil {
		t.Fatal(err)
	}
	if u.Verdict != VerdictDeleted || len(u.Drift) != 1 || u.Drift[0].Kind != KindMissingRemote || u.Drift[0].Action != ActionDelete {
		t.Errorf("verdict %s, drift %+v; want deleted_remotely, one missing_remote delete", u.Verdict, u.Drift)
	}
	if _, ok := s.rows["cus_1"]; ok {
		t.Error("cus_1 is still local")
	}
}
