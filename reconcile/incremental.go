package reconcile

// Incremental diffs (issue #18): instead of listing a resource, roll the
// provider snapshot (snapshot.go) forward from the events since its cursor
// and compare it, as the provider side, with a full scan of the local side —
// the same comparison a full diff runs (resourceRun), over a different
// provider side (snapshotSide). Every suspect the snapshot gives (a
// missing_local, changed or missing_remote record) is read live before it
// is reported: missing_remote through the usual confirmation (Engine.confirm),
// the others by a Get each; what a live read finds goes into the snapshot,
// and when any of it differed from the snapshot the comparison runs once more
// over the corrected snapshot (those ids are then read from this run's
// reads, not again). When the snapshot cannot be trusted the resource is
// listed in full, as diff does, and the listing becomes the new snapshot.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// Incremental configures incremental comparisons (Engine.Incremental).
type Incremental struct {
	Store SnapshotStore
	// Provider and Tenant key the snapshots (with the resource); Provider
	// defaults to the provider's Name.
	Provider, Tenant string
	// Full forces a full listing (--full); the snapshot is renewed.
	Full bool
	// FullEvery is how old the last full listing may get before a run
	// lists in full again (full_every:); 0 means DefaultFullEvery. Events
	// are not guaranteed for every change, so a full pass catches what no
	// event said.
	FullEvery time.Duration
	// Overlap is how far before the cursor the events are read again, as
	// events lists are eventually consistent (0: DefaultOverlap).
	Overlap time.Duration
}

// overlap is Overlap or its default.
func (inc *Incremental) overlap() time.Duration {
	if inc.Overlap > 0 {
		return inc.Overlap
	}
	return DefaultOverlap
}

// DefaultFullEvery is full_every's default.
const DefaultFullEvery = 7 * 24 * time.Hour

// DefaultOverlap is how far before its cursor an incremental run reads the
// events again: an event may show up in the list a little after its Created.
const DefaultOverlap = 5 * time.Minute

// retentionMargin is how much inside the provider's event retention the
// cursor must be for the events since it to be trusted complete.
const retentionMargin = 24 * time.Hour

// IncrementalResult is how one resource's incremental comparison went.
type IncrementalResult struct {
	// Incremental: the snapshot and the events stood for the listing.
	Incremental bool
	// Fallback says why the resource was listed in full ("" when it was not).
	Fallback string
	// From is the cursor the events were read from (incremental), Cursor the
	// one stored for the next run.
	From, Cursor time.Time
	// Events counts the events applied to the snapshot; Reread the live
	// reads of suspects.
	Events, Reread int
}

// Fallback reasons (the report's "fallback").
const (
	FallbackFull          = "--full given"
	FallbackNoSnapshot    = "no snapshot"
	FallbackMapping       = "the mapping changed since the snapshot was taken"
	FallbackNoEventsAPI   = "provider has no events API"
	fallbackRetentionFmt  = "the events cursor (%s) is older than the provider's event retention (%s) less a day"
	fallbackFullEveryFmt  = "full_every (%s) reached: the last full listing began at %s"
	fallbackForeignFmt    = "event %s is in API version %s and its object could not be re-fetched: %s"
	fallbackUnreadableFmt = "%s %s changed and cannot be read (inaccessible)"
)

// changesWithoutEvents is the fallback of a provider whose changes cannot
// be read incrementally at all: no events API and no changes feed of its
// own. It lists in full every run, and says why.
func changesWithoutEvents(f providers.Features, resource string) string {
	if eventsCoverDeletions(f, resource) || f.Changes != nil {
		return ""
	}
	return FallbackNoEventsAPI
}

// eventsCoverDeletions: f has an events API that is more than a changes
// feed (one that also says what was deleted).
func eventsCoverDeletions(f providers.Features, resource string) bool {
	if f.Events == nil {
		return false
	}
	c, ok := f.Events.(deletionCoverer)
	return !ok || c.CoversDeletions(resource)
}

// changesFeed is the provider's own "changed since" feed when it has no
// events API that reports deletions (Clerk: users by updated_at, newest
// first; REST: updated_after_param): an incremental run then reads the
// changes from it, and only a full listing (full_every:) finds records
// deleted at the provider, which such a feed cannot show. nil: none (the
// events API is used, or the provider lists in full every run).
func changesFeed(f providers.Features, resource string) providers.ChangeLister {
	if eventsCoverDeletions(f, resource) {
		return nil
	}
	return f.Changes
}

// deletionCoverer is implemented by event sources that may be only a
// changes feed, without deletions (the REST provider's updated_after one).
type deletionCoverer interface {
	CoversDeletions(resource string) bool
}

// compareIncremental compares one resource incrementally, or in full when
// the snapshot cannot be trusted (the reason is rr.Incremental.Fallback).
func (e *Engine) compareIncremental(ctx context.Context, r *Resource, mode Mode) (*ResourceResult, []Drift, error) {
	inc := e.Incremental
	key := SnapshotKey{Provider: inc.Provider, Tenant: inc.Tenant, Resource: r.Table.Resource}
	if key.Provider == "" {
		key.Provider = e.Provider.Name()
	}
	fp := r.Fingerprint()
	meta, found, err := inc.Store.SnapshotMeta(ctx, key)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the snapshot of %s: %w", key, err)
	}
	reason := e.fallbackReason(meta, found, fp, r.Table.Resource)
	if reason == "" {
		rr, drift, why, err := e.rollForward(ctx, r, mode, key, meta)
		if err != nil || why == "" {
			return rr, drift, err
		}
		reason = why
	}
	return e.fullListing(ctx, r, mode, key, fp, reason)
}

// fallbackReason says why the stored snapshot cannot stand for a listing
// ("" when it can).
func (e *Engine) fallbackReason(meta SnapshotMeta, found bool, fp, resource string) string {
	inc := e.Incremental
	f := providers.FeaturesOf(e.Provider)
	now := e.now()
	switch {
	case inc.Full:
		return FallbackFull
	case changesWithoutEvents(f, resource) != "":
		return changesWithoutEvents(f, resource)
	case !found:
		return FallbackNoSnapshot
	case meta.Fingerprint != fp:
		return FallbackMapping
	}
	// A changes feed (changesFeed) is a listing: nothing ages out of it.
	if ret := retentionOf(f, resource); ret > 0 && now.Sub(meta.Cursor) > ret-retentionMargin {
		return fmt.Sprintf(fallbackRetentionFmt, meta.Cursor.UTC().Format(time.RFC3339), ret)
	}
	every := inc.FullEvery
	if every <= 0 {
		every = DefaultFullEvery
	}
	if now.Sub(meta.FullAt) >= every {
		return fmt.Sprintf(fallbackFullEveryFmt, every, meta.FullAt.UTC().Format(time.RFC3339))
	}
	return ""
}

// retentionOf is how far back f's events reach (0: no limit, or a
// changes feed that is a listing).
func retentionOf(f providers.Features, resource string) time.Duration {
	if !eventsCoverDeletions(f, resource) {
		return 0
	}
	return f.Events.EventRetention()
}

// fullListing compares r with a full listing, as diff does, and stores what
// it listed as the new snapshot, with the cursor taken before the listing.
func (e *Engine) fullListing(ctx context.Context, r *Resource, mode Mode, key SnapshotKey, fp, reason string) (*ResourceResult, []Drift, error) {
	start := e.now()
	run := newResourceRun(e, r, mode)
	var rows []SnapshotRow
	var encErr error
	// What a listing saw is dated the overlap before it began: a change it
	// missed may carry an event dated (to the provider's second, on the
	// provider's clock) before the listing began, and the next run must
	// apply it; events it did see are applied again, in order, to the same
	// end.
	at := start.Add(-e.Incremental.overlap()).UnixNano()
	run.capture = func(id string, upd time.Time, vals []any, found []bool) {
		b, err := encodeValues(vals, found)
		if err != nil {
			if encErr == nil {
				encErr = fmt.Errorf("snapshot of %s, record %s: %w", key, id, err)
			}
			return
		}
		row := SnapshotRow{ID: id, Values: b, EventAt: at}
		if !upd.IsZero() {
			row.UpdatedAt = upd.UnixNano()
		}
		rows = append(rows, row)
	}
	rr, drift, err := run.compare(ctx)
	if err != nil {
		return nil, nil, err
	}
	if encErr != nil {
		return nil, nil, encErr
	}
	// An id listed twice (the comparison refuses to write such a resource)
	// is stored once.
	slices.SortStableFunc(rows, func(a, b SnapshotRow) int { return compareStrings(a.ID, b.ID) })
	rows = slices.CompactFunc(rows, func(a, b SnapshotRow) bool { return a.ID == b.ID })
	save := SnapshotSave{Meta: SnapshotMeta{Fingerprint: fp, Cursor: start, FullAt: start, Rows: len(rows)}, Full: true, Rows: rows}
	if err := e.Incremental.Store.SaveSnapshot(ctx, key, save); err != nil {
		return nil, nil, fmt.Errorf("storing the snapshot of %s: %w", key, err)
	}
	e.logger().Info("listed in full; snapshot stored", "resource", key.Resource, "why", reason, "records", len(rows))
	rr.Incremental = &IncrementalResult{Fallback: reason, Cursor: start}
	return rr, drift, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rollForward loads the snapshot, applies the events since its cursor (less
// the overlap) and compares it with the local side, confirming every suspect
// live. why is set (and nothing else) when the events cannot be trusted and
// the resource must be listed in full.
func (e *Engine) rollForward(ctx context.Context, r *Resource, mode Mode, key SnapshotKey, meta SnapshotMeta) (rr *ResourceResult, drift []Drift, why string, err error) {
	inc := e.Incremental
	start := e.now()
	snap := newSnapState(key, meta)
	if err := inc.Store.SnapshotRows(ctx, key, func(row SnapshotRow) error {
		snap.load(row)
		return nil
	}); err != nil {
		return nil, nil, "", fmt.Errorf("reading the snapshot of %s: %w", key, err)
	}
	snap.sortBase()
	evs, err := inc.Store.SnapshotEvents(ctx, key)
	if err != nil {
		return nil, nil, "", fmt.Errorf("reading the snapshot of %s: %w", key, err)
	}
	for _, ev := range evs {
		snap.applied[ev.ID] = ev.Created
	}
	side := &snapshotSide{live: e.Provider, snap: snap, fields: r.fields, reads: map[string]fetched{}}
	overlap := inc.overlap()
	from := meta.Cursor.Add(-overlap)
	// A live read is dated like a listing (see fullListing).
	readAt := start.Add(-overlap).UnixNano()
	n, unsure, why, err := e.applyEvents(ctx, r, side, from, readAt)
	if err != nil || why != "" {
		return nil, nil, why, err
	}
	sub := *e
	sub.Provider = side
	sub.Incremental = nil
	if len(unsure) > 0 {
		// Events tied in time with the newest the snapshot holds of their
		// record, listed later: which came last is unknown, a live read
		// tells.
		if _, err := sub.getMany(ctx, key.Resource, unsure); err != nil {
			return nil, nil, "", fmt.Errorf("reading %s: %w", key.Resource, err)
		}
		if _, err := side.absorb(readAt); err != nil {
			return nil, nil, "", err
		}
	}
	rr, drift, err = newResourceRun(&sub, r, mode).compare(ctx)
	if err != nil {
		return nil, nil, "", err
	}
	// Every missing_local and changed record is read live (missing_remote
	// ones were, by the confirmation).
	var suspects []string
	for _, d := range drift {
		if d.Kind == KindMissingLocal || d.Kind == KindChanged {
			suspects = append(suspects, d.ID)
		}
	}
	sort.Strings(suspects)
	if _, err := sub.getMany(ctx, key.Resource, suspects); err != nil {
		return nil, nil, "", fmt.Errorf("confirming %s: %w", key.Resource, err)
	}
	changed, err := side.absorb(readAt)
	if err != nil {
		return nil, nil, "", err
	}
	if changed {
		// The snapshot was wrong somewhere (an event not yet visible, or
		// never sent): compare again over the corrected one; the records
		// read above are not read again.
		e.logger().Debug("live reads corrected the snapshot; comparing again", "resource", key.Resource)
		rr, drift, err = newResourceRun(&sub, r, mode).compare(ctx)
		if err != nil {
			return nil, nil, "", err
		}
	}
	if err := e.saveRolled(ctx, snap, start, overlap); err != nil {
		return nil, nil, "", err
	}
	rr.Incremental = &IncrementalResult{Incremental: true, From: meta.Cursor, Cursor: start, Events: n, Reread: len(side.reads)}
	return rr, drift, "", nil
}

// applyEvents applies the events of r's resource created since from to the
// snapshot, oldest first, skipping those already applied (by id) and those
// older than what the snapshot holds of their record. An event rendered in
// another API version is replaced by a live read of its object (dated
// readAt); why is set when that read fails. unsure lists the records an
// event left unsure: one listed late with the same time as the newest
// applied to its record.
func (e *Engine) applyEvents(ctx context.Context, r *Resource, side *snapshotSide, from time.Time, readAt int64) (n int, unsure []string, why string, err error) {
	f := providers.FeaturesOf(e.Provider)
	resource := r.Table.Resource
	q := providers.EventQuery{Since: from}
	if f.EventTypes != nil {
		q.Types = f.EventTypes.EventTypesFor([]string{resource})
	}
	var evs []providers.Event
	feed := changesFeed(f, resource)
	if feed != nil {
		// The provider's own feed: a record listed by its updated_at (no
		// event id), or its values left for a live read (Record nil). Its
		// order may be newest first: oldest first, as events come.
		_, err = feed.ChangesSince(ctx, resource, from, func(c providers.Change) error {
			ev := providers.Event{ID: c.EventID, Created: c.At, Resource: resource, ObjectID: c.ID, Deleted: c.Deleted, ForeignVersion: c.ForeignVersion}
			if c.Record != nil {
				ev.Object = c.Record.Data
			}
			if ev.ObjectID != "" {
				evs = append(evs, ev)
			}
			return nil
		})
		slices.SortStableFunc(evs, func(a, b providers.Event) int { return a.Created.Compare(b.Created) })
	} else {
		err = f.Events.Events(ctx, q, func(ev providers.Event) error {
			if ev.Resource == resource && ev.ObjectID != "" {
				ev.Raw = nil // not kept
				evs = append(evs, ev)
			}
			return nil
		})
	}
	if err != nil {
		return 0, nil, "", fmt.Errorf("reading the %s changes since %s: %w", resource, from.UTC().Format(time.RFC3339), err)
	}
	snap := side.snap
	thisRun := map[string]bool{} // records an event of this batch set
	for _, ev := range evs {
		if _, dup := snap.applied[ev.ID]; dup && ev.ID != "" {
			continue
		}
		created := ev.Created.UnixNano()
		if ev.ID != "" {
			snap.applied[ev.ID] = created
		}
		cur, has := snap.get(ev.ObjectID)
		if has && created < cur.eventAt {
			continue // the snapshot already holds something newer
		}
		if feed != nil && has && created == cur.eventAt && ev.Object != nil && !cur.deleted {
			// A feed lists a record again inside the overlap: the same
			// values at the same time are nothing new.
			if b, err := project(side.fields, ev.Object); err == nil && bytes.Equal(b, cur.vals) {
				continue
			}
		}
		if has && created == cur.eventAt && (!thisRun[ev.ObjectID] || feed == nil) {
			// Tied in time with the newest the snapshot holds of the
			// record (listed later, or two events of one record in one
			// second of this batch, whose order the list does not
			// promise): which came last is unknown, a live read tells.
			unsure = append(unsure, ev.ObjectID)
			continue
		}
		thisRun[ev.ObjectID] = true
		switch {
		case ev.Deleted:
			snap.set(ev.ObjectID, snapRec{deleted: true, eventAt: created})
		case ev.ForeignVersion != "" || feed != nil && ev.Object == nil:
			// Another API version, or a feed that names the record only:
			// its current values from a live read.
			rec, st, gerr := side.Get(ctx, resource, ev.ObjectID)
			var auth *providers.AuthError
			if errors.As(gerr, &auth) || ctx.Err() != nil {
				return 0, nil, "", gerr
			}
			switch {
			case ev.ForeignVersion == "" && gerr != nil:
				return 0, nil, "", fmt.Errorf("reading %s %s, which changed since %s: %w", resource, ev.ObjectID, from.UTC().Format(time.RFC3339), gerr)
			case ev.ForeignVersion == "" && st == providers.StatusInaccessible:
				return 0, nil, fmt.Sprintf(fallbackUnreadableFmt, resource, ev.ObjectID), nil
			case gerr != nil:
				return 0, nil, fmt.Sprintf(fallbackForeignFmt, ev.ID, ev.ForeignVersion, gerr), nil
			case st == providers.StatusInaccessible:
				return 0, nil, fmt.Sprintf(fallbackForeignFmt, ev.ID, ev.ForeignVersion, "inaccessible"), nil
			case st == providers.StatusDeleted:
				snap.set(ev.ObjectID, snapRec{deleted: true, eventAt: max(created, readAt)})
			default:
				b, err := project(side.fields, rec.Data)
				if err != nil {
					return 0, nil, "", fmt.Errorf("event %s: %w", ev.ID, err)
				}
				var upd int64
				if !rec.UpdatedAt.IsZero() {
					upd = rec.UpdatedAt.UnixNano()
				}
				snap.set(ev.ObjectID, snapRec{vals: b, upd: upd, eventAt: max(created, readAt)})
			}
		case ev.Object != nil:
			b, err := project(side.fields, ev.Object)
			if err != nil {
				return 0, nil, "", fmt.Errorf("event %s: %w", ev.ID, err)
			}
			// An event carries no updated_at the engine can read: where the
			// provider gives one, the event's time stands for it (replay's
			// convention); a suspect's live read then has the real one.
			var upd int64
			if has && cur.upd != 0 || !has && snap.hasUpd {
				upd = created
			}
			snap.set(ev.ObjectID, snapRec{vals: b, upd: upd, eventAt: created})
		default:
			// An event naming its record without its object (a thin
			// event): the record's values from a live read.
			unsure = append(unsure, ev.ObjectID)
			continue
		}
		n++
	}
	slices.Sort(unsure)
	return n, slices.Compact(unsure), "", nil
}

// saveRolled stores the rolled-forward snapshot: only the records this run
// changed, the tombstones past the overlap window removed, and the ids of
// the events applied inside it.
func (e *Engine) saveRolled(ctx context.Context, snap *snapState, start time.Time, overlap time.Duration) error {
	horizon := start.Add(-overlap).UnixNano()
	var rows []SnapshotRow
	var remove []string
	for id, rec := range snap.dirty {
		if rec.deleted && rec.eventAt < horizon {
			remove = append(remove, id)
			continue
		}
		rows = append(rows, SnapshotRow{ID: id, Values: rec.vals, UpdatedAt: rec.upd, EventAt: rec.eventAt, Deleted: rec.deleted})
	}
	for i := range snap.base {
		if r := &snap.base[i]; r.deleted && r.eventAt < horizon {
			if id := snap.baseIDString(i); !snap.hasDirty(id) {
				remove = append(remove, id)
			}
		}
	}
	slices.SortFunc(rows, func(a, b SnapshotRow) int { return compareStrings(a.ID, b.ID) })
	sort.Strings(remove)
	var evs []SnapshotEvent
	for id, c := range snap.applied {
		if c >= horizon-int64(time.Minute) {
			evs = append(evs, SnapshotEvent{ID: id, Created: c})
		}
	}
	slices.SortFunc(evs, func(a, b SnapshotEvent) int { return compareStrings(a.ID, b.ID) })
	meta := snap.meta
	meta.Cursor = start
	meta.Rows = snap.count() - len(remove)
	save := SnapshotSave{Meta: meta, Rows: rows, Remove: remove, Events: evs}
	if err := e.Incremental.Store.SaveSnapshot(ctx, snap.key, save); err != nil {
		return fmt.Errorf("storing the snapshot of %s: %w", snap.key, err)
	}
	return nil
}

// Incremental sums up the run's incremental comparisons: nil when the
// engine did not run incrementally.
func (res *Result) Incremental() *IncrementalRun {
	var out *IncrementalRun
	var reasons []string
	for _, rr := range res.Resources {
		ir := rr.Incremental
		if ir == nil {
			continue
		}
		if out == nil {
			out = &IncrementalRun{Incremental: true}
		}
		if !ir.Incremental {
			out.Incremental = false
			why := ir.Fallback
			if len(res.Resources) > 1 {
				why = rr.Resource.Table.Resource + ": " + why
			}
			reasons = append(reasons, why)
		}
		c := ir.Cursor
		if ir.Incremental {
			c = ir.From
		}
		if cs := c.UTC().Format(time.RFC3339Nano); out.Cursor == "" || cs < out.Cursor {
			out.Cursor = cs
		}
	}
	if out != nil && len(reasons) > 0 {
		s := reasons[0]
		for _, r := range reasons[1:] {
			s += "; " + r
		}
		out.Fallback = &s
	}
	return out
}
