// Sync health (issue #17): per tenant and resource, from the journal's
// tenant rows, when it last ran and succeeded, how many runs in a row
// failed, and its gap rate (drift items ÷ records) with the previous one.

package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

// HealthRow is one tenant's health for one resource (contract: Additions →
// Tenants, reconctl health).
type HealthRow struct {
	Tenant      string     `json:"tenant"`
	Resource    string     `json:"resource"`
	LastRun     *time.Time `json:"last_run"`
	LastSuccess *time.Time `json:"last_success"`
	// LastFull is the last successful full pass (every diff and resync
	// lists everything).
	LastFull        *time.Time `json:"last_full"`
	FailuresInARow  int        `json:"failures_in_a_row"`
	GapRate         float64    `json:"gap_rate"`
	PreviousGapRate *float64   `json:"previous_gap_rate"`
	Records         int        `json:"records"`
	Drift           int        `json:"drift"`
	Alert           bool       `json:"alert"`
	// Note interprets the latest gap: a spike that looks like broken
	// polling, a burst of deletions or of records the app missed.
	Note string `json:"note,omitempty"`
}

type tenantRun struct {
	started time.Time
	exit    int
	summary map[string]*reconcile.ResourceSummary
	fields  map[string]map[string]int // per resource: changed items per field
	// window: a diff --since run, which compared only a window's changes:
	// a success, but neither a full pass nor a gap rate of the resource.
	window bool
}

// windowArgs reports whether a run's arguments (args_json) hold --since
// (diff --since: a window's comparison).
func windowArgs(argsJSON string) bool {
	var args []string
	if json.Unmarshal([]byte(argsJSON), &args) != nil {
		return false
	}
	for _, a := range args {
		for _, f := range []string{"--since", "-since"} {
			if a == f || strings.HasPrefix(a, f+"=") {
				return true
			}
		}
	}
	return false
}

// Health returns every tenant's health per resource, sorted by tenant and
// resource; alertOver > 0 marks the rows whose gap rate is above it.
func (j *Journal) Health(ctx context.Context, alertOver float64) ([]HealthRow, error) {
	// Runs of one second keep the journal's own order (tenantRunOrder).
	rows, err := j.db.QueryContext(ctx, `SELECT t.tenant, t.started_at, t.exit_code, t.summary_json, t.fields_json, r.args_json
		FROM reconctl_tenant_runs t JOIN reconctl_runs r ON r.run_id = t.run_id
		WHERE t.command IN ('diff', 'resync') ORDER BY t.tenant, t.started_at DESC, r.`+j.d.order()+` DESC`)
	if err != nil {
		return nil, j.fail("reading the tenants' runs", err)
	}
	defer rows.Close()
	byTenant := map[string][]tenantRun{}
	var order []string
	for rows.Next() {
		var tenant, started string
		var code int
		var summary, fields *string
		var args string
		if err := rows.Scan(&tenant, &started, &code, &summary, &fields, &args); err != nil {
			return nil, j.fail("reading the tenants' runs", err)
		}
		at, err := parseTS(started)
		if err != nil {
			return nil, j.fail("reading the tenants' runs", err)
		}
		tr := tenantRun{started: at, exit: code, window: windowArgs(args)}
		if summary != nil && *summary != "" {
			if err := json.Unmarshal([]byte(*summary), &tr.summary); err != nil {
				return nil, j.fail("reading the tenants' runs", err)
			}
		}
		if fields != nil && *fields != "" {
			if err := json.Unmarshal([]byte(*fields), &tr.fields); err != nil {
				return nil, j.fail("reading the tenants' runs", err)
			}
		}
		if _, ok := byTenant[tenant]; !ok {
			order = append(order, tenant)
		}
		byTenant[tenant] = append(byTenant[tenant], tr)
	}
	if err := rows.Err(); err != nil {
		return nil, j.fail("reading the tenants' runs", err)
	}
	var out []HealthRow
	for _, tenant := range order {
		runs := byTenant[tenant] // newest first
		var resources []string
		for _, r := range runs {
			for name := range r.summary {
				if !slices.Contains(resources, name) {
					resources = append(resources, name)
				}
			}
		}
		slices.Sort(resources)
		if len(resources) == 0 {
			resources = []string{""} // it never got as far as a resource
		}
		failures := 0
		for _, r := range runs {
			if r.exit != reconcile.ExitError {
				break
			}
			failures++
		}
		last := runs[0].started
		for _, res := range resources {
			h := HealthRow{Tenant: tenant, Resource: res, LastRun: &last, FailuresInARow: failures}
			seen := 0
			var latest tenantRun
			for _, r := range runs {
				s := r.summary[res]
				if s == nil || (r.exit != reconcile.ExitOK && r.exit != reconcile.ExitDrift) {
					continue
				}
				if r.window {
					if h.LastSuccess == nil {
						at := r.started
						h.LastSuccess = &at
					}
					continue
				}
				rate, drift, records := gapRate(s)
				if seen == 0 {
					at := r.started
					if h.LastSuccess == nil {
						h.LastSuccess = &at
					}
					h.LastFull = &at
					h.GapRate, h.Drift, h.Records = rate, drift, records
					h.Note = gapNote(s, records)
					latest = r
				} else {
					prev := rate
					h.PreviousGapRate = &prev
					if rate > 0 && h.GapRate >= 2*rate && h.GapRate-rate >= 0.01 {
						// A jump concentrated in one field reads as a
						// mapping regression; otherwise the jump alone.
						if f := fieldNote(latest.summary[res], latest.fields[res]); f != "" {
							h.Note = joinNotes(h.Note, f)
						} else if h.Note == "" {
							h.Note = "the gap rate jumped from the previous run"
						}
					}
					break
				}
				seen++
			}
			h.Alert = alertOver > 0 && h.GapRate > alertOver
			out = append(out, h)
		}
	}
	return out, nil
}

// gapRate is drift items ÷ records of one resource's summary (records: the
// larger side).
func gapRate(s *reconcile.ResourceSummary) (float64, int, int) {
	drift := s.MissingLocal + s.MissingRemote + s.Changed
	records := max(s.Remote, s.Local)
	if records == 0 {
		return 0, drift, 0
	}
	return float64(drift) / float64(records), drift, records
}

// Concentration is what fieldNote calls drift concentrated in one field:
// at least concentratedShare of a run's changed items (and at least
// concentratedMin of them) touch the same field.
const (
	concentratedShare = 0.8
	concentratedMin   = 3
)

// fieldNote names the field that most of a resource's changed items touch,
// when they are concentrated in it (fields: changed items per field).
func fieldNote(s *reconcile.ResourceSummary, fields map[string]int) string {
	if s == nil || s.Changed < concentratedMin {
		return ""
	}
	best, n := "", 0
	for f, c := range fields {
		if c > n || (c == n && f < best) {
			best, n = f, c
		}
	}
	if float64(n) < concentratedShare*float64(s.Changed) {
		return ""
	}
	return fmt.Sprintf("the gap rate jumped, concentrated in one field: %s (%d of %d changed records): looks like a mapping regression", best, n, s.Changed)
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// gapNote reads a summary as the partner-integration guide does.
func gapNote(s *reconcile.ResourceSummary, records int) string {
	if records == 0 {
		return ""
	}
	var notes []string
	drift := s.MissingLocal + s.MissingRemote + s.Changed
	if 2*drift >= records {
		notes = append(notes, "half or more of the records drift: looks like broken polling or a broken mapping")
	}
	if 10*s.MissingRemote >= records && s.MissingRemote > 0 {
		notes = append(notes, "a burst of deletions at the provider: a mass deletion?")
	}
	if 10*s.MissingLocal >= records && s.MissingLocal > 0 {
		notes = append(notes, "a burst of records the app lacks: missed creates?")
	}
	return strings.Join(notes, "; ")
}
