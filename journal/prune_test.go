package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

// bigReport is a diff report with n changed items, as -o json prints it.
func bigReport(runID string, n int) (*reconcile.Report, []byte) {
	rep := &reconcile.Report{Command: "diff", RunID: runID, Summary: map[string]*reconcile.ResourceSummary{}}
	for i := range n {
		rep.Drift = append(rep.Drift, reconcile.Drift{Resource: "customers", ID: fmt.Sprintf("cus_%07d", i), Kind: "changed", RemoteStatus: "present", Action: "update",
			Fields: []reconcile.FieldDiff{{Name: "email", Path: "email", Local: fmt.Sprintf("old%d@example.com", i), Remote: fmt.Sprintf("user%d@example.com", i)}}})
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	return rep, b
}

// TestReportStoredOnceCompressed, on every kind: a run's report comes back
// byte for byte (several parts of reconctl_reports when large), is kept
// compressed and not in report_json, and the drift index keeps the items
// without a second copy of their fields.
func TestReportStoredOnceCompressed(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		for _, n := range []int{3, 40_000} {
			id := fmt.Sprintf("r_big%d", n)
			must(t, j.StartRun(ctx, Run{ID: id, Command: "diff"}))
			rep, js := bigReport(id, n)
			must(t, j.FinishRun(ctx, id, Finish{Status: StatusDrift, ExitCode: 2, Report: rep, ReportJSON: js}))
			_, got, err := j.GetRun(ctx, id)
			must(t, err)
			if !bytes.Equal(got, js) {
				t.Fatalf("%d items: the report did not come back byte for byte (%d bytes, want %d)", n, len(got), len(js))
			}
			var stored, parts int
			var nullCol bool
			must(t, j.DB().QueryRowContext(ctx, j.d.bind(`SELECT coalesce(sum(length(data)), 0), count(*) FROM reconctl_reports WHERE run_id = ?`), id).Scan(&stored, &parts))
			must(t, j.DB().QueryRowContext(ctx, j.d.bind(`SELECT report_json IS NULL FROM reconctl_runs WHERE run_id = ?`), id).Scan(&nullCol))
			if !nullCol || stored == 0 || n > 1000 && stored*5 > len(js) {
				t.Errorf("%d items: report_json NULL %v, %d bytes stored for a %d-byte report", n, nullCol, stored, len(js))
			}
			if n > 1000 && parts < 2 && stored > reportPart {
				t.Errorf("%d bytes stored in one part, more than reportPart", stored)
			}
			var withFields, items int
			must(t, j.DB().QueryRowContext(ctx, j.d.bind(`SELECT count(fields_json), count(*) FROM reconctl_drift WHERE run_id = ?`), id).Scan(&withFields, &items))
			if items != n || withFields != 0 {
				t.Errorf("%d items: drift index has %d rows, %d with fields", n, items, withFields)
			}
		}
		// Finishing again replaces the report.
		rep, js := bigReport("r_big3", 1)
		must(t, j.FinishRun(ctx, "r_big3", Finish{Status: StatusDrift, ExitCode: 2, Report: rep, ReportJSON: js}))
		if _, got, _ := j.GetRun(ctx, "r_big3"); !bytes.Equal(got, js) {
			t.Errorf("a second FinishRun: %s", got)
		}
	})
}

// TestLegacyReportStillRead: a run an older reconctl recorded, its report
// in report_json, is printed as it was.
func TestLegacyReportStillRead(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		must(t, j.StartRun(ctx, Run{ID: "r_old", Command: "diff"}))
		must(t, execq(ctx, j, `UPDATE reconctl_runs SET status = 'ok', report_json = ? WHERE run_id = ?`, `{"command":"diff"}`, "r_old"))
		if _, got, err := j.GetRun(ctx, "r_old"); err != nil || string(got) != `{"command":"diff"}` {
			t.Fatalf("legacy report: %q, %v", got, err)
		}
	})
}

// TestPrune, on every kind: runs older than the cutoff go with their drift
// items and reports; newer runs, a run still running, checkpoints, versions
// and the idempotency rows of events the provider still keeps stay; rows of
// events past the provider's retention go once their run is gone; a
// provider whose retention is unknown keeps all its rows.
func TestPrune(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		now := time.Now().UTC()
		day := 24 * time.Hour
		start := func(id, cmd string, age time.Duration, finish bool) {
			must(t, j.StartRun(ctx, Run{ID: id, Command: cmd, StartedAt: now.Add(-age)}))
			if finish {
				rep, js := bigReport(id, 2)
				must(t, j.FinishRun(ctx, id, Finish{Status: StatusDrift, ExitCode: 2, Report: rep, ReportJSON: js}))
			}
		}
		start("r_old1", "diff", 100*day, true)
		start("r_old2", "replay", 95*day, true)
		start("r_old3", "replay", 91*day, true)
		start("r_stuck", "resync", 120*day, false) // still marked running
		start("r_new", "diff", 10*day, true)
		ev := func(prov, id, run string, age time.Duration) EventRow {
			return EventRow{Provider: prov, EventID: id, RunID: run, Type: "customer.updated", Created: now.Add(-age), Outcome: OutcomeApplied}
		}
		must(t, j.RecordEvents(ctx, nil, []EventRow{
			ev("stripe", "evt_gone", "r_old2", 94*day),  // past retention, run pruned: deleted
			ev("stripe", "evt_kept", "r_old3", 20*day),  // inside retention: kept though its run goes
			ev("stripe", "evt_newrun", "r_new", 40*day), // its run stays: kept
			ev("other", "evt_other", "r_old2", 94*day),  // retention unknown: kept
		}))
		must(t, j.SetCheckpoint(ctx, nil, "stripe", "evt_kept", now.Add(-95*day), "r_old2"))
		must(t, j.RecordVersion(ctx, nil, "stripe", "customers", "cus_1", now.Add(-95*day), "evt_gone", "replay r_old2"))

		p, err := j.Prune(ctx, now.Add(-90*day), map[string]time.Time{"stripe": now.Add(-30 * day)})
		must(t, err)
		if p.Runs != 3 || p.ByCommand["diff"] != 1 || p.ByCommand["replay"] != 2 || p.DriftItems != 6 || p.Events != 1 ||
			strings.Join(p.EventsKeptFor, ",") != "other" {
			t.Errorf("pruned %+v", p)
		}
		runs, err := j.ListRuns(ctx, Filter{Limit: -1})
		must(t, err)
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.RunID)
		}
		if strings.Join(ids, ",") != "r_new,r_stuck" {
			t.Errorf("runs left: %v", ids)
		}
		for _, tbl := range []string{"reconctl_drift", "reconctl_reports"} {
			var n int
			must(t, j.DB().QueryRowContext(ctx, `SELECT count(*) FROM `+tbl+` WHERE run_id LIKE 'r_old%'`).Scan(&n))
			if n != 0 {
				t.Errorf("%s: %d rows of pruned runs left", tbl, n)
			}
		}
		got, err := j.EventsProcessed(ctx, "stripe", "", []string{"evt_gone", "evt_kept", "evt_newrun"})
		must(t, err)
		if _, ok := got["evt_gone"]; ok || got["evt_kept"] != OutcomeApplied || got["evt_newrun"] != OutcomeApplied {
			t.Errorf("idempotency rows left: %v", got)
		}
		if o, _ := j.EventsProcessed(ctx, "other", "", []string{"evt_other"}); o["evt_other"] != OutcomeApplied {
			t.Errorf("the row of a provider with an unknown retention was deleted")
		}
		if id, _, found, err := j.Checkpoint(ctx, "stripe"); err != nil || !found || id != "evt_kept" {
			t.Errorf("checkpoint: %q %v %v", id, found, err)
		}
		if _, _, found, err := j.Version(ctx, nil, "stripe", "customers", "cus_1"); err != nil || !found {
			t.Errorf("version: %v %v", found, err)
		}
		if _, got, err := j.GetRun(ctx, "r_new"); err != nil || len(got) == 0 {
			t.Errorf("the kept run lost its report: %v", err)
		}
		// Later, with evt_kept past the retention, its row goes too: its run is gone.
		p, err = j.Prune(ctx, now.Add(-90*day), map[string]time.Time{"stripe": now.Add(-10 * day)})
		must(t, err)
		if p.Runs != 0 || p.Events != 1 {
			t.Errorf("second prune %+v", p)
		}
	})
}
