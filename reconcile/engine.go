// Package reconcile is the engine: it compares a provider's records with the
// local state's, classifies drift, plans the fixes, enforces the safety brake
// and applies the plan. It knows providers and stores only by their interfaces.
package reconcile

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// Mode selects what the plan does with drift.
type Mode int

const (
	// ModeDiff plans the fix of every drift item (diff --apply, check-user --fix).
	ModeDiff Mode = iota
	// ModeResync updates records whose local updated_at is older than the
	// provider's, or (without timestamps) whose values differ.
	ModeResync
	// ModeResyncForce rewrites every mapped column of every provider record.
	ModeResyncForce
)

// Progress receives progress events; every method may be called from several goroutines.
type Progress interface {
	// Listing starts reading a resource from the provider; estimate is the
	// expected count (the local count), or -1 when unknown.
	Listing(resource string, estimate int)
	Listed(resource string, n int) // n more provider records read
	// Confirming starts the single-object checks of missing records.
	Confirming(resource string, total int)
	Confirmed(resource string, n int)
	// Applying starts writing a plan of total writes; Applied reports n more written.
	Applying(total int)
	Applied(n int)
	// Done ends the current phase.
	Done()
}

// Engine compares and fixes one provider against one store.
type Engine struct {
	Provider providers.Provider
	Store    localstate.Store
	// ConfirmConcurrency bounds the single-object Gets of missing_remote checks (default 8).
	ConfirmConcurrency int
	Logger             *slog.Logger
	Progress           Progress
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
	// BeforeCommit, when set, runs inside Apply's transaction (a store with
	// Features().Begin) after every write and before the commit, with res
	// already marked as applied: the journal records the run there, through
	// tx, so that what it says was applied commits with the writes or not at
	// all. An error rolls back.
	BeforeCommit CommitHook
	// BeforeApply, when set, runs before a store without transactions (a
	// JSON snapshot) is written, with res marked as it will be once the write
	// lands: the journal records the pending apply there. An error stops the
	// apply before anything is written.
	BeforeApply func(ctx context.Context, res *Result) error
}

// CommitHook runs inside an apply's transaction, before its commit (see
// Engine.BeforeCommit): tx is the store's, the journal writes through it.
type CommitHook func(ctx context.Context, tx localstate.Tx, res *Result) error

// field is a compiled mapping of one local column to a provider path.
type field struct {
	col  string
	path string
	segs []string
	mode string
}

// Resource is a compiled resource mapping.
type Resource struct {
	Table  *localstate.Table
	fields []field
	auto   bool // no fields: compare the columns both sides share
}

// Columns returns the local columns compared for r.
func (r *Resource) Columns() []string {
	out := make([]string, len(r.fields))
	for i, f := range r.fields {
		out[i] = f.col
	}
	return out
}

// Fields returns the compared fields (column, provider path, compare mode).
func (r *Resource) Fields() []localstate.Field {
	out := make([]localstate.Field, len(r.fields))
	for i, f := range r.fields {
		out[i] = localstate.Field{Column: f.col, Path: f.path, Compare: f.mode}
	}
	return out
}

// Prepare validates t against the store and compiles its mapping.
func (e *Engine) Prepare(ctx context.Context, t *localstate.Table) (*Resource, error) {
	cols, err := e.Store.Columns(ctx, t)
	if err != nil {
		return nil, err
	}
	r := &Resource{Table: t}
	if len(t.Fields) == 0 {
		r.auto = true
		for _, c := range cols {
			if c == t.UpdatedAt || c == t.SoftDelete {
				continue
			}
			r.fields = append(r.fields, field{col: c, path: c, segs: []string{c}})
		}
	} else {
		for _, f := range t.Fields {
			r.fields = append(r.fields, field{col: f.Column, path: f.Path, segs: splitPath(f.Path), mode: f.Compare})
		}
	}
	return r, nil
}

// Lookup returns the value at a dotted path ("items.data.0.price.id") in a
// provider object; ok is false when any step is absent.
func Lookup(data map[string]any, segs []string) (any, bool) {
	var cur any = data
	for _, s := range segs {
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			cur = x[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

var hashSeed = maphash.MakeSeed()

// hashValues hashes the canonical forms of vals; skip marks fields left out.
func hashValues(buf []byte, fields []field, get func(i int) (any, bool)) ([]byte, uint64) {
	buf = buf[:0]
	for i := range fields {
		v, ok := get(i)
		start := len(buf)
		if ok {
			buf = appendCanon(buf, v, fields[i].mode)
		} else {
			buf = append(buf, 'x')
		}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(buf)-start))
	}
	return buf, maphash.Bytes(hashSeed, buf)
}

// pending is a planned write, kept compactly until apply.
type pending struct {
	op      localstate.Op
	key     string
	cols    []string
	vals    []any
	drift   int // index into Result.Drift, -1 when the write is not reported as drift
	changes bool
}

// ResourceResult is the comparison of one resource.
type ResourceResult struct {
	Resource *Resource
	Summary  ResourceSummary
	// BrakeBase, when above 0, is the count of live local records the brake
	// takes its share of and the mass-delete guard compares with (check-user
	// compares one user but brakes against the whole table); 0 means Summary.Local.
	BrakeBase int
	// Scoped marks a comparison of a slice of the resource (check-user): its
	// listing is not the resource's, so an empty one proves nothing and a path
	// absent from its one record is no sign of a typo.
	Scoped bool
	plan   []pending
	// Samples of the keys behind the guard's counts (a few each).
	dupLocal, dupRemote []string
	// dupKeys counts the distinct keys behind Summary.DuplicateLocal (which
	// counts the surplus rows), so a refusal names the rows really involved.
	dupKeys int
	// nulling counts, per column whose provider path no listed record has,
	// the rows the plan would change from a value to null.
	nulling map[string]int
	// createNulls counts, per such column, the planned creates (which
	// write null there); only a scoped run's guard refuses them.
	createNulls map[string]int
}

// Planned counts the creates, updates and deletes that change values (what the brake counts).
func (rr *ResourceResult) Planned() int {
	n := 0
	for _, p := range rr.plan {
		if p.changes {
			n++
		}
	}
	return n
}

// Result is a comparison of every resource and the plan that would fix it.
type Result struct {
	Resources []*ResourceResult
	Drift     []Drift
}

// Compare compares each resource and plans its fixes under mode.
func (e *Engine) Compare(ctx context.Context, resources []*Resource, mode Mode) (*Result, error) {
	res := &Result{}
	for _, r := range resources {
		rr, drift, err := e.compareResource(ctx, r, mode)
		if err != nil {
			return nil, err
		}
		base := len(res.Drift)
		for i := range rr.plan {
			if rr.plan[i].drift >= 0 {
				rr.plan[i].drift += base
			}
		}
		res.Resources = append(res.Resources, rr)
		res.Drift = append(res.Drift, drift...)
	}
	return res, nil
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Engine) compareResource(ctx context.Context, r *Resource, mode Mode) (*ResourceResult, []Drift, error) {
	t := r.Table
	rr := &ResourceResult{Resource: r}
	log := e.logger().With("resource", t.Resource)

	// 1. Index the local side: key -> hash of compared values (+ updated_at).
	cols := r.Columns()
	updIdx := -1
	if t.UpdatedAt != "" {
		updIdx = len(cols)
		cols = append(cols, t.UpdatedAt)
	}
	hint := 1024
	if count := e.Store.Features().Count; count != nil {
		if n, err := count(ctx, t); err == nil {
			hint = n
		}
	}
	index := newLocalIndex(hint)
	dupLocal := 0
	var dupSeen map[string]bool
	var buf []byte
	// Reading (the store's scan, the provider's decoding) and comparing run
	// on two cores: the reader fills batches, one consumer goroutine owns the
	// index and every result below.
	lp := newPipe(len(cols))
	lp.start(func(it *item) {
		var h uint64
		buf, h = hashValues(buf, r.fields, func(i int) (any, bool) { return it.vals[i], true })
		var updated int64
		if updIdx >= 0 {
			if ms, ok := toInstant(it.vals[updIdx]); ok {
				updated = ms
			}
		}
		if !index.add(it.key, h, updated) {
			dupLocal++
			if dupSeen == nil {
				dupSeen = map[string]bool{}
			}
			if !dupSeen[it.key] {
				dupSeen[it.key] = true
				rr.dupKeys++
			}
			if len(rr.dupLocal) < sampleKeys && !slices.Contains(rr.dupLocal, it.key) {
				rr.dupLocal = append(rr.dupLocal, it.key)
			}
		}
	})
	err := e.Store.Scan(ctx, t, cols, func(row localstate.Row) error {
		it := lp.next()
		it.key = row.Key
		copy(it.vals, row.Values)
		return nil
	})
	lp.finish()
	if err != nil {
		return nil, nil, fmt.Errorf("reading local %s: %w", t.Resource, err)
	}
	rr.Summary.Local = index.len()
	rr.Summary.DuplicateLocal = dupLocal
	if keyHealth := e.Store.Features().KeyHealth; keyHealth != nil {
		// The store sees what the scan cannot: rows without a key, and keys
		// equal under the key column's collation (COLLATE NOCASE).
		kh, err := keyHealth(ctx, t)
		if err != nil {
			return nil, nil, fmt.Errorf("checking the keys of local %s: %w", t.Resource, err)
		}
		rr.Summary.NullKeyLocal = kh.NullKeys
		if kh.Duplicates > rr.Summary.DuplicateLocal {
			rr.Summary.DuplicateLocal = kh.Duplicates
			rr.dupLocal = kh.Sample
			rr.dupKeys = kh.Keys
		}
	}
	if rr.Summary.DuplicateLocal > 0 {
		log.Warn("local key is not unique: only the first row of each duplicated key is compared, and nothing is written to this resource",
			"key_column", keyColumn(t), "rows", rr.Summary.DuplicateLocal, "examples", strings.Join(rr.dupLocal, ", "))
	}
	if rr.Summary.NullKeyLocal > 0 {
		log.Warn("local rows without a key (NULL or empty) are not compared", "key_column", keyColumn(t), "rows", rr.Summary.NullKeyLocal)
	}
	log.Debug("local side indexed", "records", index.len())

	// 2. Stream the provider side.
	var drift []Drift
	var creates []pending
	type candidate struct {
		rec  providers.Record
		vals []any
	}
	var candidates []candidate
	var rewrites []pending // --force: in-sync records written anyway
	var slab valueSlab     // their values, allocated in large blocks
	forceCols := r.Columns()
	forceColsUpd := append(r.Columns(), t.UpdatedAt)
	if mode == ModeResyncForce {
		rewrites = make([]pending, 0, index.len())
	}
	created := map[string]bool{}
	listed := 0
	if e.Progress != nil {
		e.Progress.Listing(t.Resource, index.len())
	}
	pathSeen := make([]bool, len(r.fields)) // written by the List callback only
	rp := newPipe(len(r.fields))
	rp.start(func(it *item) {
		ent := index.lookup(it.key)
		if ent == nil {
			if created[it.key] {
				rr.duplicateRemote(it.key)
				return
			}
			created[it.key] = true
			rr.Summary.Remote++
			var use []string
			var vals []any
			for i := range r.fields {
				if it.present[i] {
					use = append(use, r.fields[i].col)
					vals = append(vals, writeValue(it.vals[i], r.fields[i].mode))
				}
			}
			if t.UpdatedAt != "" && !it.upd.IsZero() {
				use = append(use, t.UpdatedAt)
				vals = append(vals, formatTime(it.upd))
			}
			creates = append(creates, pending{op: localstate.OpCreate, key: it.key, cols: use, vals: vals, changes: true})
			return
		}
		if ent.seen {
			rr.duplicateRemote(it.key)
			return
		}
		ent.seen = true
		rr.Summary.Remote++
		var h uint64
		buf, h = hashValues(buf, r.fields, func(i int) (any, bool) { return it.vals[i], it.present[i] })
		stale := mode == ModeResyncForce
		if mode == ModeResync && ent.updated != 0 && !it.upd.IsZero() {
			stale = ent.updated < it.upd.UnixMilli()
		}
		if h == ent.hash && !stale {
			rr.Summary.InSync++
			return
		}
		allPresent := true
		for _, ok := range it.present {
			allPresent = allPresent && ok
		}
		if h == ent.hash && mode == ModeResyncForce {
			// Equal values, rewritten anyway: no field-by-field comparison,
			// and nothing for the brake to count.
			rr.Summary.InSync++
			p := pending{op: localstate.OpUpdate, key: it.key, drift: -1, cols: forceCols, vals: slab.take(len(forceCols) + 1)}
			if !allPresent { // auto mapping, a column absent from this object: its own column list
				p.cols = nil
			}
			for i := range r.fields {
				if it.present[i] {
					if !allPresent {
						p.cols = append(p.cols, r.fields[i].col)
					}
					p.vals = append(p.vals, writeValue(it.vals[i], r.fields[i].mode))
				}
			}
			if t.UpdatedAt != "" && !it.upd.IsZero() {
				if allPresent {
					p.cols = forceColsUpd
				} else {
					p.cols = append(p.cols[:len(p.cols):len(p.cols)], t.UpdatedAt)
				}
				p.vals = append(p.vals, formatTime(it.upd))
			}
			rewrites = append(rewrites, p)
			return
		}
		// Keep only the compared values, not the whole provider object.
		small := providers.Record{ID: it.key, UpdatedAt: it.upd}
		if r.auto {
			small.Data = map[string]any{}
			for i, f := range r.fields {
				if it.present[i] {
					small.Data[f.col] = it.vals[i]
				}
			}
		}
		candidates = append(candidates, candidate{rec: small, vals: slices.Clone(it.vals)})
	})
	err = e.Provider.List(ctx, t.Resource, func(rec providers.Record) error {
		if rec.ID == "" {
			return fmt.Errorf("provider returned a %s record without an id", t.Resource)
		}
		listed++
		if e.Progress != nil && listed%100 == 0 {
			e.Progress.Listed(t.Resource, 100)
		}
		it := rp.next()
		it.key, it.upd = rec.ID, rec.UpdatedAt
		for i := range r.fields {
			v, found := Lookup(rec.Data, r.fields[i].segs)
			if found {
				pathSeen[i] = true
			}
			if !found && r.auto {
				it.vals[i], it.present[i] = nil, false // auto mapping: only columns present count
				continue
			}
			it.vals[i], it.present[i] = v, true
		}
		return nil
	})
	rp.finish()
	if err != nil {
		return nil, nil, err // providers name the resource and page themselves
	}
	if e.Progress != nil {
		e.Progress.Listed(t.Resource, listed%100)
		e.Progress.Done()
	}
	log.Debug("provider side listed", "records", rr.Summary.Remote, "candidates", len(candidates))
	if rr.Summary.DuplicateRemote > 0 {
		log.Warn("the provider listed some ids more than once; nothing is written to this resource",
			"ids", rr.Summary.DuplicateRemote, "examples", strings.Join(rr.dupRemote, ", "))
	}
	// A mapped path that no listed record has is most likely a typo: it
	// reads as null everywhere. (Absent means the key is missing, not null.)
	absent := make([]bool, len(r.fields))
	if listed > 0 && !r.auto {
		for i, f := range r.fields {
			if !pathSeen[i] {
				absent[i] = true
				rr.Summary.AbsentPaths = append(rr.Summary.AbsentPaths, f.path)
				log.Warn("no listed record has this mapped path: it reads as null everywhere (a typo?)", "column", f.col, "path", f.path, "records", listed)
			}
		}
	}

	rr.plan = append(rr.plan, rewrites...)

	// 3. Creates. A new id that differs from a local key only in case is one
	// key to a COLLATE NOCASE column (its write would hit the other row): the
	// store's own lookup, which uses the column's collation, decides.
	if err := e.caseCollisions(ctx, t, rr, index, creates); err != nil {
		return nil, nil, err
	}
	// A create writes null into every column whose path no listed record
	// has: what a scoped run (check-user, one record) must also refuse.
	for i, f := range r.fields {
		if absent[i] && len(creates) > 0 {
			if rr.createNulls == nil {
				rr.createNulls = map[string]int{}
			}
			rr.createNulls[f.col] = len(creates)
		}
	}
	for _, c := range creates {
		rr.Summary.MissingLocal++
		c.drift = len(drift)
		drift = append(drift, Drift{Resource: t.Resource, ID: c.key, Kind: KindMissingLocal, RemoteStatus: RemotePresent, Action: ActionCreate})
		rr.plan = append(rr.plan, c)
	}

	// 4. Changed candidates: read the local rows again, compare field by field.
	if len(candidates) > 0 {
		byKey := make(map[string]int, len(candidates))
		for i, c := range candidates {
			byKey[c.rec.ID] = i
		}
		localRows := make(map[string][]any, len(candidates))
		if err := e.fetchLocal(ctx, t, cols, byKey, localRows); err != nil {
			return nil, nil, err
		}
		for _, c := range candidates {
			lv, ok := localRows[c.rec.ID]
			if !ok {
				return nil, nil, fmt.Errorf("local %s %s vanished during the run (is something else writing the state?)", t.Resource, c.rec.ID)
			}
			var diffs []FieldDiff
			var dcols []string
			var dvals []any
			for i, f := range r.fields {
				if r.auto {
					if _, ok := c.rec.Data[f.col]; !ok {
						continue
					}
				}
				if !Equal(lv[i], c.vals[i], f.mode) {
					if absent[i] {
						if rr.nulling == nil {
							rr.nulling = map[string]int{}
						}
						rr.nulling[f.col]++
					}
					diffs = append(diffs, FieldDiff{Name: f.col, Path: f.path, Local: DisplayValue(lv[i]), Remote: DisplayValue(c.vals[i])})
					dcols = append(dcols, f.col)
					dvals = append(dvals, writeValue(c.vals[i], f.mode))
				}
			}
			p := pending{op: localstate.OpUpdate, key: c.rec.ID, drift: -1, changes: len(diffs) > 0}
			switch mode {
			case ModeResyncForce:
				for i, f := range r.fields {
					if !r.auto || c.rec.Data != nil && hasKey(c.rec.Data, f.col) {
						p.cols = append(p.cols, f.col)
						p.vals = append(p.vals, writeValue(c.vals[i], f.mode))
					}
				}
			case ModeResync:
				p.cols, p.vals = dcols, dvals
				localUpd := int64(0)
				if updIdx >= 0 {
					localUpd, _ = toInstant(lv[updIdx])
				}
				if localUpd != 0 && !c.rec.UpdatedAt.IsZero() && localUpd >= c.rec.UpdatedAt.UnixMilli() {
					p.op = "" // local is as new as the provider: resync leaves it
				}
			default:
				p.cols, p.vals = dcols, dvals
			}
			if p.op != "" && t.UpdatedAt != "" && !c.rec.UpdatedAt.IsZero() {
				p.cols = append(p.cols, t.UpdatedAt)
				p.vals = append(p.vals, formatTime(c.rec.UpdatedAt))
			}
			if len(diffs) == 0 {
				rr.Summary.InSync++
			} else {
				rr.Summary.Changed++
				d := Drift{Resource: t.Resource, ID: c.rec.ID, Kind: KindChanged, RemoteStatus: RemotePresent, Fields: diffs, Action: ActionUpdate}
				if p.op == "" {
					d.Action = ActionNone
					d.Note = "local updated_at is as new as the provider's; resync --force overwrites it"
				}
				p.drift = len(drift)
				drift = append(drift, d)
			}
			if p.op != "" && len(p.cols) > 0 {
				rr.plan = append(rr.plan, p)
			}
		}
	}

	// 5. Missing remote: confirm each one with a single-object Get.
	var missing []string
	for i := range index.entries {
		if ent := &index.entries[i]; !ent.seen {
			missing = append(missing, index.key(ent))
		}
	}
	sort.Strings(missing)
	statuses, err := e.confirm(ctx, t.Resource, missing)
	if err != nil {
		return nil, nil, err
	}
	for i, k := range missing {
		rr.Summary.MissingRemote++
		d := Drift{Resource: t.Resource, ID: k, Kind: KindMissingRemote, RemoteStatus: statuses[i].status, Action: ActionNone, Error: statuses[i].err}
		if d.RemoteStatus == RemoteDeleted {
			d.Action = ActionDelete
			rr.plan = append(rr.plan, pending{op: localstate.OpDelete, key: k, drift: len(drift), changes: true})
		}
		drift = append(drift, d)
	}
	rr.Summary.Unresolved = len(drift)
	sortDrift(drift, rr.plan)
	return rr, drift, nil
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// maxCollisionChecks bounds the store lookups of case-colliding creates.
const maxCollisionChecks = 64

// caseCollisions counts, as duplicate local keys, planned creates whose key
// the store resolves to an existing row of a different spelling.
func (e *Engine) caseCollisions(ctx context.Context, t *localstate.Table, rr *ResourceResult, index *localIndex, creates []pending) error {
	if len(creates) == 0 || index.len() == 0 {
		return nil
	}
	folded := make(map[string]string, len(creates))
	for _, c := range creates {
		folded[strings.ToLower(c.key)] = c.key
	}
	checks := 0
	for i := range index.entries {
		k := index.key(&index.entries[i])
		c, ok := folded[strings.ToLower(k)]
		if !ok || c == k {
			continue
		}
		if checks++; checks > maxCollisionChecks {
			break
		}
		if _, found, err := e.Store.Get(ctx, t, nil, c); err != nil {
			return fmt.Errorf("reading local %s %s: %w", t.Resource, c, err)
		} else if found {
			rr.Summary.DuplicateLocal++
			rr.dupKeys++
			if len(rr.dupLocal) < sampleKeys {
				rr.dupLocal = append(rr.dupLocal, c+"/"+k)
			}
		}
	}
	if rr.Summary.DuplicateLocal > 0 && checks > 0 {
		e.logger().Warn("new provider ids collide with local keys under the key column's collation; nothing is written to this resource",
			"resource", t.Resource, "key_column", keyColumn(t), "examples", strings.Join(rr.dupLocal, ", "))
	}
	return nil
}

// sampleKeys is how many duplicated keys a warning or refusal names.
const sampleKeys = 5

// duplicateRemote counts an id the listing returned again.
func (rr *ResourceResult) duplicateRemote(id string) {
	rr.Summary.DuplicateRemote++
	if len(rr.dupRemote) < sampleKeys && !slices.Contains(rr.dupRemote, id) {
		rr.dupRemote = append(rr.dupRemote, id)
	}
}

func keyColumn(t *localstate.Table) string {
	if t.Key != "" {
		return t.Key
	}
	return "id"
}

// KeyHealth is what a store knows of a table's keys that its Scan does not
// show (see localstate.KeyHealth).
type KeyHealth = localstate.KeyHealth

// sortDrift orders drift by kind then id, keeping plan indexes pointing at the right items.
func sortDrift(drift []Drift, plan []pending) {
	order := map[string]int{KindMissingLocal: 0, KindMissingRemote: 1, KindChanged: 2}
	idx := make([]int, len(drift))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		da, db := drift[idx[a]], drift[idx[b]]
		if order[da.Kind] != order[db.Kind] {
			return order[da.Kind] < order[db.Kind]
		}
		return da.ID < db.ID
	})
	pos := make([]int, len(drift))
	sorted := make([]Drift, len(drift))
	for newPos, old := range idx {
		pos[old] = newPos
		sorted[newPos] = drift[old]
	}
	copy(drift, sorted)
	for i := range plan {
		if plan[i].drift >= 0 {
			plan[i].drift = pos[plan[i].drift]
		}
	}
}

// fetchLocal reads the rows for keys: by key when the store has an index on
// the key column, otherwise in one more scan (a Get per key on an unindexed
// column would scan the table once per key).
func (e *Engine) fetchLocal(ctx context.Context, t *localstate.Table, cols []string, keys map[string]int, out map[string][]any) error {
	ki := e.Store.Features().KeyIndexed
	if ki != nil && ki(ctx, t) || len(keys) <= 8 {
		for k := range keys {
			row, found, err := e.Store.Get(ctx, t, cols, k)
			if err != nil {
				return fmt.Errorf("reading local %s %s: %w", t.Resource, k, err)
			}
			if found {
				out[k] = slices.Clone(row.Values)
			}
		}
		return nil
	}
	return e.Store.Scan(ctx, t, cols, func(row localstate.Row) error {
		if _, want := keys[row.Key]; want {
			if _, done := out[row.Key]; !done {
				out[row.Key] = slices.Clone(row.Values)
			}
		}
		return nil
	})
}

type confirmation struct {
	status string
	err    string
}

// confirm fetches each id once, with bounded concurrency, to tell deleted
// from out of scope from forbidden. A check that fails is "unconfirmed";
// a rejected key fails the run.
func (e *Engine) confirm(ctx context.Context, resource string, ids []string) ([]confirmation, error) {
	out := make([]confirmation, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	n := e.ConfirmConcurrency
	if n <= 0 {
		n = 8
	}
	if e.Progress != nil {
		e.Progress.Confirming(resource, len(ids))
		defer e.Progress.Done()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		fatal    error
		next     int
		finished int
	)
	for w := 0; w < min(n, len(ids)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= len(ids) || fatal != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				_, st, err := e.Provider.Get(ctx, resource, ids[i])
				var c confirmation
				switch {
				case err != nil:
					var auth *providers.AuthError
					if errors.As(err, &auth) || ctx.Err() != nil {
						mu.Lock()
						if fatal == nil {
							fatal = err
							if ctx.Err() != nil && !errors.As(err, &auth) {
								fatal = ctx.Err()
							}
						}
						mu.Unlock()
						cancel()
						return
					}
					c = confirmation{status: RemoteUnconfirmed, err: err.Error()}
				case st == providers.StatusDeleted:
					c = confirmation{status: RemoteDeleted}
				case st == providers.StatusInaccessible:
					c = confirmation{status: RemoteInaccessible}
				default:
					c = confirmation{status: RemoteExists}
				}
				out[i] = c
				mu.Lock()
				finished++
				mu.Unlock()
				if e.Progress != nil {
					e.Progress.Confirmed(resource, 1)
				}
			}
		}()
	}
	wg.Wait()
	if fatal != nil {
		return nil, fmt.Errorf("confirming missing %s: %w", resource, fatal)
	}
	return out, nil
}

func splitPath(p string) []string { return strings.Split(p, ".") }

// writeValue is what the plan writes for a provider value: under bool and
// number compare modes the provider's text ("true", "42") becomes the typed
// value, so the store writes 1 or 42 and the next comparison is equal.
func writeValue(v any, mode string) any {
	switch mode {
	case localstate.CompareBool:
		if b, ok := toBool(v); ok {
			return b
		}
	case localstate.CompareNumber:
		if s, ok := v.(string); ok {
			if out, ok := appendNumberString(nil, strings.TrimSpace(s)); ok {
				return json.Number(out[1:])
			}
		}
	}
	return v
}

// valueSlab hands out small value slices carved from large blocks: a
// million --force rewrites make a few hundred allocations, not a million.
type valueSlab struct{ block []any }

const slabBlock = 1 << 16

// take returns an empty slice with capacity n.
func (s *valueSlab) take(n int) []any {
	if cap(s.block)-len(s.block) < n {
		s.block = make([]any, 0, max(slabBlock, n))
	}
	start := len(s.block)
	s.block = s.block[:start+n]
	return s.block[start : start : start+n]
}
