package journal

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

// changedIn is n changed items of tenant in customers, each touching field
// (and every third also email).
func changedIn(tenant, field string, n int) []reconcile.Drift {
	var out []reconcile.Drift
	for i := range n {
		fs := []reconcile.FieldDiff{{Name: field, Path: "metadata." + field}}
		if i%3 == 0 {
			fs = append(fs, reconcile.FieldDiff{Name: "email", Path: "email"})
		}
		out = append(out, reconcile.Drift{Resource: "customers", ID: fmt.Sprintf("cus_%s_%d", tenant, i), Kind: "changed", Fields: fs, Tenant: tenant})
	}
	return out
}

// The journal keeps, per tenant run and resource, how many changed items
// touched each field; health names the field when most changed items of the
// latest run touch it and the gap rate jumped (a mapping regression).
func TestHealthFieldConcentration(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		record := func(id string, at time.Time, tenants []reconcile.TenantResult, drift []reconcile.Drift) {
			t.Helper()
			must(t, j.StartRun(ctx, Run{ID: id, Command: "diff", StartedAt: at}))
			rep := &reconcile.Report{Command: "diff", RunID: id, Drift: drift, Tenants: tenants, Summary: map[string]*reconcile.ResourceSummary{}}
			must(t, j.FinishRun(ctx, id, Finish{FinishedAt: at.Add(time.Minute), Status: StatusDrift, ExitCode: 2, Report: rep}))
			must(t, j.RecordTenants(ctx, id, "diff", at, at.Add(time.Minute), rep))
		}
		// r_1: a low gap everywhere. r_2: acct_a's gap jumps, 9 of its 10
		// changed items touch plan; acct_b's jumps too but spread over fields;
		// acct_c's is concentrated in plan but did not jump.
		record("r_1", t0, []reconcile.TenantResult{
			{Tenant: "acct_a", ExitCode: 2, Summary: sum(100, 1)}, {Tenant: "acct_b", ExitCode: 2, Summary: sum(100, 1)}, {Tenant: "acct_c", ExitCode: 2, Summary: sum(100, 10)},
		}, append(append(changedIn("acct_a", "plan", 1), changedIn("acct_b", "plan", 1)...), changedIn("acct_c", "plan", 10)...))
		var spread []reconcile.Drift
		for i, f := range []string{"plan", "email", "name", "phone", "plan", "email", "name", "phone", "plan", "email"} {
			spread = append(spread, reconcile.Drift{Resource: "customers", ID: fmt.Sprintf("cus_b_%d", i), Kind: "changed", Fields: []reconcile.FieldDiff{{Name: f}}, Tenant: "acct_b"})
		}
		a2 := changedIn("acct_a", "plan", 9)
		a2 = append(a2, reconcile.Drift{Resource: "customers", ID: "cus_a_other", Kind: "changed", Fields: []reconcile.FieldDiff{{Name: "name"}}, Tenant: "acct_a"})
		record("r_2", t0.Add(time.Hour), []reconcile.TenantResult{
			{Tenant: "acct_a", ExitCode: 2, Summary: sum(100, 10)}, {Tenant: "acct_b", ExitCode: 2, Summary: sum(100, 10)}, {Tenant: "acct_c", ExitCode: 2, Summary: sum(100, 10)},
		}, append(append(a2, spread...), changedIn("acct_c", "plan", 10)...))

		health, err := j.Health(ctx, 0)
		must(t, err)
		got := map[string]HealthRow{}
		for _, h := range health {
			got[h.Tenant] = h
		}
		if n := got["acct_a"].Note; !strings.Contains(n, `concentrated in one field: plan (9 of 10 changed records)`) || !strings.Contains(n, "mapping regression") {
			t.Errorf("acct_a note = %q, want the field named", n)
		}
		if n := got["acct_b"].Note; strings.Contains(n, "concentrated") || !strings.Contains(n, "jumped") {
			t.Errorf("acct_b note = %q: spread over fields, only the jump", n)
		}
		if n := got["acct_c"].Note; strings.Contains(n, "concentrated") {
			t.Errorf("acct_c note = %q: no jump, no mapping regression", n)
		}
		// RecordTenantApplied (a tenant's apply) keeps the field counts too.
		must(t, j.StartRun(ctx, Run{ID: "r_3", Command: "diff", StartedAt: t0.Add(2 * time.Hour)}))
		tx, err := j.Begin(ctx)
		must(t, err)
		must(t, j.RecordTenantApplied(ctx, tx, "r_3", "diff", t0.Add(2*time.Hour), reconcile.TenantResult{Tenant: "acct_d", ExitCode: 2, Summary: sum(10, 5)}, changedIn("acct_d", "plan", 5)))
		must(t, tx.Commit())
		var fields string
		must(t, j.DB().QueryRowContext(ctx, j.d.bind(`SELECT fields_json FROM reconctl_tenant_runs WHERE run_id = ? AND tenant = ?`), "r_3", "acct_d").Scan(&fields))
		if fields != `{"customers":{"email":2,"plan":5}}` {
			t.Errorf("fields_json = %s", fields)
		}
	})
}

// A tenant replay's idempotency rows (provider/tenant) are pruned by their
// provider's event retention, not kept forever as an unknown provider's.
func TestPruneTenantEvents(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		now := time.Now().UTC()
		day := 24 * time.Hour
		must(t, j.StartRun(ctx, Run{ID: "r_old", Command: "replay", StartedAt: now.Add(-100 * day)}))
		must(t, j.FinishRun(ctx, "r_old", Finish{Status: StatusOK}))
		must(t, j.RecordEvents(ctx, nil, []EventRow{
			{Provider: TenantKey("stripe", "acct_1"), EventID: "evt_gone", RunID: "r_old", Type: "customer.updated", Created: now.Add(-94 * day), Outcome: OutcomeApplied},
			{Provider: TenantKey("stripe", "acct_1"), EventID: "evt_kept", RunID: "r_old", Type: "customer.updated", Created: now.Add(-20 * day), Outcome: OutcomeApplied},
		}))
		p, err := j.Prune(ctx, now.Add(-90*day), map[string]time.Time{"stripe": now.Add(-30 * day)})
		must(t, err)
		if p.Events != 1 || len(p.EventsKeptFor) != 0 {
			t.Errorf("pruned %+v", p)
		}
		got, err := j.EventsProcessed(ctx, "stripe/acct_1", "", []string{"evt_gone", "evt_kept"})
		must(t, err)
		if _, ok := got["evt_gone"]; ok || got["evt_kept"] != OutcomeApplied {
			t.Errorf("left: %v", got)
		}
	})
}

func TestTenantKey(t *testing.T) {
	if TenantKey("stripe", "") != "stripe" || TenantKey("stripe", "acct_1") != "stripe/acct_1" {
		t.Errorf("TenantKey: %q %q", TenantKey("stripe", ""), TenantKey("stripe", "acct_1"))
	}
}
