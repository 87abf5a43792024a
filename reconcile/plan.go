package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/reconctl/reconctl/localstate"
)

// Limiter says how many changes a resource with `local` records may take.
// A negative limit means unlimited.
type Limiter interface {
	Limit(local int) int
	String() string
}

// Brake checks every resource's plan against the limit. It returns the first
// refusal, or nil when the whole plan may be written.
func (res *Result) Brake(l Limiter) *BrakeRefusal {
	for _, rr := range res.Resources {
		limit := l.Limit(rr.base())
		if limit < 0 {
			continue
		}
		if n := rr.Planned(); n > limit {
			return &BrakeRefusal{Resource: rr.Resource.Table.Resource, Planned: n, Limit: limit, Setting: l.String()}
		}
	}
	return nil
}

func (rr *ResourceResult) base() int {
	if rr.BrakeBase > 0 {
		return rr.BrakeBase
	}
	return rr.Summary.Local
}

// Mass-delete guard reasons (BrakeRefusal.Reason).
const (
	ReasonEmptyListing = "empty_listing"
	ReasonDeletesAll   = "deletes_all"
)

// NearlyAll is the share of a resource's live local records at or above
// which a plan's deletions count as "all or nearly all": 90%.
const NearlyAll = 90

// MassDelete is the guard that no --max-changes lifts: it refuses a plan
// that deletes all or nearly all (>= 90%) of a resource's live local records,
// or any record after the provider listed none of them (an empty first page,
// a key for the wrong account). Only --allow-empty-remote overrides it.
func (res *Result) MassDelete() *BrakeRefusal {
	for _, rr := range res.Resources {
		deletes := 0
		for _, p := range rr.plan {
			if p.op == localstate.OpDelete {
				deletes++
			}
		}
		name := rr.Resource.Table.Resource
		if deletes > 0 && !rr.Scoped && rr.Summary.Remote == 0 {
			return &BrakeRefusal{Resource: name, Planned: deletes, Limit: 0, Setting: "empty listing", Reason: ReasonEmptyListing, Live: rr.base()}
		}
		if b := MassDeleteCheck(name, deletes, rr.base()); b != nil {
			return b
		}
	}
	return nil
}

// MassDeleteCheck refuses deleting deletes of live records when that is all
// or nearly all of them (replay uses it as well as the engine).
func MassDeleteCheck(resource string, deletes, live int) *BrakeRefusal {
	if deletes <= 0 || live <= 0 || deletes*100 < live*NearlyAll {
		return nil
	}
	return &BrakeRefusal{Resource: resource, Planned: deletes, Limit: 0, Setting: "deletes all", Reason: ReasonDeletesAll, Live: live}
}

// GuardError is a plan that must not be written as it stands (exit 1):
// keys that are not unique, a listing that repeats ids, or a mapped path
// that would null a column.
type GuardError struct{ Msg string }

func (e *GuardError) Error() string { return e.Msg }

// Guard checks, before any write, that every resource with planned writes
// can be written exactly: its local key is unique (one write touches one
// row), the provider listed each id once, and no planned update sets a
// column to null because its mapped path is absent from every listed
// record (unless that path is in allowAbsent). It returns nil or a
// *GuardError naming the resource, the column and a few examples.
func (res *Result) Guard(allowAbsent []string) error {
	for _, rr := range res.Resources {
		if len(rr.plan) == 0 && rr.force.len() == 0 {
			continue
		}
		t := rr.Resource.Table
		if n := rr.Summary.DuplicateLocal; n > 0 {
			return duplicateKeyError(t, n, rr.dupKeys, rr.dupLocal)
		}
		if n := rr.Summary.DuplicateRemote; n > 0 {
			return &GuardError{Msg: fmt.Sprintf("resource %s: the provider listed %s more than once (e.g. %s), so the listing is not a consistent picture (records moved between pages?); nothing was written. Run again; if it persists, check the provider's data or export",
				t.Resource, plural(n, "id", "ids"), quoteList(rr.dupRemote))}
		}
		for _, f := range rr.Resource.fields {
			n := rr.nulling[f.col]
			if rr.Scoped {
				n += rr.createNulls[f.col]
			}
			if n == 0 || slices.Contains(allowAbsent, f.path) {
				continue
			}
			if rr.Scoped {
				// check-user: one record, so absent from it is what counts.
				return &GuardError{Msg: fmt.Sprintf("resource %s: the provider's record has no mapped path %q (column %s), so the fix would set %s to null on %s; nothing was written. Fix the path in reconctl.yaml if it is a typo, or confirm it with --allow-absent-path %s",
					t.Resource, f.path, f.col, f.col, plural(n, "row", "rows"), f.path)}
			}
			return &GuardError{Msg: fmt.Sprintf("resource %s: no listed record has the mapped path %q (column %s), so the plan would set %s to null on %s; nothing was written. Fix the path in reconctl.yaml if it is a typo, or confirm it with --allow-absent-path %s",
				t.Resource, f.path, f.col, f.col, plural(n, "row", "rows"), f.path)}
		}
	}
	return nil
}

// duplicateKeyError is the refusal of a write to t whose key is not unique:
// surplus rows beyond the first of each of keys duplicated keys (the message
// counts every row involved: 3 rows sharing one key are 3, not 2).
func duplicateKeyError(t *localstate.Table, surplus, keys int, sample []string) *GuardError {
	if keys < 1 {
		keys = 1
	}
	return &GuardError{Msg: fmt.Sprintf("resource %s: the local key column %q of table %q is not unique: %s share %s (e.g. %s), so a write by key would change several rows at once; nothing was written. Make the key unique (a UNIQUE index, or remove the duplicates), or map another key column in reconctl.yaml, then run again",
		t.Resource, keyColumn(t), tableOf(t), plural(surplus+keys, "row", "rows"), plural(keys, "key", "keys"), quoteList(sample))}
}

// LocalKeyGuard is the duplicate-key guard for writers that do not go
// through Compare (replay): before writing t by key it refuses, with a
// *GuardError, a table whose live keys are not unique under the key column's
// collation, or where one of the ids about to be written resolves to a row
// spelled differently (COLLATE NOCASE: ABC would overwrite abc).
func LocalKeyGuard(ctx context.Context, store localstate.Store, t *localstate.Table, ids []string) error {
	seen := map[string]int{}
	surplus := 0
	var sample []string
	if err := store.Scan(ctx, t, nil, func(row localstate.Row) error {
		seen[row.Key]++
		if seen[row.Key] == 2 {
			if len(sample) < sampleKeys {
				sample = append(sample, row.Key)
			}
		}
		if seen[row.Key] > 1 {
			surplus++
		}
		return nil
	}); err != nil {
		return fmt.Errorf("reading local %s: %w", t.Resource, err)
	}
	keys := 0
	for _, n := range seen {
		if n > 1 {
			keys++
		}
	}
	if keyHealth := store.Features().KeyHealth; keyHealth != nil {
		kh, err := keyHealth(ctx, t)
		if err != nil {
			return fmt.Errorf("checking the keys of local %s: %w", t.Resource, err)
		}
		if kh.Duplicates > 0 && kh.Duplicates >= surplus {
			surplus, keys, sample = kh.Duplicates, kh.Keys, kh.Sample
		}
	}
	if surplus == 0 {
		checks := 0
		for _, id := range ids {
			if _, exact := seen[id]; exact || id == "" {
				continue
			}
			if checks++; checks > maxCollisionChecks {
				break
			}
			row, found, err := store.Get(ctx, t, nil, id)
			if err != nil {
				return fmt.Errorf("reading local %s %s: %w", t.Resource, id, err)
			}
			if found && row.Key != id {
				surplus++
				keys++
				if len(sample) < sampleKeys {
					sample = append(sample, id+"/"+row.Key)
				}
			}
		}
	}
	if surplus > 0 {
		return duplicateKeyError(t, surplus, keys, sample)
	}
	return nil
}

// plural is "1 row" or "2 rows".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func tableOf(t *localstate.Table) string {
	if t.Name != "" {
		return t.Name
	}
	return t.Resource
}

func quoteList(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	return strings.Join(q, ", ")
}

// Error renders a refusal for the operator.
func (b *BrakeRefusal) Error() string {
	switch b.Reason {
	case ReasonEmptyListing:
		return fmt.Sprintf("safety brake: the provider listed no %s, yet the plan deletes %d of its %d local records; nothing was written. An empty listing is more often a wrong key or account than an empty resource: check it, and re-run with --allow-empty-remote only if the provider really has none",
			b.Resource, b.Planned, b.Live)
	case ReasonDeletesAll:
		return fmt.Sprintf("safety brake: the plan deletes %d of the %d live local %s records (%d%% or more), whatever --max-changes says; nothing was written. Check the provider's listing and key, and re-run with --allow-empty-remote only if it is right",
			b.Planned, b.Live, b.Resource, NearlyAll)
	}
	return fmt.Sprintf("safety brake: the plan changes %d %s records, more than --max-changes allows (%d, from %s); nothing was written. Review the plan, then re-run with --max-changes %d (or a share such as 50%%, or unlimited) if it is right",
		b.Planned, b.Resource, b.Limit, b.Setting, b.Planned)
}

// Changes returns the store changes of the plan, in resource order, each
// conditional on what the comparison read (see conditional.go).
func (res *Result) Changes() []localstate.Change {
	var out []localstate.Change
	for _, rr := range res.Resources {
		fr := rr.force.reader()
		for {
			p := new(pending) // its own: the Expect's Match refers to it
			if !fr.next(p, nil) {
				break
			}
			c := p.change(rr.Resource.Table)
			c.Expect = rr.expect(p, &localstate.Expect{})
			out = append(out, c)
		}
		for i := range rr.plan {
			p := &rr.plan[i]
			c := p.change(rr.Resource.Table)
			c.Expect = rr.expect(p, &localstate.Expect{})
			out = append(out, c)
		}
	}
	return out
}

// markConflicts marks the writes of changes (Changes' order) whose
// condition failed.
func (res *Result) markConflicts(changes []localstate.Change) {
	n := 0
	for _, rr := range res.Resources {
		for range rr.force.len() {
			if e := changes[n].Expect; e != nil && e.Conflict != "" {
				res.conflicted(rr, &pending{drift: -1}, e.Conflict)
			}
			n++
		}
		for i := range rr.plan {
			if e := changes[n].Expect; e != nil && e.Conflict != "" {
				res.conflicted(rr, &rr.plan[i], e.Conflict)
			}
			n++
		}
	}
}

// changeInto is change with Values written into m (nil when no columns)
// and its condition into e.
func (p *pending) changeInto(rr *ResourceResult, m map[string]any, e *localstate.Expect) localstate.Change {
	c := localstate.Change{Table: rr.Resource.Table, Op: p.op, Key: p.key, Expect: rr.expect(p, e)}
	if len(p.cols) > 0 {
		for i, col := range p.cols {
			m[col] = p.vals[i]
		}
		c.Values = m
	}
	return c
}

func (p *pending) change(t *localstate.Table) localstate.Change {
	c := localstate.Change{Table: t, Op: p.op, Key: p.key}
	if len(p.cols) > 0 {
		c.Values = make(map[string]any, len(p.cols))
		for i, col := range p.cols {
			c.Values[col] = p.vals[i]
		}
	}
	return c
}

// PlannedWrites counts every write of the plan (including --force rewrites
// that change nothing).
func (res *Result) PlannedWrites() int {
	n := 0
	for _, rr := range res.Resources {
		n += len(rr.plan) + rr.force.len()
	}
	return n
}

// applyChunk bounds how many store changes exist at once during an apply
// into a transactional store: a million-record --force never holds a million
// change maps.
const applyChunk = 8192

// Apply writes the whole plan all-or-nothing (one transaction, or one store
// call), then marks the drift items it fixed as applied.
func (e *Engine) Apply(ctx context.Context, res *Result) error {
	total := res.PlannedWrites()
	if total == 0 {
		return nil
	}
	if e.Progress != nil {
		e.Progress.Applying(total)
		defer e.Progress.Done()
	}
	begin := e.Store.Features().Begin
	if begin == nil {
		if e.BeforeApply != nil {
			res.setApplied(true)
			err := e.BeforeApply(ctx, res)
			res.setApplied(false)
			if err != nil {
				return fmt.Errorf("%w; nothing was written", err)
			}
		}
		changes := res.Changes()
		if err := e.Store.Apply(ctx, changes); err != nil {
			return err
		}
		res.markConflicts(changes)
		if e.Progress != nil {
			e.Progress.Applied(total)
		}
		res.MarkApplied()
		return nil
	}
	tx, err := begin(ctx)
	if err != nil {
		return err
	}
	chunk := make([]localstate.Change, 0, applyChunk)
	// The chunk's value maps are reused from one chunk to the next (Tx.Apply
	// does not keep them), so a million-record apply allocates 8,192 maps.
	valueMaps := make([]map[string]any, applyChunk)
	expects := make([]localstate.Expect, applyChunk)
	var chunkRR *ResourceResult
	// The pending write of each change in chunk: a plan entry, or a
	// --force rewrite decoded into forced (reused from chunk to chunk).
	chunkPlan := make([]*pending, 0, applyChunk)
	var forced []pending
	var forcedVals [][]any
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := tx.Apply(ctx, chunk)
		if err == nil && e.Progress != nil {
			e.Progress.Applied(len(chunk))
		}
		if err == nil {
			for j, ch := range chunk {
				if ch.Expect != nil && ch.Expect.Conflict != "" {
					res.conflicted(chunkRR, chunkPlan[j], ch.Expect.Conflict)
				}
			}
		}
		chunk, chunkPlan = chunk[:0], chunkPlan[:0]
		return err
	}
	add := func(rr *ResourceResult, p *pending) error {
		m := valueMaps[len(chunk)]
		if m == nil {
			m = make(map[string]any, 8)
			valueMaps[len(chunk)] = m
		}
		clear(m)
		chunk = append(chunk, p.changeInto(rr, m, &expects[len(chunk)]))
		chunkPlan = append(chunkPlan, p)
		if len(chunk) == applyChunk {
			return flush()
		}
		return nil
	}
	for _, rr := range res.Resources {
		chunkRR = rr
		// The --force rewrites first (they came first in the plan), each
		// decoded from the compact plan just before its chunk is written.
		if rr.force.len() > 0 && forced == nil {
			forced, forcedVals = make([]pending, applyChunk), make([][]any, applyChunk)
		}
		for fr := rr.force.reader(); rr.force.len() > 0; {
			k := len(chunk) // forced[k] is free: its chunk was written
			if !fr.next(&forced[k], forcedVals[k]) {
				break
			}
			forcedVals[k] = forced[k].vals
			if err := add(rr, &forced[k]); err != nil {
				_ = tx.Rollback()
				return notWritten(ctx, err)
			}
		}
		for i := range rr.plan {
			if err := add(rr, &rr.plan[i]); err != nil {
				_ = tx.Rollback()
				return notWritten(ctx, err)
			}
		}
		// A resource's changes never share a chunk with the next resource's.
		if err := flush(); err != nil {
			_ = tx.Rollback()
			return notWritten(ctx, err)
		}
	}
	res.MarkApplied()
	if e.BeforeCommit != nil {
		if err := e.BeforeCommit(ctx, tx, res); err != nil {
			_ = tx.Rollback()
			res.setApplied(false)
			return notWritten(ctx, err)
		}
	}
	if err := tx.Commit(); err != nil {
		res.setApplied(false)
		var unknown *localstate.CommitUnknownError
		if errors.As(err, &unknown) {
			return err // the writes may or may not be in the state
		}
		return notWritten(ctx, err)
	}
	return nil
}

func notWritten(ctx context.Context, err error) error {
	var lost *localstate.LockLostError
	if errors.As(err, &lost) {
		return err // it says nothing was written
	}
	if ctx.Err() != nil {
		return fmt.Errorf("the apply was interrupted (%w); rolled back, nothing was written", ctx.Err())
	}
	return fmt.Errorf("%w; rolled back, nothing was written", err)
}

// MarkApplied records that every planned write landed.
func (res *Result) MarkApplied() { res.setApplied(true) }

// setApplied marks the planned writes' drift items applied (or, when a
// commit failed after all, not applied) and recounts the summaries.
func (res *Result) setApplied(v bool) {
	for _, rr := range res.Resources {
		for _, p := range rr.plan {
			if p.drift >= 0 {
				res.Drift[p.drift].Applied = v && !res.Drift[p.drift].Conflict
			}
		}
	}
	for _, rr := range res.Resources {
		rr.Summary.Applied, rr.Summary.Unresolved = 0, 0
		rr.Summary.Conflicts = rr.conflicts
	}
	for _, d := range res.Drift {
		rr := res.resource(d.Resource)
		if d.Applied {
			rr.Summary.Applied++
		} else {
			rr.Summary.Unresolved++
		}
	}
}

func (res *Result) resource(name string) *ResourceResult {
	for _, rr := range res.Resources {
		if rr.Resource.Table.Resource == name {
			return rr
		}
	}
	return nil
}

// Unresolved counts drift items that were not fixed.
func (res *Result) Unresolved() int {
	n := 0
	for _, d := range res.Drift {
		if !d.Applied {
			n++
		}
	}
	return n
}

// Summaries returns the per-resource summaries keyed by resource.
func (res *Result) Summaries() map[string]*ResourceSummary {
	out := map[string]*ResourceSummary{}
	for _, rr := range res.Resources {
		s := rr.Summary
		out[rr.Resource.Table.Resource] = &s
	}
	return out
}

// SkipDeletes removes deletions from the plan (resync --no-delete); their
// drift items stay in the report with action none.
func (res *Result) SkipDeletes() {
	for _, rr := range res.Resources {
		plan := rr.plan[:0]
		for _, p := range rr.plan {
			if p.op == localstate.OpDelete {
				if p.drift >= 0 {
					res.Drift[p.drift].Action = ActionNone
				}
				continue
			}
			plan = append(plan, p)
		}
		rr.plan = plan
	}
}
