package reconcile

// Provider freshness before writing (issue #15): a listing of a large
// account takes minutes, and a record may change at the provider after its
// page was read. Reconfirm re-reads, just before the apply, every record the
// plan creates or updates whose listed copy is older than ReconfirmAfter,
// and re-plans it from the fresh copy.

import (
	"context"
	"fmt"
	"sort"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// Reconfirm re-reads the planned creates and updates whose listed copy is
// older than e.ReconfirmAfter (through the single-object Gets that confirm
// deletions: the same concurrency bound and provider pacing) and re-plans
// each from what it finds:
//
//   - present: compared again with the local row the plan read; in sync, it
//     leaves the plan and the drift; otherwise its write carries the fresh
//     values (a create writes the fresh copy).
//   - deleted since the listing: an update becomes a confirmed deletion
//     (missing_remote, deleted, action delete: the brake and the mass-delete
//     guard count it, and it stays conditional on the scanned row); a create
//     leaves the plan and the drift (neither side has the record now).
//   - inaccessible, or the read failed: the write leaves the plan, the drift
//     item stays with action none and says why (exit 2; the next run looks
//     again).
//
// An update is not re-read when the provider gives updated_at and the
// listed copy's is newer than the local row's: what the listing saw is
// newer than anything the app wrote. --force rewrites of in-sync records are
// not re-read (they write what the row already holds). Call it before the
// guards and the brake, which then see the re-planned plan. Each resource's
// Summary.Reconfirmed counts its re-reads.
func (e *Engine) Reconfirm(ctx context.Context, res *Result) error {
	now := e.now().UnixNano()
	drop := make([]bool, len(res.Drift))
	dropped := false
	var resorted []*ResourceResult // whose re-plan changed a drift item's kind
	for _, rr := range res.Resources {
		rc := rr.cond
		if rc == nil {
			continue
		}
		var idx []int
		var ids []string
		for i := range rr.plan {
			p := &rr.plan[i]
			if p.drift < 0 || (p.op != localstate.OpCreate && p.op != localstate.OpUpdate) {
				continue
			}
			lc, ok := rc.listed[p.key]
			if !ok || now-lc.at < int64(e.ReconfirmAfter) {
				continue
			}
			if p.op == localstate.OpUpdate && p.upd != 0 && !lc.upd.IsZero() && lc.upd.UnixMilli() > p.upd {
				continue // the listed copy is newer than the local row
			}
			idx = append(idx, i)
			ids = append(ids, p.key)
		}
		if len(ids) == 0 {
			continue
		}
		name := rr.Resource.Table.Resource
		got, err := e.getMany(ctx, name, ids)
		if err != nil {
			return fmt.Errorf("re-reading %s before writing: %w", name, err)
		}
		rr.Summary.Reconfirmed += len(ids)
		run := &resourceRun{e: e, r: rr.Resource, t: rr.Resource.Table, mode: rc.mode, rr: rr, cols: rc.cols, updIdx: rc.updIdx, absent: rc.absent}
		keep := rr.plan[:0:0]
		gone := map[int]bool{}
		moved := false // an update became a deletion: its kind changed
		for j, i := range idx {
			was := rr.plan[i].op
			if !run.replan(res, &rr.plan[i], got[j], drop) {
				gone[i] = true
				dropped = true
			} else if rr.plan[i].op != was {
				moved = true
			}
		}
		if len(gone) > 0 {
			for i, p := range rr.plan {
				if !gone[i] {
					keep = append(keep, p)
				}
			}
			rr.plan = keep
		}
		if moved {
			resorted = append(resorted, rr)
		}
		e.logger().Debug("re-read before writing", "resource", name, "records", len(ids), "left_the_plan", len(gone))
	}
	if dropped {
		res.dropDrift(drop)
	}
	for _, rr := range resorted {
		res.resort(rr)
	}
	res.recount()
	return nil
}

// resort puts rr's drift items and plan back in the order the comparison
// gives them (as if each re-planned record had been planned from its fresh
// copy): drift by kind then id (sortDrift), in the positions rr's items
// hold in res.Drift; the plan's deletions last, by key, as planMissing
// plans them.
func (res *Result) resort(rr *ResourceResult) {
	name := rr.Resource.Table.Resource
	var pos []int
	local := map[int]int{}
	for i := range res.Drift {
		if res.Drift[i].Resource == name {
			local[i] = len(pos)
			pos = append(pos, i)
		}
	}
	sub := make([]Drift, len(pos))
	for j, i := range pos {
		sub[j] = res.Drift[i]
	}
	for i := range rr.plan {
		if d := rr.plan[i].drift; d >= 0 {
			rr.plan[i].drift = local[d]
		}
	}
	sortDrift(sub, rr.plan)
	for j, i := range pos {
		res.Drift[i] = sub[j]
	}
	for i := range rr.plan {
		if d := rr.plan[i].drift; d >= 0 {
			rr.plan[i].drift = pos[d]
		}
	}
	plan := make([]pending, 0, len(rr.plan))
	var deletes []pending
	for _, p := range rr.plan {
		if p.op == localstate.OpDelete {
			deletes = append(deletes, p)
		} else {
			plan = append(plan, p)
		}
	}
	sort.SliceStable(deletes, func(a, b int) bool { return deletes[a].key < deletes[b].key })
	rr.plan = append(plan, deletes...)
}

// replan re-plans p from its re-read g; false: p leaves the plan (and,
// when drop[p.drift] is set, its drift item leaves the report).
func (run *resourceRun) replan(res *Result, p *pending, g fetched, drop []bool) bool {
	rr, d := run.rr, &res.Drift[p.drift]
	switch {
	case g.err != nil || g.st == providers.StatusInaccessible:
		why := "inaccessible"
		if g.err != nil {
			why = g.err.Error()
		}
		d.Action, d.Error = ActionNone, "re-reading it before writing failed: "+why+"; not written, the next run looks again"
		return false
	case g.st == providers.StatusDeleted && p.op == localstate.OpCreate:
		rr.Summary.MissingLocal--
		drop[p.drift] = true
		return false
	case g.st == providers.StatusDeleted:
		rr.Summary.Changed--
		rr.Summary.MissingRemote++
		*d = Drift{Resource: d.Resource, ID: d.ID, Kind: KindMissingRemote, RemoteStatus: RemoteDeleted, Action: ActionDelete,
			Note: "deleted at the provider after the listing (re-read before writing)"}
		*p = pending{op: localstate.OpDelete, key: p.key, drift: p.drift, changes: true, cond: condRow, hash: p.hash, upd: p.upd}
		if lv, ok := rr.cond.was[p.key]; ok {
			p.hash, p.upd = rr.cond.baseline(lv) // re-planned from the row planChanged read
			p.ver = localstate.RowVersion{}
		}
		return true
	}
	vals, present := run.freshValues(g.rec)
	if p.op == localstate.OpCreate {
		it := &item{key: p.key, upd: g.rec.UpdatedAt, vals: vals, present: present}
		n := len(run.creates)
		run.addCreate(it)
		fresh := run.creates[n]
		p.cols, p.vals = fresh.cols, fresh.vals
		return true
	}
	lv, ok := rr.cond.was[p.key]
	if !ok {
		return true // nothing to compare with: keep the plan as it was
	}
	c := candidate{rec: providers.Record{ID: p.key, UpdatedAt: g.rec.UpdatedAt}, vals: vals, hash: p.hash, upd: p.upd}
	if run.r.auto {
		c.rec.Data = map[string]any{}
		for i, f := range run.r.fields {
			if present[i] {
				c.rec.Data[f.col] = vals[i]
			}
		}
	}
	diffs, dcols, dvals := run.fieldDiffs(c, lv)
	if len(diffs) == 0 {
		rr.Summary.Changed--
		rr.Summary.InSync++
		drop[p.drift] = true
		return false
	}
	np := run.candidateUpdate(c, lv, dcols, dvals)
	d.Fields = diffs
	if np.op == "" || len(np.cols) == 0 {
		d.Action = ActionNone
		d.Note = "local updated_at is as new as the provider's; resync --force overwrites it"
		return false
	}
	p.cols, p.vals = np.cols, np.vals
	// The write is re-planned from lv, the row planChanged read before this
	// re-read: lv, not the scan's copy, is its condition (an app write
	// between the scan and planChanged is then no conflict: the fresh copy
	// is newer than it).
	p.hash, p.upd = rr.cond.baseline(lv)
	p.ver = localstate.RowVersion{} // lv, not the scanned version, is its condition
	return true
}

// freshValues are a re-read record's compared values, as the listing's
// reader takes them.
func (run *resourceRun) freshValues(rec providers.Record) ([]any, []bool) {
	vals := make([]any, len(run.r.fields))
	present := make([]bool, len(run.r.fields))
	for i, f := range run.r.fields {
		v, found := Lookup(rec.Data, f.segs)
		if !found && run.r.auto {
			continue
		}
		vals[i], present[i] = v, true
	}
	return vals, present
}

// dropDrift removes the drift items marked in drop, keeping every plan
// entry pointing at its own item.
func (res *Result) dropDrift(drop []bool) {
	pos := make([]int, len(res.Drift))
	kept := res.Drift[:0]
	for i, d := range res.Drift {
		pos[i] = -1
		if !drop[i] {
			pos[i] = len(kept)
			kept = append(kept, d)
		}
	}
	res.Drift = kept
	for _, rr := range res.Resources {
		for i := range rr.plan {
			if rr.plan[i].drift >= 0 {
				rr.plan[i].drift = pos[rr.plan[i].drift]
			}
		}
	}
}

// recount sets each resource's Unresolved from its drift items.
func (res *Result) recount() {
	for _, rr := range res.Resources {
		rr.Summary.Unresolved = 0
	}
	for _, d := range res.Drift {
		if rr := res.resource(d.Resource); rr != nil && !d.Applied {
			rr.Summary.Unresolved++
		}
	}
}
