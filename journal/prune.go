package journal

import (
	"context"
	"sort"
	"strings"
	"time"
)

// Retention (journal_retention:, history --prune): runs that started before
// a cutoff are deleted with their drift index and stored report. What later
// runs depend on is never deleted: the replay checkpoints, the records'
// versions, a run still marked running (it may be applying, or its pending
// apply is yet to be resolved), and the replay idempotency rows of events
// the provider still keeps (replaying them again must find them processed);
// those rows go only once their event is older than the provider's
// retention, when no replay can fetch it any more.

// Pruned is what Prune deleted.
type Pruned struct {
	Before     time.Time      `json:"before"`
	Runs       int            `json:"runs"`
	ByCommand  map[string]int `json:"by_command"`
	DriftItems int            `json:"drift_items"`
	Events     int            `json:"events"`
	// EventsKeptFor lists the providers whose idempotency rows were kept
	// whatever their age because their event retention was not known.
	EventsKeptFor []string `json:"events_kept_for,omitempty"`
}

// Prune deletes the runs that started before before (and are not running),
// their drift items and reports, and the replay event rows of deleted runs
// whose event was created before eventsBefore[provider]; a provider that
// eventsBefore does not name keeps all its event rows. Checkpoints and
// versions are never deleted. It runs in one transaction.
func (j *Journal) Prune(ctx context.Context, before time.Time, eventsBefore map[string]time.Time) (Pruned, error) {
	p := Pruned{Before: before.UTC(), ByCommand: map[string]int{}}
	tx, err := j.db.Begin(ctx)
	if err != nil {
		return p, j.fail("pruning the journal", err)
	}
	defer tx.Rollback()
	cut := fmtTS(before)
	const old = `SELECT run_id FROM reconctl_runs WHERE started_at < ? AND status <> ?`
	rows, err := tx.QueryContext(ctx, j.d.bind(`SELECT command, count(*) FROM reconctl_runs WHERE started_at < ? AND status <> ? GROUP BY command`), cut, StatusRunning)
	if err != nil {
		return p, j.fail("pruning the journal", err)
	}
	for rows.Next() {
		var cmd string
		var n int
		if err := rows.Scan(&cmd, &n); err != nil {
			rows.Close()
			return p, j.fail("pruning the journal", err)
		}
		p.ByCommand[cmd] = n
		p.Runs += n
	}
	if err := rows.Close(); err != nil {
		return p, j.fail("pruning the journal", err)
	}
	del := func(query string, args ...any) (int, error) {
		res, err := tx.ExecContext(ctx, j.d.bind(query), args...)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		return int(n), err
	}
	if p.Runs > 0 {
		if p.DriftItems, err = del(`DELETE FROM reconctl_drift WHERE run_id IN (`+old+`)`, cut, StatusRunning); err != nil {
			return p, j.fail("pruning the journal's drift items", err)
		}
		if _, err = del(`DELETE FROM reconctl_reports WHERE run_id IN (`+old+`)`, cut, StatusRunning); err != nil {
			return p, j.fail("pruning the journal's reports", err)
		}
		// A pruned run's tenant rows go with it (tenants.go).
		if _, err = del(`DELETE FROM reconctl_tenant_runs WHERE run_id IN (`+old+`)`, cut, StatusRunning); err != nil {
			return p, j.fail("pruning the journal's tenant runs", err)
		}
		if j.d.mysql() {
			if _, err = del(`DELETE FROM reconctl_report_parts WHERE run_id IN (`+old+`)`, cut, StatusRunning); err != nil {
				return p, j.fail("pruning the journal's reports", err)
			}
		}
		if _, err = del(`DELETE FROM reconctl_runs WHERE started_at < ? AND status <> ?`, cut, StatusRunning); err != nil {
			return p, j.fail("pruning the journal's runs", err)
		}
	}
	// Idempotency rows: of runs no longer in the journal (deleted now or by
	// an earlier prune while their events were still kept), events the
	// provider no longer keeps.
	provRows, err := tx.QueryContext(ctx, `SELECT DISTINCT provider FROM reconctl_events`)
	if err != nil {
		return p, j.fail("pruning the journal's replay events", err)
	}
	var provs []string
	for provRows.Next() {
		var s string
		if err := provRows.Scan(&s); err != nil {
			provRows.Close()
			return p, j.fail("pruning the journal's replay events", err)
		}
		provs = append(provs, s)
	}
	if err := provRows.Close(); err != nil {
		return p, j.fail("pruning the journal's replay events", err)
	}
	sort.Strings(provs)
	for _, prov := range provs {
		eb, ok := eventsBefore[prov]
		if !ok {
			// A tenant's rows (TenantKey: provider/tenant) go by their
			// provider's retention.
			if name, _, tenant := strings.Cut(prov, "/"); tenant {
				eb, ok = eventsBefore[name]
			}
		}
		if !ok {
			p.EventsKeptFor = append(p.EventsKeptFor, prov)
			continue
		}
		n, err := del(`DELETE FROM reconctl_events WHERE provider = ? AND created_at IS NOT NULL AND created_at < ?
			AND run_id NOT IN (SELECT run_id FROM reconctl_runs)`, prov, fmtTS(eb))
		if err != nil {
			return p, j.fail("pruning the journal's replay events", err)
		}
		p.Events += n
	}
	return p, j.fail("pruning the journal", tx.Commit())
}
