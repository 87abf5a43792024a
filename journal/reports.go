package journal

import (
	"context"
	"strings"
	"unicode/utf8"
)

// A run's report can be tens of megabytes (a diff with 100k drift items).
// MySQL refuses a statement or a row larger than max_allowed_packet (16 MiB
// on MariaDB by default) and drops the connection, so there the report is
// kept in reconctl_report_parts, in pieces of reportPart bytes cut between
// characters, and reconctl_runs.report_json stays NULL. SQLite and Postgres
// keep it in report_json.
const reportPart = 1 << 20

// storeReport stores report (a string, or nil for none) for runID inside q
// and returns the value for the report_json column.
func (j *Journal) storeReport(ctx context.Context, q Querier, runID string, report any) (any, error) {
	if !j.d.mysql() {
		return report, nil
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM reconctl_report_parts WHERE run_id = ?`, runID); err != nil {
		return nil, err
	}
	s, _ := report.(string)
	for part := 0; s != ""; part++ {
		n := min(len(s), reportPart)
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO reconctl_report_parts (run_id, part, data) VALUES (?, ?, ?)`, runID, part, s[:n]); err != nil {
			return nil, err
		}
		s = s[n:]
	}
	return nil, nil
}

// loadReport is the report stored for runID: col (report_json) when set,
// else, on MySQL, its parts; nil when there is none.
func (j *Journal) loadReport(ctx context.Context, runID string, col *string) ([]byte, error) {
	if col != nil {
		return []byte(*col), nil
	}
	if !j.d.mysql() {
		return nil, nil
	}
	rows, err := j.db.QueryContext(ctx, `SELECT data FROM reconctl_report_parts WHERE run_id = ? ORDER BY part`, runID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var b strings.Builder
	found := false
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		b.WriteString(s)
		found = true
	}
	if err := rows.Err(); err != nil || !found {
		return nil, err
	}
	return []byte(b.String()), nil
}
