package journal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Event outcomes worth remembering (the contract's replay outcomes). The
// other two, would_apply and duplicate, describe a run, not the event, and
// are never stored.
const (
	OutcomeApplied   = "applied"
	OutcomeStale     = "stale"
	OutcomeIgnored   = "ignored"
	OutcomeDelivered = "delivered"
	OutcomeFailed    = "failed"
)

// EventRow is one processed event. Target is "" for a replay into the state
// and the endpoint URL for a delivery.
type EventRow struct {
	Provider string
	Target   string
	EventID  string
	RunID    string
	Type     string
	Created  time.Time
	Outcome  string
}

// EventProcessed says whether an earlier run processed the event for this
// target, and with what outcome. The caller decides what a "failed" or
// "ignored" outcome means for this run (usually: try again).
func (j *Journal) EventProcessed(ctx context.Context, q Querier, provider, target, eventID string) (outcome string, found bool, err error) {
	err = j.q(q).QueryRowContext(ctx,
		`SELECT outcome FROM reconctl_events WHERE provider = ? AND target = ? AND event_id = ?`,
		provider, target, eventID).Scan(&outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, j.fail("looking up event "+eventID, err)
	}
	return outcome, true, nil
}

// RecordEvent records that the event was processed. Recording it again
// updates the row, except that a failure never overwrites a success: an
// event applied or delivered once stays so.
func (j *Journal) RecordEvent(ctx context.Context, q Querier, e EventRow) error {
	switch e.Outcome {
	case OutcomeApplied, OutcomeStale, OutcomeIgnored, OutcomeDelivered, OutcomeFailed:
	default:
		return fmt.Errorf("journal: RecordEvent %s: outcome %q is not one of applied, stale, ignored, delivered, failed", e.EventID, e.Outcome)
	}
	if e.Provider == "" || e.EventID == "" {
		return fmt.Errorf("journal: RecordEvent needs a provider and an event id")
	}
	_, err := j.q(q).ExecContext(ctx,
		`INSERT INTO reconctl_events (provider, target, event_id, run_id, event_type, created_at, outcome, processed_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (provider, target, event_id) DO UPDATE SET
			run_id = excluded.run_id, event_type = excluded.event_type, created_at = excluded.created_at,
			outcome = excluded.outcome, processed_at = excluded.processed_at
		 WHERE excluded.outcome <> 'failed' OR reconctl_events.outcome = 'failed'`,
		e.Provider, e.Target, e.EventID, e.RunID, e.Type, nullTS(e.Created), e.Outcome, fmtTS(time.Now()))
	return j.fail("recording event "+e.EventID, err)
}

// RecordVersion records that the record now reflects the provider's data as
// of at (an event's created time, or the state time a diff/resync applied).
// It keeps the newest: an older time never replaces a newer one; an equal
// one does (events are processed oldest first, so it is the later one).
func (j *Journal) RecordVersion(ctx context.Context, q Querier, provider, resource, objectID string, at time.Time, eventID, source string) error {
	if at.IsZero() {
		return fmt.Errorf("journal: RecordVersion %s %s: no time", resource, objectID)
	}
	_, err := j.q(q).ExecContext(ctx,
		`INSERT INTO reconctl_versions (provider, resource, object_id, version_at, event_id, source)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (provider, resource, object_id) DO UPDATE SET
			version_at = excluded.version_at, event_id = excluded.event_id, source = excluded.source
		 WHERE excluded.version_at >= reconctl_versions.version_at`,
		provider, resource, objectID, fmtTS(at), eventID, source)
	return j.fail("recording the version of "+resource+" "+objectID, err)
}

// Version is the newest time recorded for the record by RecordVersion.
func (j *Journal) Version(ctx context.Context, q Querier, provider, resource, objectID string) (at time.Time, eventID string, found bool, err error) {
	var ts string
	err = j.q(q).QueryRowContext(ctx,
		`SELECT version_at, event_id FROM reconctl_versions WHERE provider = ? AND resource = ? AND object_id = ?`,
		provider, resource, objectID).Scan(&ts, &eventID)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, j.fail("reading the version of "+resource+" "+objectID, err)
	}
	if at, err = parseTS(ts); err != nil {
		return time.Time{}, "", false, j.fail("reading the version of "+resource+" "+objectID, err)
	}
	return at, eventID, true, nil
}

// SetCheckpoint stores where a successful replay got to, for --since last.
// It only moves forward: a replay of an older window leaves a newer
// checkpoint in place.
func (j *Journal) SetCheckpoint(ctx context.Context, q Querier, provider, eventID string, created time.Time, runID string) error {
	if provider == "" || created.IsZero() {
		return fmt.Errorf("journal: SetCheckpoint needs a provider and the event's created time")
	}
	_, err := j.q(q).ExecContext(ctx,
		`INSERT INTO reconctl_checkpoints (provider, event_id, event_created, run_id, updated_at)
		 VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (provider) DO UPDATE SET
			event_id = excluded.event_id, event_created = excluded.event_created,
			run_id = excluded.run_id, updated_at = excluded.updated_at
		 WHERE excluded.event_created >= reconctl_checkpoints.event_created`,
		provider, eventID, fmtTS(created), runID, fmtTS(time.Now()))
	return j.fail("storing the replay checkpoint", err)
}

// Checkpoint is the checkpoint the last successful replay stored.
func (j *Journal) Checkpoint(ctx context.Context, provider string) (eventID string, created time.Time, found bool, err error) {
	var ts string
	err = j.db.QueryRowContext(ctx,
		`SELECT event_id, event_created FROM reconctl_checkpoints WHERE provider = ?`, provider).Scan(&eventID, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, j.fail("reading the replay checkpoint", err)
	}
	if created, err = parseTS(ts); err != nil {
		return "", time.Time{}, false, j.fail("reading the replay checkpoint", err)
	}
	return eventID, created, true, nil
}
