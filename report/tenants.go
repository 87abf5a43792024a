package report

import (
	"strconv"

	"github.com/reconctl/reconctl/reconcile"
)

// tenantLines leads a multi-tenant table report: the tenants that need
// attention (failed, refused, drift; the report holds them first), then how
// many are in sync.
func tenantLines(t *Text, r *reconcile.Report) error {
	if len(r.Tenants) == 0 {
		return nil
	}
	var rows [][]string
	ok := 0
	for _, tr := range r.Tenants {
		if tr.ExitCode == reconcile.ExitOK {
			ok++
			continue
		}
		status := map[int]string{reconcile.ExitError: "failed", reconcile.ExitBrake: "refused", reconcile.ExitDrift: "drift"}[tr.ExitCode]
		unresolved, conflicts := 0, 0
		for _, s := range tr.Summary {
			if s != nil {
				unresolved += s.Unresolved
				conflicts += s.Conflicts
			}
		}
		detail := ""
		if tr.Error != nil {
			detail = shorten(*tr.Error, 100)
		}
		rows = append(rows, []string{tr.Tenant, status, strconv.Itoa(tr.ExitCode), strconv.Itoa(unresolved), strconv.Itoa(conflicts), detail})
	}
	t.Printf("tenants: %d, %d need attention, %d in sync\n", len(r.Tenants), len(rows), ok)
	if len(rows) > 0 {
		if err := t.Table([]string{"tenant", "status", "exit", "unresolved", "conflicts", "error"}, rows); err != nil {
			return err
		}
	}
	t.WriteString("\n")
	return nil
}
