package report

import (
	"strings"
	"testing"

	"github.com/reconctl/reconctl/reconcile"
)

// A dry-run diff whose remaining items --apply cannot fix must not tell the
// operator to run --apply; a mix says how many it would fix.
func TestVerdictNothingFixable(t *testing.T) {
	none := reconcile.Drift{Resource: "customers", ID: "cus_1", Kind: reconcile.KindMissingRemote, RemoteStatus: reconcile.RemoteExists, Action: reconcile.ActionNone}
	del := reconcile.Drift{Resource: "customers", ID: "cus_2", Kind: reconcile.KindMissingRemote, RemoteStatus: reconcile.RemoteDeleted, Action: reconcile.ActionDelete}

	got := Verdict(&reconcile.Report{Command: "diff", DryRun: true, Drift: []reconcile.Drift{none, none}, ExitCode: 2})
	if strings.Contains(got, "--apply to fix") || !strings.Contains(got, "none that --apply can fix") || !strings.Contains(got, "--write-ignore") {
		t.Errorf("all action none: %q", got)
	}
	got = Verdict(&reconcile.Report{Command: "diff", DryRun: true, Drift: []reconcile.Drift{none, del}, ExitCode: 2})
	if !strings.Contains(got, "Run again with --apply to fix 1 of them; the other 1 need investigating") {
		t.Errorf("mixed: %q", got)
	}
	got = Verdict(&reconcile.Report{Command: "diff", DryRun: true, Drift: []reconcile.Drift{del}, ExitCode: 2})
	if got != "1 drift item. Run again with --apply to fix it. Exit 2." {
		t.Errorf("all fixable: %q", got)
	}
}

// The mass-delete guard's refusal says why, not "exceed --max-changes".
func TestVerdictMassDelete(t *testing.T) {
	b := reconcile.MassDeleteCheck("customers", 9, 10)
	if b == nil {
		t.Fatal("9 of 10 deletes not refused")
	}
	got := Verdict(&reconcile.Report{Command: "diff", Brake: b, ExitCode: 3})
	if !strings.Contains(got, "the plan deletes 9 of the 10 live local customers records") || strings.Contains(got, "exceed --max-changes") {
		t.Errorf("%q", got)
	}
}

// The --max-changes refusal names the limit once, and the setting beside it
// only when it is a share of the rows.
func TestVerdictBrakeLimit(t *testing.T) {
	for _, c := range []struct {
		setting string
		want    string
	}{
		{"2", "exceed --max-changes (limit 2). Nothing was written. Exit 3."},
		{"", "exceed --max-changes (limit 2). Nothing was written. Exit 3."},
		{"10%", "exceed --max-changes (limit 2, 10%). Nothing was written. Exit 3."},
	} {
		b := &reconcile.BrakeRefusal{Resource: "customers", Planned: 3, Limit: 2, Setting: c.setting}
		got := Verdict(&reconcile.Report{Command: "resync", Brake: b, ExitCode: 3})
		if !strings.HasSuffix(got, c.want) {
			t.Errorf("setting %q: %q, want it to end %q", c.setting, got, c.want)
		}
	}
}
