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
