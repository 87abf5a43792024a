package journal

// Helpers only the tests use (issue #13 removed them from the package API).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

// Lock takes the one-writer lock on a state for a run: an exclusive flock on
// <state>.reconctl.lock, which names the holder. When another run holds it,
// Lock fails at once with a *LockedError (wait 0) or tries again until it
// gets the lock, wait runs out (*LockedError) or ctx is done. A lock left by
// a killed run is free (the kernel drops a dead process's flock); taking it
// over is logged as a warning. AcquireLock returns that note to the caller.
func Lock(ctx context.Context, statePath string, runID string, command string, wait time.Duration) (release func() error, err error) {
	l, err := AcquireLock(ctx, statePath, Holder{RunID: runID, Command: command}, wait)
	if err != nil {
		return nil, err
	}
	if note := l.StaleNote(); note != "" {
		slog.Warn(note)
	}
	return l.Release, nil
}

// RunDrift returns the drift items FinishRun stored for a run, in report order.
func (j *Journal) RunDrift(ctx context.Context, runID string) ([]reconcile.Drift, error) {
	rows, err := j.db.QueryContext(ctx, j.d.bind(
		`SELECT resource, object_id, kind, remote_status, action, applied, error, fields_json
		 FROM reconctl_drift WHERE run_id = ? ORDER BY seq`), runID)
	if err != nil {
		return nil, j.fail("reading the drift of run "+runID, err)
	}
	defer rows.Close()
	var out []reconcile.Drift
	for rows.Next() {
		var d reconcile.Drift
		var fields *string // NULL: no fields
		if err := rows.Scan(&d.Resource, &d.ID, &d.Kind, &d.RemoteStatus, &d.Action, &d.Applied, &d.Error, &fields); err != nil {
			return nil, j.fail("reading the drift of run "+runID, err)
		}
		if fields != nil {
			dec := json.NewDecoder(bytes.NewReader([]byte(*fields)))
			dec.UseNumber()
			if err := dec.Decode(&d.Fields); err != nil {
				return nil, fmt.Errorf("journal %s: run %s: drift item %s %s: %w", j.path, runID, d.Resource, d.ID, err)
			}
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, j.fail("reading the drift of run "+runID, err)
	}
	rows.Close()
	// The index keeps no fields when the run's stored report has them.
	_, raw, err := j.GetRun(ctx, runID)
	if err != nil || len(raw) == 0 {
		return out, nil
	}
	var rep reconcile.Report
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rep); err != nil {
		return out, nil // not a drift report (replay, check-user)
	}
	for i := range out {
		if out[i].Fields == nil && i < len(rep.Drift) && rep.Drift[i].ID == out[i].ID && len(rep.Drift[i].Fields) > 0 {
			out[i].Fields = rep.Drift[i].Fields
		}
	}
	return out, nil
}

// SchemaVersion is the journal schema version this binary writes.
func SchemaVersion() int { return len(migrations) }
