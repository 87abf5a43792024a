package journal

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

// A multi-tenant run's tenants and its drift items' tenants are journaled
// on every kind; ListRuns filters by tenant; TenantStates says which failed
// last and when each last succeeded.
func TestTenantRuns(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		msg := "stripe rejected the API key (401)"
		runs := []struct {
			id      string
			at      time.Time
			tenants []reconcile.TenantResult
			drift   []reconcile.Drift
		}{
			{"r_1", t0, []reconcile.TenantResult{{Tenant: "acct_a", ExitCode: 2, Summary: sum(10, 2)}, {Tenant: "acct_b", ExitCode: 0, Summary: sum(4, 0)}},
				[]reconcile.Drift{{Resource: "customers", ID: "cus_1", Kind: "changed", Tenant: "acct_a"}, {Resource: "customers", ID: "cus_2", Kind: "missing_local", Tenant: "acct_a"}}},
			{"r_2", t0.Add(time.Hour), []reconcile.TenantResult{{Tenant: "acct_b", ExitCode: 1, Error: &msg}, {Tenant: "acct_c", ExitCode: 2, Summary: sum(8, 6)}},
				[]reconcile.Drift{{Resource: "customers", ID: "cus_9", Kind: "changed", Tenant: "acct_c"}}},
		}
		for _, r := range runs {
			if err := j.StartRun(ctx, Run{ID: r.id, Command: "diff", StartedAt: r.at}); err != nil {
				t.Fatal(err)
			}
			rep := &reconcile.Report{Command: "diff", RunID: r.id, Drift: r.drift, Tenants: r.tenants, Summary: map[string]*reconcile.ResourceSummary{}}
			if err := j.FinishRun(ctx, r.id, Finish{FinishedAt: r.at.Add(time.Minute), Status: StatusDrift, ExitCode: 2, Report: rep}); err != nil {
				t.Fatal(err)
			}
			if err := j.RecordTenants(ctx, r.id, "diff", r.at, r.at.Add(time.Minute), rep); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := j.DB().QueryContext(ctx, j.d.bind(`SELECT object_id, tenant FROM reconctl_drift ORDER BY object_id`))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for rows.Next() {
			var id, tenant string
			if err := rows.Scan(&id, &tenant); err != nil {
				t.Fatal(err)
			}
			got[id] = tenant
		}
		rows.Close()
		if got["cus_1"] != "acct_a" || got["cus_2"] != "acct_a" || got["cus_9"] != "acct_c" {
			t.Errorf("drift tenants = %v", got)
		}
		for tenant, want := range map[string]int{"acct_a": 1, "acct_b": 2, "acct_c": 1, "acct_z": 0} {
			list, err := j.ListRuns(ctx, Filter{Tenant: tenant, Limit: -1})
			if err != nil || len(list) != want {
				t.Errorf("ListRuns(tenant %s) = %d runs, %v; want %d", tenant, len(list), err, want)
			}
		}
		if list, err := j.ListRuns(ctx, Filter{Tenant: "acct_b", Command: "resync"}); err != nil || len(list) != 0 {
			t.Errorf("ListRuns(tenant, command resync) = %v, %v", list, err)
		}
		st, err := j.TenantStates(ctx, "diff")
		if err != nil {
			t.Fatal(err)
		}
		if b := st["acct_b"]; !b.LastFailed || !b.LastSuccess.Equal(t0) || !b.LastRun.Equal(t0.Add(time.Hour)) {
			t.Errorf("acct_b = %+v", b)
		}
		if a := st["acct_a"]; a.LastFailed || !a.LastSuccess.Equal(t0) || a.Records != 10 {
			t.Errorf("acct_a = %+v", a)
		}
		if other, _ := j.TenantStates(ctx, "resync"); len(other) != 0 {
			t.Errorf("resync states = %v", other)
		}
		// A third run in the same second as the second: the journal's own
		// order says which is the latest.
		rep := &reconcile.Report{Tenants: []reconcile.TenantResult{{Tenant: "acct_c", ExitCode: 0, Summary: sum(8, 0)}}}
		if err := j.StartRun(ctx, Run{ID: "r_3", Command: "diff", StartedAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := j.FinishRun(ctx, "r_3", Finish{Status: StatusOK, Report: rep}); err != nil {
			t.Fatal(err)
		}
		if err := j.RecordTenants(ctx, "r_3", "diff", t0.Add(time.Hour), t0.Add(time.Hour), rep); err != nil {
			t.Fatal(err)
		}
		health, err := j.Health(ctx, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		got2 := map[string]HealthRow{}
		for _, h := range health {
			got2[h.Tenant] = h
		}
		if a := got2["acct_a"]; a.Resource != "customers" || a.GapRate != 0.2 || !a.Alert || a.Records != 10 || a.Drift != 2 || a.FailuresInARow != 0 {
			t.Errorf("acct_a health = %+v", a)
		}
		if b := got2["acct_b"]; b.FailuresInARow != 1 || b.LastSuccess == nil || !b.LastSuccess.Equal(t0) || !b.LastRun.Equal(t0.Add(time.Hour)) || b.Alert {
			t.Errorf("acct_b health = %+v", b)
		}
		if c := got2["acct_c"]; c.GapRate != 0 || c.PreviousGapRate == nil || *c.PreviousGapRate != 0.75 || c.Alert {
			t.Errorf("acct_c health = %+v (latest of the same second is r_3)", c)
		}
	})
}

func sum(records, drift int) map[string]*reconcile.ResourceSummary {
	return map[string]*reconcile.ResourceSummary{"customers": {Remote: records, Local: records, Changed: drift, InSync: records - drift}}
}

// A tenant's apply records its row in its own transaction: committed, the
// row is there (a run killed afterwards shows which tenants' writes
// landed); rolled back, it is not; RecordTenants replaces it.
func TestRecordTenantApplied(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		if err := j.StartRun(ctx, Run{ID: "r_1", Command: "diff", StartedAt: at}); err != nil {
			t.Fatal(err)
		}
		count := func(tenant string) (n int) {
			t.Helper()
			if err := j.DB().QueryRowContext(ctx, j.d.bind(`SELECT count(*) FROM reconctl_tenant_runs WHERE run_id = ? AND tenant = ?`), "r_1", tenant).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		tr := reconcile.TenantResult{Tenant: "acct_a", ExitCode: 0, Summary: sum(3, 1)}
		if err := localstate.InTx(ctx, j.Begin, func(tx localstate.Tx) error { return j.RecordTenantApplied(ctx, tx, "r_1", "diff", at, tr, nil) }); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("rolled back")
		tr.Tenant = "acct_b"
		if err := localstate.InTx(ctx, j.Begin, func(tx localstate.Tx) error {
			if err := j.RecordTenantApplied(ctx, tx, "r_1", "diff", at, tr, nil); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if count("acct_a") != 1 || count("acct_b") != 0 {
			t.Errorf("after commit and rollback: acct_a %d rows, acct_b %d", count("acct_a"), count("acct_b"))
		}
		// Twice (a re-run of the same tenant's apply) keeps one row.
		tr.Tenant = "acct_a"
		if err := localstate.InTx(ctx, j.Begin, func(tx localstate.Tx) error { return j.RecordTenantApplied(ctx, tx, "r_1", "diff", at, tr, nil) }); err != nil || count("acct_a") != 1 {
			t.Errorf("again: %v, %d rows", err, count("acct_a"))
		}
		rep := &reconcile.Report{Tenants: []reconcile.TenantResult{{Tenant: "acct_a", ExitCode: 2}, {Tenant: "acct_c", ExitCode: 0}}}
		if err := j.RecordTenants(ctx, "r_1", "diff", at, at, rep); err != nil || count("acct_a") != 1 || count("acct_c") != 1 {
			t.Errorf("RecordTenants: %v", err)
		}
	})
}

// Pruning a run deletes its tenant rows too.
func TestPruneTenantRuns(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		old, recent := time.Now().Add(-100*24*time.Hour).UTC().Truncate(time.Second), time.Now().UTC().Truncate(time.Second)
		for id, at := range map[string]time.Time{"r_old": old, "r_new": recent} {
			rep := &reconcile.Report{Tenants: []reconcile.TenantResult{{Tenant: "acct_a", ExitCode: 0}}}
			if err := j.StartRun(ctx, Run{ID: id, Command: "diff", StartedAt: at}); err != nil {
				t.Fatal(err)
			}
			if err := j.FinishRun(ctx, id, Finish{Status: StatusOK, Report: rep}); err != nil {
				t.Fatal(err)
			}
			if err := j.RecordTenants(ctx, id, "diff", at, at, rep); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := j.Prune(ctx, time.Now().Add(-90*24*time.Hour), nil); err != nil {
			t.Fatal(err)
		}
		list, err := j.ListRuns(ctx, Filter{Tenant: "acct_a", Limit: -1})
		if err != nil || len(list) != 1 || list[0].RunID != "r_new" {
			t.Fatalf("runs of acct_a after the prune: %v, %v", list, err)
		}
		var n int
		if err := j.DB().QueryRowContext(ctx, `SELECT count(*) FROM reconctl_tenant_runs`).Scan(&n); err != nil || n != 1 {
			t.Errorf("tenant rows after the prune: %d, %v", n, err)
		}
	})
}
