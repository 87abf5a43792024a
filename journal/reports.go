package journal

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"strings"
)

// A run's report can be tens of megabytes (a diff with 100k drift items),
// and a read-only diff is recorded every run, so the report is stored once,
// gzip-compressed (JSON shrinks about tenfold), in reconctl_reports: pieces
// of at most reportPart bytes, because MySQL refuses a statement or a row
// larger than max_allowed_packet (16 MiB on MariaDB by default) and drops
// the connection. reconctl_runs.report_json stays NULL. Runs recorded by an
// older reconctl keep their report in report_json (or, on MySQL, in
// reconctl_report_parts), which loadReport still reads.
const reportPart = 1 << 20

// storeReport stores report (a []byte, a func(io.Writer) error writing it,
// or nil for none) for runID inside q,
// replacing what was stored before, and returns the value for the
// report_json column (always NULL now).
func (j *Journal) storeReport(ctx context.Context, q Querier, runID string, report any) (any, error) {
	if _, err := q.ExecContext(ctx, j.d.bind(`DELETE FROM reconctl_reports WHERE run_id = ?`), runID); err != nil {
		return nil, err
	}
	if j.d.mysql() {
		// A run recorded before the upgrade and finished after it.
		if _, err := q.ExecContext(ctx, `DELETE FROM reconctl_report_parts WHERE run_id = ?`, runID); err != nil {
			return nil, err
		}
	}
	var write func(io.Writer) error
	switch r := report.(type) {
	case []byte:
		write = func(w io.Writer) error { _, err := w.Write(r); return err }
	case func(io.Writer) error:
		write = r
	default:
		return nil, nil
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a level that costs little next to the run
	if err := write(zw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	z := buf.Bytes()
	for part := 0; part == 0 || len(z) > 0; part++ {
		n := min(len(z), reportPart)
		if _, err := q.ExecContext(ctx, j.d.bind(`INSERT INTO reconctl_reports (run_id, part, data) VALUES (?, ?, ?)`), runID, part, z[:n]); err != nil {
			return nil, err
		}
		z = z[n:]
	}
	return nil, nil
}

// loadReport is the report stored for runID: col (report_json) when set
// (an older reconctl's run), else its compressed parts, else, on MySQL, an
// older reconctl's plain parts; nil when there is none.
func (j *Journal) loadReport(ctx context.Context, runID string, col *string) ([]byte, error) {
	if col != nil {
		return []byte(*col), nil
	}
	z, found, err := j.parts(ctx, `SELECT data FROM reconctl_reports WHERE run_id = ? ORDER BY part`, runID)
	if err != nil {
		return nil, err
	}
	if found {
		zr, err := gzip.NewReader(bytes.NewReader(z))
		if err != nil {
			return nil, fmt.Errorf("run %s: stored report: %w", runID, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("run %s: stored report: %w", runID, err)
		}
		return b, nil
	}
	if !j.d.mysql() {
		return nil, nil
	}
	b, found, err := j.parts(ctx, `SELECT data FROM reconctl_report_parts WHERE run_id = ? ORDER BY part`, runID)
	if err != nil || !found {
		return nil, err
	}
	return b, nil
}

// parts is the concatenation of the rows query returns for runID.
func (j *Journal) parts(ctx context.Context, query, runID string) ([]byte, bool, error) {
	rows, err := j.db.QueryContext(ctx, j.d.bind(query), runID)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var b strings.Builder
	found := false
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			return nil, false, err
		}
		b.Write(p)
		found = true
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	return []byte(b.String()), found, nil
}
