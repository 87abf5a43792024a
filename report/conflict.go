package report

import (
	"strconv"

	"github.com/reconctl/reconctl/reconcile"
)

// summaryColumns is the summary table: the standard columns, then
// "conflicts" and "reconfirmed" when a resource has any (issue #15) and,
// with ignored, "ignored" when any drift was ignored.
func summaryColumns(r *reconcile.Report, ignored bool) ([]string, [][]string) {
	header, rows := append([]string{}, summaryHeader...), summaryRows(r)
	extra := func(name string, get func(*reconcile.ResourceSummary) int) {
		var col []string
		any := false
		for _, n := range resourceOrder(r) {
			v := get(r.Summary[n])
			col = append(col, strconv.Itoa(v))
			any = any || v > 0
		}
		if !any {
			return
		}
		header = append(header, name)
		for i := range rows {
			rows[i] = append(rows[i], col[i])
		}
	}
	extra("conflicts", func(s *reconcile.ResourceSummary) int { return s.Conflicts })
	extra("reconfirmed", func(s *reconcile.ResourceSummary) int { return s.Reconfirmed })
	if ignored {
		extra("ignored", func(s *reconcile.ResourceSummary) int { return s.Ignored })
	}
	return header, rows
}

// conflicts counts the writes not applied because the local row changed.
func conflicts(r *reconcile.Report) int {
	n := 0
	for _, s := range r.Summary {
		n += s.Conflicts
	}
	return n
}

// conflictLines lists why each conflicting write was not applied.
func conflictLines(t *Text, r *reconcile.Report) {
	first := true
	for _, d := range r.Drift {
		if !d.Conflict {
			continue
		}
		if first {
			t.WriteString("\nConflicts (not written; the next run looks again):\n")
			first = false
		}
		t.WriteString("  " + EscapeText(d.Resource+" "+d.ID+": "+d.Reason) + "\n")
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// driftConflicts counts the drift items whose write was a conflict.
func driftConflicts(drift []reconcile.Drift) int {
	n := 0
	for _, d := range drift {
		if d.Conflict {
			n++
		}
	}
	return n
}
