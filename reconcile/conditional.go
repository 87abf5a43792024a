package reconcile

// Conditional writes (issue #15): every planned write carries what the
// comparison saw of the local row, and the store writes it only if the row
// still holds that (localstate.Expect). A write whose row moved meanwhile —
// the app's own webhook handler wrote it — is not applied: its drift item is
// a conflict, and the next run looks again.

import (
	"fmt"
	"slices"
	"time"

	"github.com/reconctl/reconctl/localstate"
)

// What a pending write is conditional on.
const (
	condNone   uint8 = iota // unconditional
	condAbsent              // a create: no live row with the key
	condRow                 // the live row's compared values hash to pending.hash (exactValues; and updated_at is pending.upd)
)

// rowCheck compares a resource's local rows, as they are at write time,
// with what the comparison read: the exact values (exactValues), not the
// compare modes' canonical forms — an app write of U@X over u@x, equal
// under casefold, is a change of the row, and the stale listed value must
// not overwrite it. The scan and the store's locking read type a stored
// value alike (one row scanner), and exactValues' default-mode forms
// bridge the rest ("42" and 42), so an untouched typed row is no conflict.
type rowCheck struct {
	fields []field
	cols   []string // the compared columns, then updated_at
	updIdx int
	buf    []byte
	// was holds the local values an update's comparison read (by key),
	// for the conflict's reason and Reconfirm's re-plan.
	was map[string][]any
	// listed says when the listed copy of each planned create or update
	// was read, and its updated_at (Reconfirm).
	listed map[string]listedCopy
	mode   Mode
	absent []bool
	// moved holds, for a write reported as no drift (a --force rewrite of
	// a record in sync when listed) whose condition failed, how its row
	// now differs from the listed copy: its conflict's drift item shows it.
	moved map[string][]FieldDiff
}

type listedCopy struct {
	at  int64 // unix ns
	upd time.Time
}

func (run *resourceRun) rowCheck() *rowCheck {
	if run.rr.cond == nil {
		run.rr.cond = &rowCheck{fields: run.r.fields, cols: run.cols, updIdx: run.updIdx, was: map[string][]any{}, listed: map[string]listedCopy{}}
	}
	return run.rr.cond
}

// expect is p's condition for the store, written into e (reused). Every
// condition is what the engine's reads of the store returned (the scan,
// its re-reads): FromReads.
func (rr *ResourceResult) expect(p *pending, e *localstate.Expect) *localstate.Expect {
	switch p.cond {
	case condAbsent:
		*e = localstate.Expect{Absent: true, FromReads: true}
	case condRow:
		rc := rr.cond
		*e = localstate.Expect{Columns: rc.cols, Match: func(now []any) string { return rc.match(p, now) }, Version: p.ver, FromReads: true}
	default:
		return nil
	}
	return e
}

// match is "" when now (the row's rc.cols) is what the scan indexed for
// p, otherwise the reason: the first column that moved, plan (what the
// comparison read) against now.
func (rc *rowCheck) match(p *pending, now []any) string {
	h, upd := rc.baseline(now)
	if h == p.hash && upd == p.upd {
		return ""
	}
	if was, ok := rc.was[p.key]; ok {
		for i, f := range rc.fields {
			if !Equal(was[i], now[i], "") {
				return fmt.Sprintf("local row changed since it was read: plan=%s now=%s (column %s)", shown(was[i]), shown(now[i]), f.col)
			}
		}
		if rc.updIdx >= 0 {
			if w, _ := toInstant(was[rc.updIdx]); w != upd {
				return fmt.Sprintf("local row changed since it was read: plan=%s now=%s (column %s)", shown(was[rc.updIdx]), shown(now[rc.updIdx]), rc.cols[rc.updIdx])
			}
		}
	}
	if p.drift < 0 {
		return rc.movedFrom(p, now)
	}
	return "local row changed since it was read"
}

// movedFrom is the reason of a failed condition of a write with no drift
// item (a --force rewrite of a record in sync when listed): how the row
// now differs from the listed copy p writes, kept in rc.moved for the
// conflict's drift item. The columns that differ under their compare
// mode, or else (the app wrote a value equal only under it) under none.
func (rc *rowCheck) movedFrom(p *pending, now []any) string {
	var diffs []FieldDiff
	for _, exact := range []bool{false, true} {
		for i, f := range rc.fields {
			j := slices.Index(p.cols, f.col)
			if j < 0 || j >= len(p.vals) {
				continue
			}
			mode := f.mode
			if exact {
				mode = ""
			}
			if !Equal(now[i], p.vals[j], mode) {
				diffs = append(diffs, FieldDiff{Name: f.col, Path: f.path, Local: DisplayValue(now[i]), Remote: DisplayValue(p.vals[j])})
			}
		}
		if len(diffs) > 0 {
			break
		}
	}
	if rc.moved == nil {
		rc.moved = map[string][]FieldDiff{}
	}
	rc.moved[p.key] = diffs
	if len(diffs) == 0 {
		return "local row changed since it was read"
	}
	return fmt.Sprintf("local row changed since it was read: listed=%s now=%s (column %s)", shown(diffs[0].Remote), shown(diffs[0].Local), diffs[0].Name)
}

// baseline is the condition (pending.hash, pending.upd) of a write planned
// from lv, a local row as read (rc.cols).
func (rc *rowCheck) baseline(lv []any) (uint64, int64) {
	get := func(i int) (any, bool) { return lv[i], true }
	var h uint64
	rc.buf, h = hashValues(rc.buf, rc.fields, get)
	rc.buf, h = exactValues(rc.buf, rc.fields, h, get)
	var upd int64
	if rc.updIdx >= 0 {
		upd, _ = toInstant(lv[rc.updIdx])
	}
	return h, upd
}

func shown(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(DisplayValue(v))
}

// conflicted marks p's write as not applied: its condition failed for why.
// A write with no drift item (a --force rewrite of a record in sync when
// listed) gets one, so the report names the record and says why: kind
// changed (its row no longer holds the listed values), action update, not
// applied — after the resource's other items, and counted as changed
// rather than in sync.
func (res *Result) conflicted(rr *ResourceResult, p *pending, why string) {
	rr.conflicts++
	if p.drift >= 0 {
		d := &res.Drift[p.drift]
		d.Conflict, d.Reason = true, why
		return
	}
	var fields []FieldDiff
	if rr.cond != nil {
		fields = rr.cond.moved[p.key]
		delete(rr.cond.moved, p.key)
	}
	rr.Summary.InSync--
	rr.Summary.Changed++
	res.Drift = append(res.Drift, Drift{Resource: rr.Resource.Table.Resource, ID: p.key, Kind: KindChanged, RemoteStatus: RemotePresent,
		Fields: fields, Action: ActionUpdate, Conflict: true, Reason: why,
		Note: "in sync when listed; resync --force's rewrite was not written"})
}

// Conflicts counts the writes not applied because their local row changed
// since it was read (with or without a drift item: a --force rewrite has none).
func (res *Result) Conflicts() int {
	n := 0
	for _, rr := range res.Resources {
		n += rr.conflicts
	}
	return n
}
