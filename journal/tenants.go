// Tenants in the journal (issue #17): a multi-tenant run records one row
// per tenant (its exit code, error and summary) in reconctl_tenant_runs, and
// each drift item its tenant; history --tenant lists the runs of one
// tenant, and a run orders its tenants failing first, then stalest.

package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

// migrateTenantFields adds reconctl_tenant_runs.fields_json: per resource,
// how many changed items of the tenant's run touched each field, so health
// can say when a gap is concentrated in one field (a mapping regression)
// without the field diffs, which the drift index does not keep.
func migrateTenantFields(ctx context.Context, d dialect, tx Querier) error {
	if d.kind == localstate.KindMySQL {
		return mysqlAddColumn(ctx, tx, "reconctl_tenant_runs", "fields_json", "LONGTEXT")
	}
	return execAll(ctx, tx, `ALTER TABLE reconctl_tenant_runs ADD COLUMN fields_json TEXT`)
}

// TenantKey is how the journal names a tenant's replay events, record
// versions and checkpoint: provider/tenant; the provider alone without a
// tenant (every journal before tenants), so each tenant's are its own.
func TenantKey(provider, tenant string) string {
	if tenant == "" {
		return provider
	}
	return provider + "/" + tenant
}

// TenantRow is one tenant's part of a finished run for RecordTenantRows:
// Summary is stored as JSON (a diff's per resource, a replay's by outcome);
// Fields, per resource, how many changed items touched each field.
type TenantRow struct {
	Tenant   string
	ExitCode int
	Error    *string
	Summary  any
	Fields   map[string]map[string]int
}

// FieldCounts counts, per resource, the changed items of drift touching
// each field (its local column); nil when there are none.
func FieldCounts(drift []reconcile.Drift) map[string]map[string]int {
	var out map[string]map[string]int
	for _, d := range drift {
		if d.Kind != "changed" || len(d.Fields) == 0 {
			continue
		}
		if out == nil {
			out = map[string]map[string]int{}
		}
		m := out[d.Resource]
		if m == nil {
			m = map[string]int{}
			out[d.Resource] = m
		}
		for i, f := range d.Fields {
			if !slices.ContainsFunc(d.Fields[:i], func(g reconcile.FieldDiff) bool { return g.Name == f.Name }) {
				m[f.Name]++
			}
		}
	}
	return out
}

// fieldsJSON is a tenant row's fields_json: NULL when no changed item.
func fieldsJSON(fields map[string]map[string]int) (any, error) {
	if len(fields) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// RecordTenants records each tenant's part of a finished multi-tenant run
// (after FinishRun, which stored its drift items in the report's order: the
// report groups them by tenant, so each tenant's items are one range).
func (j *Journal) RecordTenants(ctx context.Context, runID, command string, started, finished time.Time, rep *reconcile.Report) error {
	if rep == nil || len(rep.Tenants) == 0 {
		return nil
	}
	byTenant := map[string][]reconcile.Drift{}
	for lo := 0; lo < len(rep.Drift); {
		hi := lo
		for hi < len(rep.Drift) && rep.Drift[hi].Tenant == rep.Drift[lo].Tenant {
			hi++
		}
		byTenant[rep.Drift[lo].Tenant] = rep.Drift[lo:hi]
		lo = hi
	}
	rows := make([]TenantRow, len(rep.Tenants))
	for i, t := range rep.Tenants {
		rows[i] = TenantRow{Tenant: t.Tenant, ExitCode: t.ExitCode, Error: t.Error, Summary: t.Summary, Fields: FieldCounts(byTenant[t.Tenant])}
	}
	return j.recordTenantRows(ctx, runID, command, started, finished, rows, rep.Drift)
}

// RecordTenantRows records the tenants of a finished run whose drift items,
// if any, carry no tenant (a replay over tenants: its rows by outcome).
func (j *Journal) RecordTenantRows(ctx context.Context, runID, command string, started, finished time.Time, rows []TenantRow) error {
	if len(rows) == 0 {
		return nil
	}
	return j.recordTenantRows(ctx, runID, command, started, finished, rows, nil)
}

func (j *Journal) recordTenantRows(ctx context.Context, runID, command string, started, finished time.Time, trs []TenantRow, drift []reconcile.Drift) error {
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
	ins := j.d.bind(`INSERT INTO reconctl_tenant_runs (run_id, tenant, command, started_at, finished_at, exit_code, error, summary_json, fields_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	for _, t := range trs {
		summary, err := json.Marshal(t.Summary)
		if err != nil {
			return fmt.Errorf("journal: encoding the summary of tenant %s: %w", t.Tenant, err)
		}
		fields, err := fieldsJSON(t.Fields)
		if err != nil {
			return fmt.Errorf("journal: encoding the fields of tenant %s: %w", t.Tenant, err)
		}
		msg := ""
		if t.Error != nil {
			msg = RedactError(*t.Error)
		}
		if _, err := tx.ExecContext(ctx, ins, runID, t.Tenant, command, fmtTS(started), fmtTS(finished), t.ExitCode, msg, string(summary), fields); err != nil {
			return j.fail("recording the tenants of run "+runID, err)
		}
	}
	upd := j.d.bind(`UPDATE reconctl_drift SET tenant = ? WHERE run_id = ? AND seq >= ? AND seq < ?`)
	for lo := 0; lo < len(drift); {
		hi := lo
		for hi < len(drift) && drift[hi].Tenant == drift[lo].Tenant {
			hi++
		}
		if drift[lo].Tenant != "" {
			if _, err := tx.ExecContext(ctx, upd, drift[lo].Tenant, runID, lo, hi); err != nil {
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
	// LastWindowSuccess is the start of its latest successful diff --since
	// run. Such a run compared one window's changes only: it is neither
	// LastSuccess (a full pass, which --due and the staleness order go by)
	// nor a size (its summary counts the window's records).
	LastWindowSuccess time.Time
}

// TenantStates returns, per tenant, its latest runs of command.
func (j *Journal) TenantStates(ctx context.Context, command string) (map[string]TenantState, error) {
	// Oldest first; runs of one second in the journal's own order.
	rows, err := j.db.QueryContext(ctx, j.d.bind(`SELECT t.tenant, t.started_at, t.exit_code, t.summary_json, r.args_json
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
		var summary, args *string
		if err := rows.Scan(&tenant, &started, &code, &summary, &args); err != nil {
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
		ok := code == reconcile.ExitOK || code == reconcile.ExitDrift
		if command == "diff" && args != nil && windowArgs(*args) {
			// diff --since: a window's comparison (replay always has --since).
			if ok && !at.Before(st.LastWindowSuccess) {
				st.LastWindowSuccess = at
			}
			out[tenant] = st
			continue
		}
		if ok && !at.Before(st.LastSuccess) {
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
// drift is the tenant's drift items (for the field counts).
func (j *Journal) RecordTenantApplied(ctx context.Context, tx Querier, runID, command string, started time.Time, t reconcile.TenantResult, drift []reconcile.Drift) error {
	summary, err := json.Marshal(t.Summary)
	if err != nil {
		return fmt.Errorf("journal: encoding the summary of tenant %s: %w", t.Tenant, err)
	}
	fields, err := fieldsJSON(FieldCounts(drift))
	if err != nil {
		return fmt.Errorf("journal: encoding the fields of tenant %s: %w", t.Tenant, err)
	}
	if _, err := tx.ExecContext(ctx, j.d.bind(`DELETE FROM reconctl_tenant_runs WHERE run_id = ? AND tenant = ?`), runID, t.Tenant); err != nil {
		return j.fail("recording what tenant "+t.Tenant+" of run "+runID+" applies", err)
	}
	_, err = tx.ExecContext(ctx, j.d.bind(`INSERT INTO reconctl_tenant_runs (run_id, tenant, command, started_at, finished_at, exit_code, error, summary_json, fields_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		runID, t.Tenant, command, fmtTS(started), fmtTS(time.Now()), t.ExitCode, "", string(summary), fields)
	return j.fail("recording what tenant "+t.Tenant+" of run "+runID+" applies", err)
}
