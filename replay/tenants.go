package replay

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

// TenantResult is one tenant's part of a replay over tenants (contract:
// Additions → Tenants): its event counts by outcome, exit code, error (nil
// when it ran) and the checkpoint it reached.
type TenantResult struct {
	Tenant   string         `json:"tenant"`
	Summary  map[string]int `json:"summary"`
	ExitCode int            `json:"exit_code"`
	Error    *string        `json:"error"`
	Cursor   string         `json:"cursor"`
}

// MergeTenants fills rep, a replay over tenants, from each tenant's report
// (parts[i] is results[i].Tenant's; nil when it never started): every
// event with its tenant, the totals by outcome and by type, the window the
// tenants covered, the first brake refusal, the tenants section (failed
// first, then refused, drift, done; by id within each) and the worst exit
// code.
func MergeTenants(rep *Report, parts []*Report, results []TenantResult) {
	rep.Tenants = []TenantResult{}
	var since, until time.Time
	codes := []int{}
	for i, res := range results {
		if res.Tenant == "" {
			continue // never started (interrupted)
		}
		if res.Summary == nil {
			res.Summary = map[string]int{}
		}
		rep.Tenants = append(rep.Tenants, res)
		codes = append(codes, res.ExitCode)
		part := parts[i]
		if part == nil {
			continue
		}
		for _, e := range part.Events {
			e.Tenant = res.Tenant
			rep.Events = append(rep.Events, e)
		}
		for k, n := range part.Summary {
			rep.Summary[k] += n
		}
		for typ, byOutcome := range part.ByType {
			if rep.ByType[typ] == nil {
				rep.ByType[typ] = map[string]int{}
			}
			for k, n := range byOutcome {
				rep.ByType[typ][k] += n
			}
		}
		if len(rep.Types) == 0 {
			rep.Types = part.Types
		}
		if part.Partial {
			rep.Partial = true
			if rep.LostUntil == "" || part.LostUntil > rep.LostUntil {
				rep.LostUntil = part.LostUntil
			}
		}
		if rep.Brake == nil && part.Brake != nil {
			rep.Brake = part.Brake
		}
		if t, err := time.Parse(time.RFC3339, part.Since); err == nil && (since.IsZero() || t.Before(since)) {
			since = t
		}
		if t, err := time.Parse(time.RFC3339, part.Until); err == nil && t.After(until) {
			until = t
		}
	}
	if !since.IsZero() {
		rep.Since = since.UTC().Format(time.RFC3339)
	}
	if !until.IsZero() {
		rep.Until = until.UTC().Format(time.RFC3339)
	}
	for _, k := range []string{OutcomeApplied, OutcomeDuplicate, OutcomeStale, OutcomeIgnored, OutcomeFailed} {
		if _, ok := rep.Summary[k]; !ok {
			rep.Summary[k] = 0
		}
	}
	slices.SortStableFunc(rep.Tenants, func(a, b TenantResult) int {
		if ra, rb := exitRank(a.ExitCode), exitRank(b.ExitCode); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Tenant, b.Tenant)
	})
	rep.ExitCode = reconcile.WorstExit(codes...)
}

// exitRank orders exit codes as reconcile.SortTenants does: 1, 3, 2, 0.
func exitRank(code int) int {
	switch code {
	case reconcile.ExitError:
		return 0
	case reconcile.ExitBrake:
		return 1
	case reconcile.ExitDrift:
		return 2
	}
	return 3
}

// tenantLines leads a replay over tenants in the table output: the tenants
// that need attention, then how many are done.
func (rep *Report) tenantLines(t *report.Text) error {
	var rows [][]string
	ok := 0
	for _, tr := range rep.Tenants {
		if tr.ExitCode == reconcile.ExitOK {
			ok++
			continue
		}
		status := map[int]string{reconcile.ExitError: "failed", reconcile.ExitBrake: "refused", reconcile.ExitDrift: "events failed"}[tr.ExitCode]
		if tr.ExitCode == reconcile.ExitDrift && tr.Summary[OutcomeFailed] == 0 {
			status = "would apply" // a dry run, or conflicts
		}
		detail := ""
		if tr.Error != nil {
			detail = *tr.Error
			if r := []rune(detail); len(r) > 100 {
				detail = string(r[:99]) + "…"
			}
		}
		rows = append(rows, []string{tr.Tenant, status, strconv.Itoa(tr.ExitCode), strconv.Itoa(tr.Summary[OutcomeApplied]), strconv.Itoa(tr.Summary[OutcomeFailed]), detail})
	}
	t.Printf("tenants: %d, %d need attention, %d done\n", len(rep.Tenants), len(rows), ok)
	if len(rows) > 0 {
		if err := t.Table([]string{"tenant", "status", "exit", "applied", "failed", "error"}, rows); err != nil {
			return err
		}
	}
	t.WriteString("\n")
	return nil
}

// tenantsDone is the last line of a replay over tenants.
func (rep *Report) tenantsDone() string {
	return fmt.Sprintf("\n%d events fetched over %d tenants; a checkpoint per tenant (in the tenants section). Exit %d.\n", rep.Summary["fetched"], len(rep.Tenants), rep.ExitCode)
}
