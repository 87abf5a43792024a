package journal

import (
	"context"
	"testing"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

// A diff --since run compared a window: it is the tenant's last success but
// neither its last full pass nor its gap rate (3 drifted of the 3 records
// it compared is not a 100% gap of the resource).
func TestHealthSkipsWindows(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		for i, r := range []struct {
			id   string
			args []string
			sum  map[string]*reconcile.ResourceSummary
		}{
			{"r_full", []string{"diff"}, sum(100, 1)},
			{"r_since", []string{"diff", "--since", "24h"}, sum(3, 3)},
			{"r_since2", []string{"diff", "--since=24h", "--apply"}, sum(2, 2)},
		} {
			at := t0.Add(time.Duration(i) * time.Hour)
			if err := j.StartRun(ctx, Run{ID: r.id, Command: "diff", Args: r.args, StartedAt: at}); err != nil {
				t.Fatal(err)
			}
			rep := &reconcile.Report{Command: "diff", RunID: r.id, Tenants: []reconcile.TenantResult{{Tenant: "acct_a", ExitCode: 2, Summary: r.sum}}}
			if err := j.FinishRun(ctx, r.id, Finish{FinishedAt: at.Add(time.Minute), Status: StatusDrift, ExitCode: 2, Report: rep}); err != nil {
				t.Fatal(err)
			}
			if err := j.RecordTenants(ctx, r.id, "diff", at, at.Add(time.Minute), rep); err != nil {
				t.Fatal(err)
			}
		}
		health, err := j.Health(ctx, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		if len(health) != 1 {
			t.Fatalf("health %+v", health)
		}
		h := health[0]
		if h.Alert || h.GapRate != 0.01 || h.Records != 100 || h.LastFull == nil || !h.LastFull.Equal(t0) ||
			h.LastSuccess == nil || !h.LastSuccess.Equal(t0.Add(2*time.Hour)) || !h.LastRun.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("health %+v (full %v, success %v)", h, h.LastFull, h.LastSuccess)
		}
	})
}

// TenantStates: a diff --since run is the tenant's LastWindowSuccess, not
// its LastSuccess (a full pass, which --due goes by) nor its size; its
// failure is still the latest run's. A replay always has --since and is not a
// window.
func TestTenantStatesSkipWindows(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		for i, r := range []struct {
			id, command string
			args        []string
			tenant      string
			exit        int
			sum         map[string]*reconcile.ResourceSummary
		}{
			{"r_full", "diff", []string{"diff"}, "acct_a", 2, sum(100, 1)},
			{"r_since", "diff", []string{"diff", "--since", "24h"}, "acct_a", 2, sum(3, 3)},
			{"r_since_b", "diff", []string{"diff", "--since=1h"}, "acct_b", 0, sum(2, 0)},
			{"r_since_fail", "diff", []string{"diff", "--since", "1h"}, "acct_b", 1, nil},
			{"r_replay", "replay", []string{"replay", "--since", "24h"}, "acct_a", 0, map[string]*reconcile.ResourceSummary{}},
		} {
			at := t0.Add(time.Duration(i) * time.Hour)
			if err := j.StartRun(ctx, Run{ID: r.id, Command: r.command, Args: r.args, StartedAt: at}); err != nil {
				t.Fatal(err)
			}
			rep := &reconcile.Report{Command: r.command, RunID: r.id, Tenants: []reconcile.TenantResult{{Tenant: r.tenant, ExitCode: r.exit, Summary: r.sum}}}
			if err := j.FinishRun(ctx, r.id, Finish{FinishedAt: at.Add(time.Minute), Status: StatusDrift, ExitCode: r.exit, Report: rep}); err != nil {
				t.Fatal(err)
			}
			if err := j.RecordTenants(ctx, r.id, r.command, at, at.Add(time.Minute), rep); err != nil {
				t.Fatal(err)
			}
		}
		st, err := j.TenantStates(ctx, "diff")
		if err != nil {
			t.Fatal(err)
		}
		if a := st["acct_a"]; !a.LastSuccess.Equal(t0) || a.Records != 100 || !a.LastWindowSuccess.Equal(t0.Add(time.Hour)) || !a.LastRun.Equal(t0.Add(time.Hour)) || a.LastFailed {
			t.Errorf("acct_a = %+v", a)
		}
		if b := st["acct_b"]; !b.LastSuccess.IsZero() || b.Records != 0 || !b.LastWindowSuccess.Equal(t0.Add(2*time.Hour)) || !b.LastFailed {
			t.Errorf("acct_b = %+v", b)
		}
		rst, err := j.TenantStates(ctx, "replay")
		if err != nil {
			t.Fatal(err)
		}
		if a := rst["acct_a"]; !a.LastSuccess.Equal(t0.Add(4*time.Hour)) || !a.LastWindowSuccess.IsZero() {
			t.Errorf("replay acct_a = %+v", a)
		}
	})
}
