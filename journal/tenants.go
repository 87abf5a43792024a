// Tenants in the journal (issue #17): a multi-tenant run records one row
// per tenant (its exit code, error and summary) in reconctl_tenant_runs, and
// each drift item its tenant; history --tenant lists the runs of one
// tenant, and a run orders its tenants failing first, then stalest.

package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

// migrateTenants adds reconctl_tenant_runs and reconctl_drift.tenant. Its
// own step, so it stays apart from other schema changes.
func migrateTenants(ctx context.Context, d dialect, tx Querier) error {
	switch d.kind {
	case localstate.KindMySQL:
		if err := mysqlAddColumn(ctx, tx, "reconctl_drift", "tenant", "VARCHAR(191) NOT NULL DEFAULT ''"); err != nil {
			return err
		}
		return execAll(ctx, tx,
			`CREATE TABLE IF NOT EXISTS reconctl_tenant_runs (
				run_id      VARCHAR(191) NOT NULL,
				tenant      VARCHAR(191) NOT NULL,
				command     VARCHAR(191) NOT NULL,
				started_at  VARCHAR(40) NOT NULL,
				finished_at VARCHAR(40) NOT NULL,
				exit_code   INT NOT NULL,
				error       LONGTEXT NOT NULL,
				summary_json LONGTEXT,
				PRIMARY KEY (run_id, tenant),
				INDEX reconctl_tenant_runs_tenant (tenant, command, started_at)
			)`+mysqlTable,
		)
	}
	return execAll(ctx, tx,
		`ALTER TABLE reconctl_drift ADD COLUMN tenant TEXT NOT NULL DEFAULT ''`,
		`CREATE TABLE reconctl_tenant_runs (
			run_id      TEXT NOT NULL,
			tenant      TEXT NOT NULL,
			command     TEXT NOT NULL,
			started_at  TEXT NOT NULL,
			finished_at TEXT NOT NULL,
			exit_code   INTEGER NOT NULL,
			error       TEXT NOT NULL DEFAULT '',
			summary_json TEXT,
			PRIMARY KEY (run_id, tenant)
		)`,
		`CREATE INDEX reconctl_tenant_runs_tenant ON reconctl_tenant_runs (tenant, command, started_at)`,
	)
}

// RecordTenants records each tenant's part of a finished multi-tenant run
// (after FinishRun, which stored its drift items in the report's order: the
// report groups them by tenant, so each tenant's items are one range).
func (j *Journal) RecordTenants(ctx context.Context, runID, command string, started, finished time.Time, rep *reconcile.Report) error {
	if rep == nil || len(rep.Tenants) == 0 {
		return nil
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
	}
	tx, err := j.db.Begin(ctx)
	if err != nil {
		return j.fail("recording the tenants of run "+runID, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, j.d.bind(`DELETE FROM reconctl_tenant_runs WHERE run_id = ?`), runID); err != nil {
		return j.fail("recording the tenants of run "+runID, err)
	}
	ins := j.d.bind(`INSERT INTO reconctl_tenant_runs (run_id, tenant, command, started_at, finished_at, exit_code, error, summary_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	for _, t := range rep.Tenants {
		summary, err := json.Marshal(t.Summary)
		if err != nil {
			return fmt.Errorf("journal: encoding the summary of tenant %s: %w", t.Tenant, err)
		}
		msg := ""
		if t.Error != nil {
			msg = RedactError(*t.Error)
		}
		if _, err := tx.ExecContext(ctx, ins, runID, t.Tenant, command, fmtTS(started), fmtTS(finished), t.ExitCode, msg, string(summary)); err != nil {
			return j.fail("recording the tenants of run "+runID, err)
		}
	}
	upd := j.d.bind(`UPDATE reconctl_drift SET tenant = ? WHERE run_id = ? AND seq >= ? AND seq < ?`)
	for lo := 0; lo < len(rep.Drift); {
		hi := lo
		for hi < len(rep.Drift) && rep.Drift[hi].Tenant == rep.Drift[lo].Tenant {
			hi++
		}
		if rep.Drift[lo].Tenant != "" {
			if _, err := tx.ExecContext(ctx, upd, rep.Drift[lo].Tenant, runID, lo, hi); err != nil {
				return j.fail("recording the tenants of run "+runID, err)
			}
		}
		lo = hi
	}
	return j.fail("recording the tenants of run "+runID, tx.Commit())
}

// TenantState is what the journal knows of one tenant's runs of a command.
type TenantState struct {
	LastRun     time.Time // start of its latest run
	LastSuccess time.Time // start of its latest run that did not fail (exit 0 or 2)
	LastFailed  bool      // its latest run failed (exit 1)
	// Records is the size of its largest resource (the larger side) in its
	// latest successful run: cadence rules by size use it.
	Records int
}

// TenantStates returns, per tenant, its latest runs of command.
func (j *Journal) TenantStates(ctx context.Context, command string) (map[string]TenantState, error) {
	// Oldest first; runs of one second in the journal's own order.
	rows, err := j.db.QueryContext(ctx, j.d.bind(`SELECT t.tenant, t.started_at, t.exit_code, t.summary_json
		FROM reconctl_tenant_runs t JOIN reconctl_runs r ON r.run_id = t.run_id
		WHERE t.command = ? ORDER BY t.tenant, t.started_at, r.`+j.d.order()), command)
	if err != nil {
		return nil, j.fail("reading the tenants' runs", err)
	}
	defer rows.Close()
	out := map[string]TenantState{}
	for rows.Next() {
		var tenant, started string
		var code int
		var summary *string
		if err := rows.Scan(&tenant, &started, &code, &summary); err != nil {
			return nil, j.fail("reading the tenants' runs", err)
		}
		at, err := parseTS(started)
		if err != nil {
			return nil, j.fail("reading the tenants' runs", err)
		}
		st := out[tenant]
		if !at.Before(st.LastRun) {
			st.LastRun = at
			st.LastFailed = code == reconcile.ExitError
		}
		if (code == reconcile.ExitOK || code == reconcile.ExitDrift) && !at.Before(st.LastSuccess) {
			st.LastSuccess = at
			st.Records = 0
			var sum map[string]*reconcile.ResourceSummary
			if summary != nil && json.Unmarshal([]byte(*summary), &sum) == nil {
				for _, s := range sum {
					if s != nil {
						st.Records = max(st.Records, s.Remote, s.Local)
					}
				}
			}
		}
		out[tenant] = st
	}
	return out, j.fail("reading the tenants' runs", rows.Err())
}

// RecordTenantApplied records, inside tx (one tenant's apply), the tenant's
// part of the run as it stands once tx commits; RecordTenants replaces it
// when the run finishes. Killed in between, the run shows as incomplete and
// its tenant rows say which tenants' writes landed.
func (j *Journal) RecordTenantApplied(ctx context.Context, tx Querier, runID, command string, started time.Time, t reconcile.TenantResult) error {
	summary, err := json.Marshal(t.Summary)
	if err != nil {
		return fmt.Errorf("journal: encoding the summary of tenant %s: %w", t.Tenant, err)
	}
	if _, err := tx.ExecContext(ctx, j.d.bind(`DELETE FROM reconctl_tenant_runs WHERE run_id = ? AND tenant = ?`), runID, t.Tenant); err != nil {
		return j.fail("recording what tenant "+t.Tenant+" of run "+runID+" applies", err)
	}
	_, err = tx.ExecContext(ctx, j.d.bind(`INSERT INTO reconctl_tenant_runs (run_id, tenant, command, started_at, finished_at, exit_code, error, summary_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		runID, t.Tenant, command, fmtTS(started), fmtTS(time.Now()), t.ExitCode, "", string(summary))
	return j.fail("recording what tenant "+t.Tenant+" of run "+runID+" applies", err)
}
