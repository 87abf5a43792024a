package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// planned is an event to process: et is nil for a stale event (journaled only).
type planned struct {
	e  *providers.Event // in the fetched window (not a copy: a window is large)
	et *eventTable
	pl *payload // what e keeps of its object (nil: read e.Object)
}

// eventTarget maps an event to its local table, or nil when not configured.
type eventTable struct {
	table *localstate.Table
	res   *reconcile.Resource
}

// applier applies one run's events to the state.
type applier struct {
	env        *Env
	job        jobSpec
	store      localstate.Store
	eng        *reconcile.Engine
	rep        *Report
	provider   string
	configured map[string]bool
	tables     map[string]*eventTable
}

// tableFor is a configured resource's compiled mapping (nil: not configured).
func (a *applier) tableFor(ctx context.Context, resource string) (*eventTable, error) {
	if resource == "" || !a.configured[resource] {
		return nil, nil
	}
	if et, ok := a.tables[resource]; ok {
		return et, nil
	}
	t := a.env.Table(resource)
	res, err := a.env.Prepare(ctx, a.eng, t)
	if err != nil {
		return nil, err
	}
	et := &eventTable{table: t, res: res}
	a.tables[resource] = et
	return et, nil
}

// applyEvents classifies every event, checks the brake, then applies in
// order, committing each batch's changes together with its journal rows.
func applyEvents(ctx context.Context, env *Env, p providers.Provider, job jobSpec, events []providers.Event, pls []*payload, rep *Report) error {
	defer rep.finishCounts()
	store, err := env.OpenStore(ctx, job.dryRun)
	if err != nil {
		return err
	}
	defer store.Close()
	a := &applier{env: env, job: job, store: store, rep: rep, provider: job.key, configured: map[string]bool{}, tables: map[string]*eventTable{},
		eng: &reconcile.Engine{Provider: p, Store: store, Logger: env.Logger}}
	for _, name := range env.Resources {
		a.configured[name] = true
	}
	todo, perResource, lastDeleted, err := a.classify(ctx, events, pls)
	if err != nil {
		return err
	}
	// Dry run: the plan is the outcome.
	if job.dryRun {
		if err := absentPathGuard(ctx, env.Logger, store, todo, job.allowAbsent, false); err != nil {
			return err
		}
		for _, t := range todo {
			if t.et != nil {
				rep.add(*t.e, OutcomeWouldApply, "")
			}
		}
		sortEvents(rep)
		if rep.Summary[OutcomeWouldApply] > 0 {
			rep.ExitCode = reconcile.ExitDrift
		}
		return nil
	}

	if refused, err := a.brake(ctx, todo, perResource, lastDeleted); err != nil || refused {
		return err
	}

	// 3b. Payloads rendered in another API version than the client's.
	if err := refetchForeign(ctx, p, todo, rep); err != nil {
		return err
	}
	// 3c. A mapped path no event payload has (a typo) would write NULL.
	if err := absentPathGuard(ctx, env.Logger, store, todo, job.allowAbsent, true); err != nil {
		return err
	}

	last, err := a.apply(ctx, todo)
	if err != nil {
		return err
	}
	sortEvents(rep)
	// 5. Checkpoint: the newest event processed before any failure.
	if last == nil && len(todo) > 0 && rep.Summary[OutcomeFailed] == 0 {
		last = todo[len(todo)-1].e
	}
	return checkpoint(ctx, env, job, newestOf(events), last, rep)
}

// newestOf is the newest fetched event (nil: none).
func newestOf(events []providers.Event) *providers.Event {
	if len(events) == 0 {
		return nil
	}
	return &events[len(events)-1]
}

// checkpoint stores the newest event processed before any failure (last, or
// with no failure newest, the newest fetched) as the run's cursor and
// checkpoint; a failed event leaves drift (exit 2) for the next run to retry.
func checkpoint(ctx context.Context, env *Env, job jobSpec, newest, last *providers.Event, rep *Report) error {
	if last == nil && newest != nil && rep.Summary[OutcomeFailed] == 0 {
		last = newest
	}
	if last != nil {
		rep.Cursor = last.ID
		if err := env.Journal.SetCheckpoint(ctx, nil, job.checkpoint, last.ID, last.Created, env.RunID); err != nil {
			return err
		}
	}
	if rep.Summary[OutcomeFailed] > 0 {
		rep.ExitCode = reconcile.ExitDrift
	}
	return nil
}

// classify sorts each event into ignored, duplicate, stale, or to apply
// (todo; a stale one is only journaled), and counts the records each
// resource would write and which records' newest event deletes them.
func (a *applier) classify(ctx context.Context, events []providers.Event, pls []*payload) (todo []planned, perResource map[string]int, lastDeleted map[string]bool, err error) {
	// 2. Classify: ignored, duplicate, stale, or to apply.
	newest := map[string]time.Time{} // resource/object -> newest event time seen in this run
	perResource = map[string]int{}
	written := map[string]bool{}
	lastDeleted = map[string]bool{} // resource/id -> its newest applied event deletes it
	// The journal is asked in batches: which events were processed, and how
	// fresh each record (and each resource, after a diff --apply/resync) is.
	var ids []string
	objects := map[string][]string{}
	for _, e := range events {
		if et, err := a.tableFor(ctx, e.Resource); err != nil {
			return nil, nil, nil, err
		} else if et != nil {
			ids = append(ids, e.ID)
			objects[e.Resource] = append(objects[e.Resource], e.ObjectID)
		}
	}
	processed := map[string]string{}
	if !a.job.reprocess {
		if processed, err = a.env.Journal.EventsProcessed(ctx, a.provider, "", ids); err != nil {
			return nil, nil, nil, err
		}
	}
	versions := map[string]map[string]time.Time{}
	watermark := map[string]time.Time{}
	for res, objs := range objects {
		if versions[res], err = a.env.Journal.Versions(ctx, a.provider, res, objs); err != nil {
			return nil, nil, nil, err
		}
		if w, _, found, err := a.env.Journal.Version(ctx, nil, a.provider, res, "*"); err != nil {
			return nil, nil, nil, err
		} else if found {
			watermark[res] = w
		}
	}
	for i := range events {
		e := &events[i]
		et, _ := a.tableFor(ctx, e.Resource)
		if et == nil {
			a.rep.add(*e, OutcomeIgnored, "")
			continue
		}
		if outcome, found := processed[e.ID]; found && outcome != OutcomeFailed {
			// A failed event is tried again: its fix must not be lost.
			a.rep.add(*e, OutcomeDuplicate, "")
			continue
		}
		key := e.Resource + "/" + e.ObjectID
		at, ok := newest[key]
		if !ok {
			at = versions[e.Resource][e.ObjectID]
			if w := watermark[e.Resource]; w.After(at) {
				at = w
			}
		}
		if !at.IsZero() && e.Created.Before(at) {
			a.rep.add(*e, OutcomeStale, "")
			todo = append(todo, planned{e: e}) // recorded as processed, nothing written
			continue
		}
		newest[key] = e.Created
		lastDeleted[key] = e.Deleted
		todo = append(todo, planned{e: e, et: et, pl: pls[i]})
		if !written[key] { // the brake counts records written, not events
			written[key] = true
			perResource[e.Resource]++
		}
	}
	return todo, perResource, lastDeleted, nil
}

// brake refuses the whole run (true, with every event reported as
// would_apply) when a resource's writes exceed --max-changes or would
// delete all or nearly all of its local records.
func (a *applier) brake(ctx context.Context, todo []planned, perResource map[string]int, lastDeleted map[string]bool) (bool, error) {
	// 3. The brake counts the writes per resource.
	// The mass-delete guard counts the live local records whose last event
	// deletes them: all or nearly all is refused whatever --max-changes says.
	b, err := a.brakeDecision(ctx, perResource, func(res string) []string {
		// Writes go by key: a key several rows share (or that collides
		// under the column's collation) would change all of them.
		var ids []string
		for _, t := range todo {
			if t.et != nil && t.e.Resource == res {
				ids = append(ids, t.e.ObjectID)
			}
		}
		return ids
	}, func(key string) bool { return lastDeleted[key] })
	if err != nil {
		return false, err
	}
	if b == nil {
		return false, nil
	}
	a.rep.Brake = b
	a.rep.ExitCode = reconcile.ExitBrake
	for _, t := range todo {
		if t.et != nil {
			a.rep.add(*t.e, OutcomeWouldApply, "")
		}
	}
	sortEvents(a.rep)
	return true, nil
}

// brakeDecision is the brake's one rule, for the in-memory window and the
// spooled one alike: per resource (written counts the records its events
// write), the local key guard over the ids written, then the mass-delete
// guard (live local records whose last event deletes them: all or nearly
// all is refused whatever --max-changes says), then --max-changes. It
// returns the first refusal, or nil to go on.
func (a *applier) brakeDecision(ctx context.Context, written map[string]int, ids func(res string) []string, deleted func(key string) bool) (*reconcile.BrakeRefusal, error) {
	for res, n := range written {
		local, deletes := 0, 0
		if et := a.tables[res]; et != nil {
			if err := reconcile.LocalKeyGuard(ctx, a.store, et.table, ids(res)); err != nil {
				return nil, err
			}
			if err := a.store.Scan(ctx, et.table, nil, func(row localstate.Row) error {
				local++
				if deleted(res + "/" + row.Key) {
					deletes++
				}
				return nil
			}); err != nil {
				return nil, err
			}
		}
		b := reconcile.MassDeleteCheck(res, deletes, local)
		if a.job.allowEmpty {
			b = nil
		}
		if limit := a.job.brake.Limit(local); b == nil && limit >= 0 && n > limit {
			b = &reconcile.BrakeRefusal{Resource: res, Planned: n, Limit: limit, Setting: a.job.brake.String()}
		}
		if b != nil {
			return b, nil
		}
	}
	return nil, nil
}

// applyBatch is how many events one chunk (one transaction) applies.
const applyBatch = 500

// apply writes todo in order, in chunks, each chunk's changes and journal
// rows together; it stops at the first event that fails (reported, and
// journaled as failed) and returns the last event applied.
func (a *applier) apply(ctx context.Context, todo []planned) (*providers.Event, error) {
	// 4. Apply in order, in batches; each batch's changes and journal rows commit together.
	sameDB := sharesTx(a.store, a.env.JournalInState)
	if bar := a.env.Progress; bar != nil {
		bar.Events(len(todo))
		defer bar.Done()
	}
	var last *providers.Event
	for start := 0; start < len(todo); start += applyBatch {
		chunk := todo[start:min(start+applyBatch, len(todo))]
		end, stopped, err := a.applyChunk(ctx, chunk, sameDB)
		if err != nil {
			return nil, err
		}
		if end > 0 {
			last = chunk[end-1].e
		}
		if stopped {
			break
		}
	}
	return last, nil
}

// applyChunk writes one chunk of todo, its changes and journal rows
// together, and reports its events: how many of them were processed (all
// but from the one that failed) and whether one failed (the run stops).
func (a *applier) applyChunk(ctx context.Context, chunk []planned, sameDB bool) (int, bool, error) {
	bar := a.env.Progress
	failedAt := -1
	var failErr error
	known := existence{}
	stale := map[string]string{} // event id -> why its write was not applied (issue #15)
	commit := func(q journal.Querier, apply func([]localstate.Change) error) error {
		for i, t := range chunk {
			if t.et == nil { // stale: only recorded
				if err := a.env.Journal.RecordEvent(ctx, q, journal.EventRow{Provider: a.provider, EventID: t.e.ID, RunID: a.env.RunID, Type: t.e.Type, Created: t.e.Created, Outcome: OutcomeStale}); err != nil {
					return err
				}
				continue
			}
			ch, err := eventChange(ctx, a.store, known, t.et, *t.e, t.pl)
			if err == nil && ch != nil {
				err = apply([]localstate.Change{*ch})
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				failedAt, failErr = i, err
				return nil
			}
			if why := conflict(ch); why != "" {
				stale[t.e.ID] = why
				if err := a.env.Journal.RecordEvent(ctx, q, journal.EventRow{Provider: a.provider, EventID: t.e.ID, RunID: a.env.RunID, Type: t.e.Type, Created: t.e.Created, Outcome: OutcomeStale}); err != nil {
					return err
				}
				continue
			}
			if err := a.env.Journal.RecordEvent(ctx, q, journal.EventRow{Provider: a.provider, EventID: t.e.ID, RunID: a.env.RunID, Type: t.e.Type, Created: t.e.Created, Outcome: OutcomeApplied}); err != nil {
				return err
			}
			if err := a.env.Journal.RecordVersion(ctx, q, a.provider, t.e.Resource, t.e.ObjectID, t.e.Created, t.e.ID, "replay "+a.env.RunID); err != nil {
				return err
			}
		}
		return nil
	}
	// Fast path: the chunk's net changes in one write, with all its
	// journal rows. If any change fails, the chunk is rolled back and
	// replayed event by event below, to stop exactly at the failing one.
	fastErr := applyChunkNet(ctx, a.store, a.env, a.provider, chunk, sameDB, stale)
	if fastErr != nil {
		clear(stale)
	}
	if fastErr == nil {
		failedAt = -1
	} else if ctx.Err() != nil {
		return 0, false, fmt.Errorf("replaying events (events before %s are applied and journaled): %w", chunk[0].e.ID, ctx.Err())
	}
	var err error
	switch {
	case fastErr == nil:
	case sameDB:
		err = inStateTx(ctx, a.env, a.store, func(tx stateTx) error {
			return commit(tx.Journal(), func(chs []localstate.Change) error {
				return tx.Savepoint(ctx, func() error { return tx.Apply(ctx, chs) })
			})
		})
	default:
		// Journal elsewhere: each change lands first, then its journal rows;
		// a crash in between re-applies an idempotent upsert next time.
		err = commit(nil, func(chs []localstate.Change) error {
			if err := a.env.checkLock(ctx); err != nil {
				return err
			}
			return a.store.Apply(ctx, chs)
		})
	}
	if err != nil {
		return 0, false, fmt.Errorf("replaying events (events before %s are applied and journaled): %w", chunk[0].e.ID, err)
	}
	end := len(chunk)
	if failedAt >= 0 {
		end = failedAt
	}
	for _, t := range chunk[:end] {
		if t.et == nil {
			continue // already counted as stale
		}
		if why, ok := stale[t.e.ID]; ok {
			a.rep.notApplied(*t.e, why)
			continue
		}
		a.rep.add(*t.e, OutcomeApplied, "")
		if bar != nil {
			bar.Step()
		}
	}
	if failedAt >= 0 {
		f := *chunk[failedAt].e
		a.rep.add(f, OutcomeFailed, failErr.Error())
		_ = a.env.Journal.RecordEvent(ctx, nil, journal.EventRow{Provider: a.provider, EventID: f.ID, RunID: a.env.RunID, Type: f.Type, Created: f.Created, Outcome: OutcomeFailed})
		a.rep.Stopped = fmt.Sprintf("stopped at %s (%s): later events were not applied, to keep their order; fix the cause and run replay --since last", f.ID, failErr)
		return end, true, nil
	}
	return end, false, nil
}

// applyChunkNet writes a chunk of events as their net effect on each record
// (events are applied in order, and an upsert writes every mapped column, so
// a record's last event decides its state) in one write, and journals every
// event of the chunk with it: in the same transaction when the journal lives
// in the state, else right after.
func applyChunkNet(ctx context.Context, store localstate.Store, env *Env, provider string, chunk []planned, sameDB bool, stale map[string]string) error {
	known := existence{}
	if err := known.load(ctx, store, chunk); err != nil {
		return err
	}
	before := map[string]bool{}
	net := map[string]*localstate.Change{}
	var order []string
	for _, t := range chunk {
		if t.et == nil {
			continue
		}
		k := t.e.Resource + "/" + t.e.ObjectID
		if _, seen := before[k]; !seen {
			ex, err := known.exists(ctx, store, t.et.table, t.e.ObjectID)
			if err != nil {
				return err
			}
			before[k] = ex
			order = append(order, k)
		}
		ch, err := eventChange(ctx, store, known, t.et, *t.e, t.pl)
		if err != nil {
			return err
		}
		switch {
		case t.e.Deleted && before[k]:
			net[k] = &localstate.Change{Table: t.et.table, Op: localstate.OpDelete, Key: t.e.ObjectID}
			guard(net[k], t.et.table, *t.e)
		case t.e.Deleted && t.et.table.SoftDelete != "":
			// Created and deleted inside the chunk, with a soft delete: event
			// by event leaves a soft-deleted row, which one net change cannot.
			return errEventByEvent
		case t.e.Deleted:
			net[k] = nil // created and deleted inside the chunk
		case ch != nil:
			ch.Op = localstate.OpCreate
			if before[k] {
				ch.Op = localstate.OpUpdate
			}
			guard(ch, t.et.table, *t.e)
			net[k] = ch
		}
	}
	var changes []localstate.Change
	for _, k := range order {
		if ch := net[k]; ch != nil {
			changes = append(changes, *ch)
		}
	}
	record := func(q journal.Querier) error {
		var evs []journal.EventRow
		var vers []journal.VersionRow
		for _, t := range chunk {
			outcome := OutcomeApplied
			if t.et == nil {
				outcome = OutcomeStale
			} else if why := conflict(net[t.e.Resource+"/"+t.e.ObjectID]); why != "" {
				// The local row moved past the chunk's last event of this
				// record (the app wrote it): every one of them is stale.
				outcome = OutcomeStale
				stale[t.e.ID] = why
			} else {
				vers = append(vers, journal.VersionRow{Provider: provider, Resource: t.e.Resource, ObjectID: t.e.ObjectID, At: t.e.Created, EventID: t.e.ID, Source: "replay " + env.RunID})
			}
			evs = append(evs, journal.EventRow{Provider: provider, EventID: t.e.ID, RunID: env.RunID, Type: t.e.Type, Created: t.e.Created, Outcome: outcome})
		}
		if err := env.Journal.RecordEvents(ctx, q, evs); err != nil {
			return err
		}
		return env.Journal.RecordVersions(ctx, q, vers)
	}
	if sameDB {
		return inStateTx(ctx, env, store, func(tx stateTx) error {
			if err := tx.Apply(ctx, changes); err != nil {
				return err
			}
			return record(tx.Journal())
		})
	}
	if err := env.checkLock(ctx); err != nil {
		return err
	}
	if err := store.Apply(ctx, changes); err != nil {
		return err
	}
	return inJournalTx(ctx, env.Journal, record)
}

// errEventByEvent sends a chunk down the event-by-event path.
var errEventByEvent = errors.New("chunk needs event-by-event application")

// existence tracks which records exist locally while a batch of events is
// applied: the batch's own uncommitted writes are invisible to the store's
// reads, so what the batch did is remembered here.
type existence map[string]bool

// load asks the store, in a few queries (Features.Exists), which of the
// chunk's records exist, instead of one Get per record; a store without it
// is asked by exists, record by record.
func (x existence) load(ctx context.Context, store localstate.Store, chunk []planned) error {
	ex := store.Features().Exists
	if ex == nil {
		return nil
	}
	tables := map[string]*localstate.Table{}
	keys := map[string][]string{}
	var order []string
	for _, t := range chunk {
		if t.et == nil || t.e.ObjectID == "" {
			continue
		}
		res := t.et.table.Resource // exists' key
		if _, ok := x[res+"/"+t.e.ObjectID]; ok || slices.Contains(keys[res], t.e.ObjectID) {
			continue
		}
		if _, ok := tables[res]; !ok {
			tables[res] = t.et.table
			order = append(order, res)
		}
		keys[res] = append(keys[res], t.e.ObjectID)
	}
	for _, res := range order {
		got, err := ex(ctx, tables[res], keys[res])
		if err != nil {
			return err
		}
		for _, id := range keys[res] {
			x[res+"/"+id] = got[id]
		}
	}
	return nil
}

func (x existence) exists(ctx context.Context, store localstate.Store, t *localstate.Table, id string) (bool, error) {
	k := t.Resource + "/" + id
	if v, ok := x[k]; ok {
		return v, nil
	}
	_, ok, err := store.Get(ctx, t, nil, id)
	if err != nil {
		return false, err
	}
	x[k] = ok
	return ok, nil
}

// eventChange turns an event into an upsert or a delete of its record.
// refetchForeign handles events whose payload is in another API version
// than the client pins (Stripe renders each event in its own api_version):
// a mapped path may be absent or moved there, and applying it as is would
// write NULL. Each such object is read again, once per object (one GET,
// counted in the summary as "refetched"), and the current object, rendered
// in the pinned version, is applied instead. When the re-read finds nothing
// (deleted since, inaccessible, or the read fails), the payload is applied
// with its absent mapped fields treated as unknown: left as they are.
func refetchForeign(ctx context.Context, p providers.Provider, todo []planned, rep *Report) error {
	fetched := map[string]*providers.Record{}
	for i := range todo {
		t := &todo[i]
		if t.et == nil || t.e.ForeignVersion == "" {
			continue
		}
		if rep.foreign == nil {
			rep.foreign, rep.refetched = map[string]string{}, map[string]bool{}
		}
		rep.foreign[t.e.ID] = t.e.ForeignVersion
		rep.Summary["foreign_version"]++
		if t.e.Deleted {
			continue // a deletion reads no fields
		}
		k := t.e.Resource + "/" + t.e.ObjectID
		rec, done := fetched[k]
		if !done {
			r, st, err := p.Get(ctx, t.e.Resource, t.e.ObjectID)
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			// Counted once the GET has answered: "refetched" only for an
			// object actually re-read, "refetch_failed" for the others.
			if err == nil && st == providers.StatusPresent {
				rec = &r
				rep.Summary["refetched"]++
			} else {
				rep.Summary["refetch_failed"]++
			}
			fetched[k] = rec
		}
		if rec != nil {
			t.e.Object, t.e.ForeignVersion, t.pl = rec.Data, "", nil
			rep.refetched[t.e.ID] = true
		}
	}
	return nil
}

func eventChange(ctx context.Context, store localstate.Store, known existence, et *eventTable, e providers.Event, pl *payload) (*localstate.Change, error) {
	if e.ObjectID == "" {
		return nil, fmt.Errorf("event %s has no object id", e.ID)
	}
	exists, err := known.exists(ctx, store, et.table, e.ObjectID)
	if err != nil {
		return nil, err
	}
	known[e.Resource+"/"+e.ObjectID] = !e.Deleted
	if e.Deleted {
		if !exists {
			return nil, nil // already gone
		}
		ch := &localstate.Change{Table: et.table, Op: localstate.OpDelete, Key: e.ObjectID}
		guard(ch, et.table, e)
		return ch, nil
	}
	ch := &localstate.Change{Table: et.table, Op: localstate.OpUpdate, Key: e.ObjectID, Values: map[string]any{}}
	if !exists {
		ch.Op = localstate.OpCreate
	}
	for _, f := range et.res.Fields() {
		v, ok := lookup(&e, pl, f.Path)
		if !ok && len(et.table.Fields) == 0 {
			continue // auto mapping: only columns the object has
		}
		if !ok && e.ForeignVersion != "" {
			continue // another API version: absent is unknown, not empty
		}
		ch.Values[f.Column] = v
	}
	if et.table.UpdatedAt != "" {
		ch.Values[et.table.UpdatedAt] = e.Created.UTC().Format(time.RFC3339Nano) // the store keeps the column's digits
	}
	guard(ch, et.table, e)
	return ch, nil
}

// absentPathGuard names each mapped path that no written event payload of
// its resource has (the key missing, not null: most likely a typo) and, with
// refuse, refuses the run (exit 1) when applying would set that column to
// null on a local row that has a value, or create a row with it null, unless
// the path is in allow. Deletions and payloads of another API version (whose
// absent fields are left as they are) do not count.
func absentPathGuard(ctx context.Context, log *slog.Logger, store localstate.Store, todo []planned, allow []string, refuse bool) error {
	facts := pathFacts{}
	for i := range todo {
		if t := &todo[i]; guardsPaths(t.et, t.e) {
			facts.note(i, t.et, t.e, t.pl)
		}
	}
	return facts.check(ctx, log, store, allow, refuse, func(res string, fn func(id string) error) error {
		for _, t := range todo {
			if guardsPaths(t.et, t.e) && t.e.Resource == res {
				if err := fn(t.e.ObjectID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// guardsPaths says whether e, to be applied through et, counts for the
// absent-path guard: a write of explicitly mapped fields in the client's
// API version.
func guardsPaths(et *eventTable, e *providers.Event) bool {
	return et != nil && !e.Deleted && e.ForeignVersion == "" && len(et.table.Fields) > 0
}

// pathFacts is what the absent-path guard knows of each resource's writes.
type pathFacts map[string]*resourcePaths

type resourcePaths struct {
	first   int // position of its first write, in todo's order
	writes  int
	et      *eventTable
	present map[string]bool // mapped path -> some write's payload has it
}

// note counts the write at position pos of e through et.
func (pf pathFacts) note(pos int, et *eventTable, e *providers.Event, pl *payload) {
	rp := pf[e.Resource]
	if rp == nil {
		rp = &resourcePaths{first: pos, et: et, present: map[string]bool{}}
		pf[e.Resource] = rp
	}
	rp.first = min(rp.first, pos)
	rp.writes++
	if len(rp.present) == len(et.res.Fields()) {
		return // every path seen already
	}
	for _, f := range et.res.Fields() {
		if rp.present[f.Path] {
			continue
		}
		if _, ok := lookup(e, pl, f.Path); ok {
			rp.present[f.Path] = true
		}
	}
}

// check warns of (and with refuse, refuses) each mapped path no write has;
// objects calls fn with the object id of each write of a resource, in order.
func (pf pathFacts) check(ctx context.Context, log *slog.Logger, store localstate.Store, allow []string, refuse bool, objects func(res string, fn func(id string) error) error) error {
	order := make([]string, 0, len(pf))
	for res := range pf {
		order = append(order, res)
	}
	slices.SortFunc(order, func(a, b string) int { return pf[a].first - pf[b].first })
	for _, res := range order {
		rp := pf[res]
		et := rp.et
		for _, f := range et.res.Fields() {
			if rp.present[f.Path] {
				continue
			}
			log.Warn("no event payload has this mapped path: applying it writes null (a typo?)", "resource", res, "column", f.Column, "path", f.Path, "events", rp.writes)
			if !refuse || slices.Contains(allow, f.Path) {
				continue
			}
			rows, done := 0, map[string]bool{}
			if err := objects(res, func(id string) error {
				if done[id] {
					return nil
				}
				done[id] = true
				row, found, err := store.Get(ctx, et.table, []string{f.Column}, id)
				if err != nil {
					return err
				}
				if !found || len(row.Values) > 0 && row.Values[0] != nil {
					rows++
				}
				return nil
			}); err != nil {
				return err
			}
			if rows > 0 {
				return &reconcile.GuardError{Msg: fmt.Sprintf("resource %s: no event payload has the mapped path %q (column %s), so replaying would set %s to null on %s; nothing was written. Fix the path in reconctl.yaml if it is a typo, or confirm it with --allow-absent-path %s",
					res, f.Path, f.Column, f.Column, rowsText(rows), f.Path)}
			}
		}
	}
	return nil
}

func rowsText(n int) string {
	if n == 1 {
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}
