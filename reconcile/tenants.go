package reconcile

import (
	"slices"
	"strings"
)

// TenantResult is one tenant's part of a multi-tenant run (contract:
// Additions → Tenants): its summary, exit code and error (nil when it ran).
type TenantResult struct {
	Tenant   string                      `json:"tenant"`
	Summary  map[string]*ResourceSummary `json:"summary"`
	ExitCode int                         `json:"exit_code"`
	Error    *string                     `json:"error"`
}

// exitRank orders exit codes by how much attention they need: 1 (failed),
// then 3 (refused), then 2 (drift), then 0.
func exitRank(code int) int {
	switch code {
	case ExitError:
		return 0
	case ExitBrake:
		return 1
	case ExitDrift:
		return 2
	case ExitOK:
		return 4
	}
	return 3
}

// WorstExit is the run's exit code over its tenants: 1 if any failed, then
// 3, then 2, else 0.
func WorstExit(codes ...int) int {
	worst := ExitOK
	for _, c := range codes {
		if exitRank(c) < exitRank(worst) {
			worst = c
		}
	}
	return worst
}

// SortTenants orders results for the report: those needing attention first
// (failed, refused, drift), then by tenant id.
func SortTenants(ts []TenantResult) {
	slices.SortStableFunc(ts, func(a, b TenantResult) int {
		if ra, rb := exitRank(a.ExitCode), exitRank(b.ExitCode); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.Tenant, b.Tenant)
	})
}

// AddSummary adds s's counts into total (the multi-tenant run's totals).
func AddSummary(total map[string]*ResourceSummary, s map[string]*ResourceSummary) {
	for name, rs := range s {
		if rs == nil {
			continue
		}
		t := total[name]
		if t == nil {
			t = &ResourceSummary{}
			total[name] = t
		}
		t.Remote += rs.Remote
		t.Local += rs.Local
		t.InSync += rs.InSync
		t.MissingLocal += rs.MissingLocal
		t.MissingRemote += rs.MissingRemote
		t.Changed += rs.Changed
		t.Applied += rs.Applied
		t.Unresolved += rs.Unresolved
		t.Conflicts += rs.Conflicts
		t.Reconfirmed += rs.Reconfirmed
		t.Ignored += rs.Ignored
		t.DuplicateLocal += rs.DuplicateLocal
		t.NullKeyLocal += rs.NullKeyLocal
		t.DuplicateRemote += rs.DuplicateRemote
		for _, p := range rs.AbsentPaths {
			if !slices.Contains(t.AbsentPaths, p) {
				t.AbsentPaths = append(t.AbsentPaths, p)
			}
		}
	}
}
