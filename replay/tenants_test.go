package replay

import (
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

// A replay over tenants: every tenant's events with its tenant, the totals,
// the earliest since and latest until, the tenants failed first and the
// worst exit code; a tenant that never started is left out.
func TestMergeTenants(t *testing.T) {
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	part := func(since time.Time, applied, dup int) *Report {
		p := NewReport("r_1", at, "app.db", Options{})
		p.Since, p.Until = since.Format(time.RFC3339), at.Format(time.RFC3339)
		for range applied {
			p.Events = append(p.Events, Event{ID: "evt", Outcome: OutcomeApplied})
		}
		p.Summary = map[string]int{"fetched": applied + dup, OutcomeApplied: applied, OutcomeDuplicate: dup}
		p.ByType = map[string]map[string]int{"customer.created": {OutcomeApplied: applied}}
		return p
	}
	msg := "stripe: 401"
	rep := NewReport("r_1", at, "app.db", Options{})
	parts := []*Report{part(at.Add(-2*time.Hour), 2, 1), part(at.Add(-5*time.Hour), 1, 0), NewReport("r_1", at, "app.db", Options{}), nil}
	results := []TenantResult{
		{Tenant: "acct_b", Summary: parts[0].Summary, ExitCode: 0, Cursor: "evt_b"},
		{Tenant: "acct_a", Summary: parts[1].Summary, ExitCode: 2},
		{Tenant: "acct_z", ExitCode: 1, Error: &msg},
		{}, // never started
	}
	MergeTenants(rep, parts, results)
	var order []string
	for _, tr := range rep.Tenants {
		order = append(order, tr.Tenant)
	}
	if strings.Join(order, ",") != "acct_z,acct_a,acct_b" {
		t.Errorf("tenants order = %v", order)
	}
	if rep.ExitCode != reconcile.ExitError {
		t.Errorf("exit = %d, want 1 (the worst)", rep.ExitCode)
	}
	if rep.Summary[OutcomeApplied] != 3 || rep.Summary[OutcomeDuplicate] != 1 || rep.Summary["fetched"] != 4 || rep.ByType["customer.created"][OutcomeApplied] != 3 {
		t.Errorf("totals = %v %v", rep.Summary, rep.ByType)
	}
	if len(rep.Events) != 3 || rep.Events[0].Tenant != "acct_b" || rep.Events[2].Tenant != "acct_a" {
		t.Errorf("events = %+v", rep.Events)
	}
	if rep.Since != at.Add(-5*time.Hour).Format(time.RFC3339) || rep.Until != at.Format(time.RFC3339) {
		t.Errorf("window = %s .. %s", rep.Since, rep.Until)
	}
	if rep.Tenants[0].Summary == nil {
		t.Error("a failed tenant's summary is null, want {}")
	}
}
