package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/reconcile"
)

// Every line is a HELP/TYPE comment or a sample name{labels} value, each
// family's HELP and TYPE once before its samples; label values escaped.
var promLine = regexp.MustCompile(`^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+\{([a-z_]+="([^"\\]|\\.)*",?)*\} -?[0-9.e+-]+)$`)

func checkProm(t *testing.T, text string) {
	t.Helper()
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if !promLine.MatchString(l) {
			t.Errorf("not Prometheus text format: %q", l)
		}
		if strings.HasPrefix(l, "# TYPE ") {
			name := strings.Fields(l)[2]
			if seen[name] {
				t.Errorf("TYPE %s twice", name)
			}
			seen[name] = true
		}
	}
}

func TestRunMetrics(t *testing.T) {
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	msg := "401"
	rep := &reconcile.Report{Command: "diff", StartedAt: start, FinishedAt: start.Add(90 * time.Second), ExitCode: 1,
		Tenants: []reconcile.TenantResult{
			{Tenant: `acct_"1"`, ExitCode: 2, Summary: map[string]*reconcile.ResourceSummary{"customers": {Remote: 10, Local: 9, MissingLocal: 1, Changed: 2, Applied: 0}}},
			{Tenant: "acct_2", ExitCode: 1, Error: &msg, Summary: map[string]*reconcile.ResourceSummary{}},
		}}
	var b bytes.Buffer
	if err := RunMetrics(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkProm(t, out)
	for _, want := range []string{
		`reconctl_records{command="diff",tenant="acct_\"1\"",resource="customers"} 10`,
		`reconctl_drift{command="diff",tenant="acct_\"1\"",resource="customers",kind="changed"} 2`,
		`reconctl_drift{command="diff",tenant="acct_\"1\"",resource="customers",kind="missing_local"} 1`,
		`reconctl_tenant_failed{command="diff",tenant="acct_2"} 1`,
		`reconctl_tenant_exit_code{command="diff",tenant="acct_2"} 1`,
		`reconctl_last_success_timestamp_seconds{command="diff",tenant="acct_\"1\""} 1793527290`,
		`reconctl_run_duration_seconds{command="diff"} 90`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, `reconctl_last_success_timestamp_seconds{command="diff",tenant="acct_2"}`) {
		t.Error("a failed tenant has a last success in this run")
	}
	// Without tenants: one part with tenant "".
	b.Reset()
	if err := RunMetrics(&b, &reconcile.Report{Command: "resync", Summary: map[string]*reconcile.ResourceSummary{"customers": {Remote: 3}}}); err != nil {
		t.Fatal(err)
	}
	checkProm(t, b.String())
	if !strings.Contains(b.String(), `reconctl_records{command="resync",tenant="",resource="customers"} 3`) {
		t.Errorf("no tenantless records:\n%s", b.String())
	}
}

func TestHealthMetrics(t *testing.T) {
	at := time.Unix(1761991200, 0).UTC()
	h := &HealthReport{Command: "health", Tenants: []journal.HealthRow{
		{Tenant: "acct_1", Resource: "customers", LastSuccess: &at, GapRate: 0.25, Records: 8, Drift: 2, Alert: true},
		{Tenant: "acct_2", Resource: "", FailuresInARow: 3},
	}}
	var b bytes.Buffer
	if err := HealthMetrics(&b, h); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkProm(t, out)
	for _, want := range []string{
		`reconctl_gap_rate{tenant="acct_1",resource="customers"} 0.25`,
		`reconctl_gap_alert{tenant="acct_1",resource="customers"} 1`,
		`reconctl_failures_in_a_row{tenant="acct_2",resource=""} 3`,
		`reconctl_health_last_success_timestamp_seconds{tenant="acct_1",resource="customers"} 1761991200`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}

func TestReplayMetrics(t *testing.T) {
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	if err := ReplayMetrics(&b, []ReplayPart{{Summary: map[string]int{"applied": 7, "duplicate": 2, "failed": 0}}}, start, start.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkProm(t, out)
	for _, want := range []string{
		`reconctl_replay_events{command="replay",tenant="",outcome="applied"} 7`,
		`reconctl_replay_events{command="replay",tenant="",outcome="duplicate"} 2`,
		`reconctl_replay_events{command="replay",tenant="",outcome="failed"} 0`,
		`reconctl_tenant_exit_code{command="replay",tenant=""} 0`,
		`reconctl_tenant_failed{command="replay",tenant=""} 0`,
		`reconctl_last_success_timestamp_seconds{command="replay",tenant=""} 1793527230`,
		`reconctl_run_duration_seconds{command="replay"} 30`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	// A failed replay: failure 1, no last success.
	b.Reset()
	if err := ReplayMetrics(&b, []ReplayPart{{Summary: map[string]int{"applied": 1}, ExitCode: reconcile.ExitError}}, start, start); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, `reconctl_tenant_failed{command="replay",tenant=""} 1`+"\n") || strings.Contains(out, "reconctl_last_success_timestamp_seconds") {
		t.Errorf("failed replay metrics:\n%s", out)
	}
}
