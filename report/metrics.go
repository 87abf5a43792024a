package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

// Prometheus text-format metrics (--metrics-file, for node_exporter's
// textfile collector): per tenant and resource.

// promLabel escapes a label value (backslash, double quote, newline).
func promLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

type metric struct {
	name, help, typ string
	samples         []string
}

func (m *metric) add(labels string, v float64) {
	m.samples = append(m.samples, fmt.Sprintf("%s{%s} %s", m.name, labels, strconv.FormatFloat(v, 'f', -1, 64)))
}

func writeMetrics(w io.Writer, ms []*metric) error {
	var b strings.Builder
	for _, m := range ms {
		if len(m.samples) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", m.name, m.help, m.name, m.typ)
		for _, s := range m.samples {
			b.WriteString(s + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// RunMetrics writes a diff or resync run's metrics: per tenant (or "" for a
// run without tenants) and resource its records, drift by kind and applied
// writes; per tenant its exit code and failure; the run's duration and end.
func RunMetrics(w io.Writer, r *reconcile.Report) error {
	cmd := promLabel(r.Command)
	records := &metric{name: "reconctl_records", help: "Records the provider listed, per tenant and resource.", typ: "gauge"}
	local := &metric{name: "reconctl_local_records", help: "Live local records, per tenant and resource.", typ: "gauge"}
	drift := &metric{name: "reconctl_drift", help: "Drift items found, per tenant, resource and kind.", typ: "gauge"}
	applied := &metric{name: "reconctl_applied", help: "Drift items applied, per tenant and resource.", typ: "gauge"}
	exit := &metric{name: "reconctl_tenant_exit_code", help: "Exit code of the tenant's part of the run (0 in sync, 2 drift, 3 refused, 1 failed).", typ: "gauge"}
	failed := &metric{name: "reconctl_tenant_failed", help: "1 when the tenant's part of the run failed.", typ: "gauge"}
	success := &metric{name: "reconctl_last_success_timestamp_seconds", help: "When the tenant's last successful run (exit 0 or 2) finished.", typ: "gauge"}
	dur := &metric{name: "reconctl_run_duration_seconds", help: "Duration of the run.", typ: "gauge"}
	end := &metric{name: "reconctl_run_finished_timestamp_seconds", help: "When the run finished.", typ: "gauge"}
	type part struct {
		tenant  string
		summary map[string]*reconcile.ResourceSummary
		code    int
		err     bool
	}
	parts := []part{{tenant: "", summary: r.Summary, code: r.ExitCode}}
	if len(r.Tenants) > 0 {
		parts = parts[:0]
		for _, t := range r.Tenants {
			parts = append(parts, part{t.Tenant, t.Summary, t.ExitCode, t.Error != nil})
		}
	}
	for _, p := range parts {
		tl := fmt.Sprintf(`command="%s",tenant="%s"`, cmd, promLabel(p.tenant))
		names := make([]string, 0, len(p.summary))
		for n := range p.summary {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			s := p.summary[n]
			if s == nil {
				continue
			}
			l := tl + fmt.Sprintf(`,resource="%s"`, promLabel(n))
			records.add(l, float64(s.Remote))
			local.add(l, float64(s.Local))
			drift.add(l+`,kind="missing_local"`, float64(s.MissingLocal))
			drift.add(l+`,kind="missing_remote"`, float64(s.MissingRemote))
			drift.add(l+`,kind="changed"`, float64(s.Changed))
			applied.add(l, float64(s.Applied))
		}
		exit.add(tl, float64(p.code))
		f := 0.0
		if p.err || p.code == reconcile.ExitError {
			f = 1
		}
		failed.add(tl, f)
		if p.code == reconcile.ExitOK || p.code == reconcile.ExitDrift {
			success.add(tl, float64(r.FinishedAt.Unix()))
		}
	}
	dur.add(fmt.Sprintf(`command="%s"`, cmd), r.FinishedAt.Sub(r.StartedAt).Seconds())
	end.add(fmt.Sprintf(`command="%s"`, cmd), float64(r.FinishedAt.Unix()))
	return writeMetrics(w, []*metric{records, local, drift, applied, exit, failed, success, dur, end})
}

// HealthMetrics writes `reconctl health` as metrics: per tenant and
// resource its gap rate, records, drift, failures in a row and last success.
func HealthMetrics(w io.Writer, h *HealthReport) error {
	gap := &metric{name: "reconctl_gap_rate", help: "Drift items ÷ records of the tenant's last successful run, per resource.", typ: "gauge"}
	records := &metric{name: "reconctl_health_records", help: "Records of the tenant's last successful run, per resource.", typ: "gauge"}
	drift := &metric{name: "reconctl_health_drift", help: "Drift items of the tenant's last successful run, per resource.", typ: "gauge"}
	fails := &metric{name: "reconctl_failures_in_a_row", help: "The tenant's latest runs that failed in a row.", typ: "gauge"}
	success := &metric{name: "reconctl_health_last_success_timestamp_seconds", help: "Start of the tenant's last successful run, per resource.", typ: "gauge"}
	alert := &metric{name: "reconctl_gap_alert", help: "1 when the gap rate is above --alert-over.", typ: "gauge"}
	for _, t := range h.Tenants {
		l := fmt.Sprintf(`tenant="%s",resource="%s"`, promLabel(t.Tenant), promLabel(t.Resource))
		gap.add(l, t.GapRate)
		records.add(l, float64(t.Records))
		drift.add(l, float64(t.Drift))
		fails.add(l, float64(t.FailuresInARow))
		if t.LastSuccess != nil {
			success.add(l, float64(t.LastSuccess.Unix()))
		}
		a := 0.0
		if t.Alert {
			a = 1
		}
		alert.add(l, a)
	}
	return writeMetrics(w, []*metric{gap, records, drift, fails, success, alert})
}

// ReplayPart is one tenant's part of a replay for ReplayMetrics: its events
// by outcome and exit code; Tenant is "" for a run without tenants.
type ReplayPart struct {
	Tenant   string
	Summary  map[string]int
	ExitCode int
}

// ReplayMetrics writes a replay run's metrics in RunMetrics' format: per
// part (tenant), its events by outcome, its exit code and failure, the last
// success; the run's duration and end.
func ReplayMetrics(w io.Writer, parts []ReplayPart, started, finished time.Time) error {
	events := &metric{name: "reconctl_replay_events", help: "Events replayed, per tenant and outcome.", typ: "gauge"}
	exit := &metric{name: "reconctl_tenant_exit_code", help: "Exit code of the tenant's part of the run (0 in sync, 2 drift, 3 refused, 1 failed).", typ: "gauge"}
	failed := &metric{name: "reconctl_tenant_failed", help: "1 when the tenant's part of the run failed.", typ: "gauge"}
	success := &metric{name: "reconctl_last_success_timestamp_seconds", help: "When the tenant's last successful run (exit 0 or 2) finished.", typ: "gauge"}
	dur := &metric{name: "reconctl_run_duration_seconds", help: "Duration of the run.", typ: "gauge"}
	end := &metric{name: "reconctl_run_finished_timestamp_seconds", help: "When the run finished.", typ: "gauge"}
	for _, p := range parts {
		tl := fmt.Sprintf(`command="replay",tenant="%s"`, promLabel(p.Tenant))
		outcomes := make([]string, 0, len(p.Summary))
		for o := range p.Summary {
			outcomes = append(outcomes, o)
		}
		slices.Sort(outcomes)
		for _, o := range outcomes {
			events.add(tl+fmt.Sprintf(`,outcome="%s"`, promLabel(o)), float64(p.Summary[o]))
		}
		exit.add(tl, float64(p.ExitCode))
		f := 0.0
		if p.ExitCode == reconcile.ExitError {
			f = 1
		}
		failed.add(tl, f)
		if p.ExitCode == reconcile.ExitOK || p.ExitCode == reconcile.ExitDrift {
			success.add(tl, float64(finished.Unix()))
		}
	}
	dur.add(`command="replay"`, finished.Sub(started).Seconds())
	end.add(`command="replay"`, float64(finished.Unix()))
	return writeMetrics(w, []*metric{events, exit, failed, success, dur, end})
}
