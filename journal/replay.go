package journal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/reconctl/reconctl/localstate"
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
	err = j.q(q).QueryRowContext(ctx, j.d.bind(
		`SELECT outcome FROM reconctl_events WHERE provider = ? AND target = ? AND event_id = ?`),
		provider, target, eventID).Scan(&outcome)
	if errors.Is(err, localstate.ErrNoRows) {
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
	return j.RecordEvents(ctx, q, []EventRow{e})
}

// recordEventUpsert upserts an event (before bind); a failure never
// overwrites a success (outcome is assigned last: the MySQL form reads it in
// every condition).
func (d dialect) recordEventUpsert() string {
	return d.upsert("reconctl_events",
		[]string{"provider", "target", "event_id", "run_id", "event_type", "created_at", "outcome", "processed_at"},
		[]string{"provider", "target", "event_id"},
		[]string{"run_id", "event_type", "created_at", "processed_at", "outcome"},
		"excluded.outcome <> 'failed' OR reconctl_events.outcome = 'failed'")
}

// execer is one prepared statement, or the query re-sent each time.
type execer func(ctx context.Context, args ...any) error

// prepare prepares query once on q (a transaction or the journal's own
// connection when q is nil) for a batch of rows.
func (j *Journal) prepare(ctx context.Context, q Querier, query string) (execer, func(), error) {
	return prepareOn(ctx, j.q(q), query)
}

// prepareOn prepares query once on q when q can prepare statements (the
// journal's own handle, or a SQLite Tx: a localstate.Preparer), else
// re-sends it per row.
func prepareOn(ctx context.Context, q Querier, query string) (execer, func(), error) {
	if p, ok := q.(localstate.Preparer); ok {
		st, err := p.PrepareContext(ctx, query)
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, args ...any) error { _, err := st.ExecContext(ctx, args...); return err }, func() { st.Close() }, nil
	}
	return func(ctx context.Context, args ...any) error {
		_, err := q.ExecContext(ctx, query, args...)
		return err
	}, func() {}, nil
}

// upsertBatch is how many rows one of RecordEvents' and RecordVersions'
// upserts carries (8 and 6 parameters each): a replay of 100k events is a
// few thousand statements, not 200k (issue #16 item 5).
const upsertBatch = 100

// manyRows turns an upsert of one row (d.upsert) into one of n rows.
func manyRows(q string, ncols, n int) string {
	one := "VALUES (" + placeholders(ncols) + ")"
	return strings.Replace(q, one, "VALUES "+strings.TrimSuffix(strings.Repeat("("+placeholders(ncols)+"),", n), ","), 1)
}

// execBatches runs upsert (one row's statement, before bind) over rows of
// ncols values each, upsertBatch rows a statement: the full batches
// through one prepared statement, the last one on its own.
func (j *Journal) execBatches(ctx context.Context, q Querier, upsert string, ncols int, rows [][]any) error {
	full := min(upsertBatch, len(rows))
	exec, done, err := j.prepare(ctx, q, j.d.bind(manyRows(upsert, ncols, full)))
	if err != nil {
		return err
	}
	defer done()
	args := make([]any, 0, ncols*full)
	for start := 0; start < len(rows); start += full {
		batch := rows[start:min(start+full, len(rows))]
		args = args[:0]
		for _, r := range batch {
			args = append(args, r...)
		}
		if len(batch) == full {
			err = exec(ctx, args...)
		} else {
			_, err = j.q(q).ExecContext(ctx, j.d.bind(manyRows(upsert, ncols, len(batch))), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// RecordEvents records processed events, many rows a statement. An event
// given twice is folded first by RecordEvent's rule (a failure never
// overwrites a success), as one statement cannot update a row twice on
// Postgres.
func (j *Journal) RecordEvents(ctx context.Context, q Querier, events []EventRow) error {
	if len(events) == 0 {
		return nil
	}
	type key struct{ provider, target, id string }
	at := make(map[key]int, len(events))
	rows := make([]EventRow, 0, len(events))
	for _, e := range events {
		if err := checkEvent(e); err != nil {
			return err
		}
		k := key{e.Provider, e.Target, e.EventID}
		if i, dup := at[k]; dup {
			if e.Outcome != OutcomeFailed || rows[i].Outcome == OutcomeFailed {
				rows[i] = e
			}
			continue
		}
		at[k] = len(rows)
		rows = append(rows, e)
	}
	now := fmtTS(time.Now())
	vals := make([][]any, len(rows))
	for i, e := range rows {
		vals[i] = []any{e.Provider, e.Target, e.EventID, e.RunID, e.Type, nullTS(e.Created), e.Outcome, now}
	}
	if err := j.execBatches(ctx, q, j.d.recordEventUpsert(), 8, vals); err != nil {
		return j.fail("recording events", err)
	}
	return nil
}

func checkEvent(e EventRow) error {
	switch e.Outcome {
	case OutcomeApplied, OutcomeStale, OutcomeIgnored, OutcomeDelivered, OutcomeFailed:
	default:
		return fmt.Errorf("journal: RecordEvent %s: outcome %q is not one of applied, stale, ignored, delivered, failed", e.EventID, e.Outcome)
	}
	if e.Provider == "" || e.EventID == "" {
		return fmt.Errorf("journal: RecordEvent needs a provider and an event id")
	}
	return nil
}

// RecordVersion records that the record now reflects the provider's data as
// of at (an event's created time, or the state time a diff/resync applied).
// It keeps the newest: an older time never replaces a newer one; an equal
// one does (events are processed oldest first, so it is the later one).
func (j *Journal) RecordVersion(ctx context.Context, q Querier, provider, resource, objectID string, at time.Time, eventID, source string) error {
	return j.RecordVersions(ctx, q, []VersionRow{{provider, resource, objectID, at, eventID, source}})
}

// VersionRow is one record's freshness for RecordVersions.
type VersionRow struct {
	Provider, Resource, ObjectID string
	At                           time.Time
	EventID, Source              string
}

// RecordVersions records versions with one prepared statement (see RecordVersion).
func (j *Journal) RecordVersions(ctx context.Context, q Querier, rows []VersionRow) error {
	if len(rows) == 0 {
		return nil
	}
	for _, v := range rows {
		if v.At.IsZero() {
			return fmt.Errorf("journal: RecordVersion %s %s: no time", v.Resource, v.ObjectID)
		}
	}
	// A record given twice is folded first by the rule below (the newer
	// time, or the later of equal ones), as one statement cannot update a
	// row twice on Postgres.
	type key struct{ provider, resource, id string }
	at := make(map[key]int, len(rows))
	folded := make([]VersionRow, 0, len(rows))
	for _, v := range rows {
		k := key{v.Provider, v.Resource, v.ObjectID}
		if i, dup := at[k]; dup {
			if !v.At.Before(folded[i].At) {
				folded[i] = v
			}
			continue
		}
		at[k] = len(folded)
		folded = append(folded, v)
	}
	vals := make([][]any, len(folded))
	for i, v := range folded {
		vals[i] = []any{v.Provider, v.Resource, v.ObjectID, fmtTS(v.At), v.EventID, v.Source}
	}
	// version_at is assigned last: the MySQL form reads it in every condition.
	if err := j.execBatches(ctx, q, j.d.upsert("reconctl_versions",
		[]string{"provider", "resource", "object_id", "version_at", "event_id", "source"},
		[]string{"provider", "resource", "object_id"},
		[]string{"event_id", "source", "version_at"},
		"excluded.version_at >= reconctl_versions.version_at"), 6, vals); err != nil {
		return j.fail("recording record versions", err)
	}
	return nil
}

// Version is the newest time recorded for the record by RecordVersion.
func (j *Journal) Version(ctx context.Context, q Querier, provider, resource, objectID string) (at time.Time, eventID string, found bool, err error) {
	var ts string
	err = j.q(q).QueryRowContext(ctx, j.d.bind(
		`SELECT version_at, event_id FROM reconctl_versions WHERE provider = ? AND resource = ? AND object_id = ?`),
		provider, resource, objectID).Scan(&ts, &eventID)
	if errors.Is(err, localstate.ErrNoRows) {
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
	// event_created is assigned last: the MySQL form reads it in every condition.
	_, err := j.q(q).ExecContext(ctx, j.d.bind(j.d.upsert("reconctl_checkpoints",
		[]string{"provider", "event_id", "event_created", "run_id", "updated_at"},
		[]string{"provider"},
		[]string{"event_id", "run_id", "updated_at", "event_created"},
		"excluded.event_created >= reconctl_checkpoints.event_created")),
		provider, eventID, fmtTS(created), runID, fmtTS(time.Now()))
	return j.fail("storing the replay checkpoint", err)
}

// Checkpoint is the checkpoint the last successful replay stored.
func (j *Journal) Checkpoint(ctx context.Context, provider string) (eventID string, created time.Time, found bool, err error) {
	var ts string
	err = j.db.QueryRowContext(ctx, j.d.bind(
		`SELECT event_id, event_created FROM reconctl_checkpoints WHERE provider = ?`), provider).Scan(&eventID, &ts)
	if errors.Is(err, localstate.ErrNoRows) {
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

// lookupChunk bounds the ids in one IN (...) list (SQLite allows 32,766
// parameters; a few hundred keep statements small and cacheable).
const lookupChunk = 500

func placeholders(n int) string {
	b := make([]byte, 0, 2*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '?')
	}
	return string(b)
}

// EventsProcessed returns the outcome of each of eventIDs that an earlier run
// processed for target: replay's duplicate check, a few queries for a window
// of thousands of events instead of one per event.
func (j *Journal) EventsProcessed(ctx context.Context, provider, target string, eventIDs []string) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(eventIDs); start += lookupChunk {
		ids := eventIDs[start:min(start+lookupChunk, len(eventIDs))]
		args := []any{provider, target}
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := j.db.QueryContext(ctx, j.d.bind(
			`SELECT event_id, outcome FROM reconctl_events WHERE provider = ? AND target = ? AND event_id IN (`+placeholders(len(ids))+`)`), args...)
		if err != nil {
			return nil, j.fail("looking up processed events", err)
		}
		for rows.Next() {
			var id, outcome string
			if err := rows.Scan(&id, &outcome); err != nil {
				rows.Close()
				return nil, j.fail("looking up processed events", err)
			}
			out[id] = outcome
		}
		if err := rows.Close(); err != nil {
			return nil, j.fail("looking up processed events", err)
		}
	}
	return out, nil
}

// Versions returns the newest time recorded by RecordVersion for each of
// objectIDs of resource that has one (the batch form of Version).
func (j *Journal) Versions(ctx context.Context, provider, resource string, objectIDs []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for start := 0; start < len(objectIDs); start += lookupChunk {
		ids := objectIDs[start:min(start+lookupChunk, len(objectIDs))]
		args := []any{provider, resource}
		for _, id := range ids {
			args = append(args, id)
		}
		rows, err := j.db.QueryContext(ctx, j.d.bind(
			`SELECT object_id, version_at FROM reconctl_versions WHERE provider = ? AND resource = ? AND object_id IN (`+placeholders(len(ids))+`)`), args...)
		if err != nil {
			return nil, j.fail("reading record versions", err)
		}
		for rows.Next() {
			var id, ts string
			if err := rows.Scan(&id, &ts); err != nil {
				rows.Close()
				return nil, j.fail("reading record versions", err)
			}
			at, err := parseTS(ts)
			if err != nil {
				rows.Close()
				return nil, j.fail("reading record versions", err)
			}
			out[id] = at
		}
		if err := rows.Close(); err != nil {
			return nil, j.fail("reading record versions", err)
		}
	}
	return out, nil
}
