package replay

import (
	"context"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// applySpooled is applyEvents over a window in a spool (spool.go), with the
// same outcomes, brake, guards, chunks and checkpoint: pass 1 classifies
// (the journal asked in batches), pass 2 applies. resources are the
// window's resources in order of first appearance.
func applySpooled(ctx context.Context, env *Env, p providers.Provider, job jobSpec, sp *spool, proj *projector, resources []string, rep *Report) error {
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
	// Each resource's mapping, in the order classify meets them: the same
	// first error, before the journal is asked anything.
	for _, res := range resources {
		if _, err := a.tableFor(ctx, res); err != nil {
			return err
		}
	}
	w, err := a.classifySpooled(ctx, sp, proj)
	if err != nil {
		return err
	}
	wouldApply := func() error {
		return sp.each(proj, func(i int, e *providers.Event, _ *payload) error {
			if w.class[i] == classApply {
				rep.place(e.ID, i)
				rep.add(*e, OutcomeWouldApply, "")
			}
			return nil
		})
	}
	if job.dryRun {
		if err := w.paths.check(ctx, env.Logger, store, job.allowAbsent, false, nil); err != nil {
			return err
		}
		if err := wouldApply(); err != nil {
			return err
		}
		sortEvents(rep)
		if rep.Summary[OutcomeWouldApply] > 0 {
			rep.ExitCode = reconcile.ExitDrift
		}
		return nil
	}
	if b, err := a.brakeSpooled(ctx, w); err != nil {
		return err
	} else if b != nil {
		rep.Brake = b
		rep.ExitCode = reconcile.ExitBrake
		if err := wouldApply(); err != nil {
			return err
		}
		sortEvents(rep)
		return nil
	}
	w.state, w.ids = nil, nil // the brake's: not needed to apply

	// 3b. Payloads in another API version: their objects read again
	// (refetchForeign, on the few events concerned).
	foreign := make([]planned, len(w.foreign))
	for i := range w.foreign {
		foreign[i] = planned{e: &w.foreign[i].e, et: w.foreign[i].et}
	}
	if err := refetchForeign(ctx, p, foreign, rep); err != nil {
		return err
	}
	refetched := map[string]map[string]any{} // resource/object -> its object re-read
	for i := range w.foreign {
		f := &w.foreign[i]
		if f.e.ForeignVersion == "" { // re-read: written from the current object
			refetched[f.e.Resource+"/"+f.e.ObjectID] = f.e.Object
			if guardsPaths(f.et, &f.e) {
				w.paths.note(f.pos, f.et, &f.e, nil)
			}
		}
	}
	// as reads a foreign event as refetchForeign left it.
	as := func(i int, e *providers.Event, pl *payload) *payload {
		if e.ForeignVersion == "" || e.Deleted || w.class[i] != classApply {
			return pl
		}
		if obj, ok := refetched[e.Resource+"/"+e.ObjectID]; ok {
			e.Object, e.ForeignVersion = obj, ""
			return nil
		}
		return pl
	}
	// 3c. A mapped path no event payload has (a typo) would write NULL.
	if err := w.paths.check(ctx, env.Logger, store, job.allowAbsent, true, func(res string, fn func(id string) error) error {
		return sp.each(proj, func(i int, e *providers.Event, pl *payload) error {
			if w.class[i] != classApply || e.Resource != res {
				return nil
			}
			as(i, e, pl)
			if guardsPaths(a.tables[res], e) {
				return fn(e.ObjectID)
			}
			return nil
		})
	}); err != nil {
		return err
	}

	// 4. Apply, chunk by chunk, from the spool.
	sameDB := sharesTx(store, env.JournalInState)
	if bar := env.Progress; bar != nil {
		bar.Events(w.todo)
		defer bar.Done()
	}
	evs := make([]providers.Event, applyBatch)
	chunk := make([]planned, 0, applyBatch)
	var last *providers.Event
	stopped := false
	flush := func() error {
		end, stop, err := a.applyChunk(ctx, chunk, sameDB)
		if err != nil {
			return err
		}
		if end > 0 {
			e := *chunk[end-1].e
			last = &e
		}
		stopped = stop
		chunk = chunk[:0]
		return nil
	}
	err = sp.each(proj, func(i int, e *providers.Event, pl *payload) error {
		c := w.class[i]
		if c == classApply {
			// Its position for sortEvents, set here so that the key is the
			// string its report entry holds (not a second copy of each id).
			rep.place(e.ID, i)
		}
		if stopped || c != classApply && c != classStale {
			return nil
		}
		t := planned{e: &evs[len(chunk)]}
		*t.e = *e
		if c == classApply {
			t.et = a.tables[e.Resource]
			t.pl = as(i, t.e, pl)
		}
		chunk = append(chunk, t)
		if len(chunk) == applyBatch {
			return flush()
		}
		return nil
	})
	if err == nil && len(chunk) > 0 && !stopped {
		err = flush()
	}
	if err != nil {
		return err
	}
	sortEvents(rep)
	// 5. Checkpoint: the newest event processed before any failure.
	if last == nil && w.todo > 0 && rep.Summary[OutcomeFailed] == 0 {
		last = &w.lastTodo
	}
	var newest *providers.Event
	if sp.n > 0 {
		newest = &w.newest
	}
	return checkpoint(ctx, env, job, newest, last, rep)
}

// What classify made of an event of the spool.
const (
	classIgnored = iota
	classDuplicate
	classStale // journaled only
	classApply
)

// spooledWindow is pass 1's result: what applying needs of the window
// besides the spool itself.
type spooledWindow struct {
	class       []uint8 // per event, in order
	todo        int     // events to apply or journal as stale
	perResource map[string]int
	state       map[string]recordState // resource/object -> its newest event to apply
	ids         map[string][]string    // resource -> the object id of each event to apply, in order
	paths       pathFacts
	foreign     []foreignEvent
	lastTodo    providers.Event // its ID and Created: the checkpoint
	newest      providers.Event // the newest fetched
}

// recordState is a record's newest event to apply: classify's newest and
// lastDeleted.
type recordState struct {
	at      time.Time
	deleted bool
}

// foreignEvent is an event to apply whose payload is in another API version.
type foreignEvent struct {
	pos int
	et  *eventTable
	e   providers.Event // its envelope (refetchForeign sets its Object)
}

const classifyBatch = 1000

// classifySpooled is classify over the spool, the journal asked once per
// batch of events.
func (a *applier) classifySpooled(ctx context.Context, sp *spool, proj *projector) (*spooledWindow, error) {
	w := &spooledWindow{class: make([]uint8, sp.n), perResource: map[string]int{}, state: map[string]recordState{}, ids: map[string][]string{}, paths: pathFacts{}}
	watermark := map[string]time.Time{}
	asked := map[string]bool{} // resources whose watermark was read
	evs := make([]providers.Event, 0, classifyBatch)
	pls := make([]*payload, 0, classifyBatch)
	base := 0
	classify := func() error {
		var ids []string
		objects := map[string][]string{}
		for i := range evs {
			e := &evs[i]
			if et, _ := a.tableFor(ctx, e.Resource); et == nil {
				continue
			}
			ids = append(ids, e.ID)
			if _, ok := w.state[e.Resource+"/"+e.ObjectID]; !ok {
				objects[e.Resource] = append(objects[e.Resource], e.ObjectID)
			}
		}
		processed := map[string]string{}
		var err error
		if !a.job.reprocess && len(ids) > 0 {
			if processed, err = a.env.Journal.EventsProcessed(ctx, a.provider, "", ids); err != nil {
				return err
			}
		}
		versions := map[string]map[string]time.Time{}
		for res, objs := range objects {
			if versions[res], err = a.env.Journal.Versions(ctx, a.provider, res, objs); err != nil {
				return err
			}
			if !asked[res] {
				asked[res] = true
				if at, _, found, err := a.env.Journal.Version(ctx, nil, a.provider, res, "*"); err != nil {
					return err
				} else if found {
					watermark[res] = at
				}
			}
		}
		for i := range evs {
			e, pos := &evs[i], base+i
			et, _ := a.tableFor(ctx, e.Resource)
			if et == nil {
				a.rep.place(e.ID, pos)
				a.rep.add(*e, OutcomeIgnored, "")
				w.class[pos] = classIgnored
				continue
			}
			if outcome, found := processed[e.ID]; found && outcome != OutcomeFailed {
				a.rep.place(e.ID, pos)
				a.rep.add(*e, OutcomeDuplicate, "")
				w.class[pos] = classDuplicate
				continue
			}
			key := e.Resource + "/" + e.ObjectID
			st, written := w.state[key]
			at := st.at
			if !written {
				at = versions[e.Resource][e.ObjectID]
				if wm := watermark[e.Resource]; wm.After(at) {
					at = wm
				}
			}
			w.todo++
			w.lastTodo = providers.Event{ID: e.ID, Created: e.Created}
			if !at.IsZero() && e.Created.Before(at) {
				a.rep.place(e.ID, pos)
				a.rep.add(*e, OutcomeStale, "")
				w.class[pos] = classStale
				continue
			}
			w.class[pos] = classApply
			w.state[key] = recordState{at: e.Created, deleted: e.Deleted}
			if !written { // the brake counts records written, not events
				w.perResource[e.Resource]++
			}
			w.ids[e.Resource] = append(w.ids[e.Resource], e.ObjectID)
			if guardsPaths(et, e) {
				w.paths.note(pos, et, e, pls[i])
			}
			if e.ForeignVersion != "" {
				f := *e
				f.Object = nil
				w.foreign = append(w.foreign, foreignEvent{pos: pos, et: et, e: f})
			}
		}
		if n := len(evs); n > 0 {
			w.newest = providers.Event{ID: evs[n-1].ID, Created: evs[n-1].Created}
		}
		base += len(evs)
		evs, pls = evs[:0], pls[:0]
		return nil
	}
	if err := sp.each(proj, func(i int, e *providers.Event, pl *payload) error {
		evs = append(evs, *e)
		pls = append(pls, pl)
		if len(evs) == classifyBatch {
			return classify()
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := classify(); err != nil {
		return nil, err
	}
	return w, nil
}

// brakeSpooled is brake's decision over pass 1's counts: the refusal, or
// nil to go on.
func (a *applier) brakeSpooled(ctx context.Context, w *spooledWindow) (*reconcile.BrakeRefusal, error) {
	return a.brakeDecision(ctx, w.perResource,
		func(res string) []string { return w.ids[res] },
		func(key string) bool { return w.state[key].deleted })
}
