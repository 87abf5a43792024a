// Package reconcile is the engine: it compares a provider's records with the
// local state's, classifies drift, plans the fixes, enforces the safety brake
// and applies the plan. It knows providers and stores only by their interfaces.
package reconcile

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
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
	// ReconfirmAfter is how old a listed copy may be when it is written:
	// Reconfirm re-reads older ones first (0: every one).
	ReconfirmAfter time.Duration
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

	// Incremental, when set, compares each resource with the provider
	// snapshot kept in Incremental.Store, rolled forward from the events
	// since its cursor, instead of a full listing (diff --incremental;
	// incremental.go); a full listing, when one is needed, stores a fresh
	// snapshot.
	Incremental *Incremental

	// eventConfirmMin overrides minEventConfirm (tests).
	eventConfirmMin int
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
	return providers.ValueAt(data, segs)
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

// exactValues hashes vals as read, without the fields' compare modes (the
// default mode's canonical forms, which only bridge how the scan and a
// store's other reads type one stored value: "42" and 42): u@x and U@X, or
// 10.5 and 10.50, hash apart even under casefold or number. It is what a
// write is conditional on (conditional.go): an app write of a value equal
// to the old one only under the compare mode is still a change of the row.
// When no field has a compare mode it is hashValues' h, given as modal=false.
func exactValues(buf []byte, fields []field, h uint64, get func(i int) (any, bool)) ([]byte, uint64) {
	if !modal(fields) {
		return buf, h
	}
	buf = buf[:0]
	for i := range fields {
		v, ok := get(i)
		start := len(buf)
		if ok {
			buf = appendCanon(buf, v, "")
		} else {
			buf = append(buf, 'x')
		}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(buf)-start))
	}
	return buf, maphash.Bytes(hashSeed, buf)
}

// modal reports whether some field compares under a mode other than exact.
func modal(fields []field) bool {
	for i := range fields {
		if m := fields[i].mode; m != "" && m != localstate.CompareExact {
			return true
		}
	}
	return false
}

// pending is a planned write, kept compactly until apply.
type pending struct {
	op      localstate.Op
	key     string
	cols    []string
	vals    []any
	drift   int // index into Result.Drift, -1 when the write is not reported as drift
	changes bool
	// What the write is conditional on (conditional.go): cond says which;
	// hash and upd are the local row's compared values' exact hash
	// (exactValues) and updated_at (ms) as the comparison read them.
	cond uint8
	hash uint64
	upd  int64
	// ver is the stored version of the row hash was read from (zero:
	// none, or the write was re-planned from another read).
	ver localstate.RowVersion
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
	// Incremental says how an incremental comparison went (nil when the
	// engine did not run incrementally).
	Incremental *IncrementalResult
	plan        []pending
	// force holds the --force rewrites of in-sync records, compactly
	// (compact.go); they are applied before plan.
	force *forcePlan
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
	// cond checks the local rows of its conditional writes (conditional.go);
	// conflicts counts the writes whose check failed.
	cond      *rowCheck
	conflicts int
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

// compareResource compares one resource and plans its fixes: it indexes the
// local side, streams the provider side against the index, then plans the
// creates, the changed records and the confirmed deletions, in that order.
func (e *Engine) compareResource(ctx context.Context, r *Resource, mode Mode) (*ResourceResult, []Drift, error) {
	if e.Incremental != nil {
		return e.compareIncremental(ctx, r, mode) // incremental.go
	}
	return newResourceRun(e, r, mode).compare(ctx)
}

// compare runs the comparison's steps.
func (run *resourceRun) compare(ctx context.Context) (*ResourceResult, []Drift, error) {
	if err := run.indexLocal(ctx); err != nil {
		return nil, nil, err
	}
	if err := run.listRemote(ctx); err != nil {
		return nil, nil, err
	}
	run.rr.force = run.force
	if err := run.planCreates(ctx); err != nil {
		return nil, nil, err
	}
	if err := run.planChanged(ctx); err != nil {
		return nil, nil, err
	}
	if err := run.planMissing(ctx); err != nil {
		return nil, nil, err
	}
	run.rr.Summary.Unresolved = len(run.drift)
	run.rr.cond.mode, run.rr.cond.absent = run.mode, run.absent
	sortDrift(run.drift, run.rr.plan)
	return run.rr, run.drift, nil
}

// resourceRun is one resource's comparison in progress: what each step of
// compareResource leaves for the next. While a pipe runs, its consumer
// goroutine is the only one touching the fields below (the reader touches
// only its pipe, listed and pathSeen).
type resourceRun struct {
	e    *Engine
	r    *Resource
	t    *localstate.Table
	mode Mode
	rr   *ResourceResult
	log  *slog.Logger

	// The local side.
	cols     []string // the columns read: the compared ones, then updated_at
	updIdx   int      // updated_at's index in cols, -1 without
	index    *localIndex
	buf      []byte // hashing scratch
	dupLocal int    // surplus rows of duplicated keys seen by the scan
	dupSeen  map[string]bool

	// The provider side.
	listed       int    // records listed
	pathSeen     []bool // per field: some listed record has its path
	absent       []bool // per field: no listed record has its path (mapped fields only)
	created      map[string]bool
	creates      []pending
	candidates   []candidate
	force        *forcePlan // --force: in-sync records written anyway
	forceVals    []any      // addRewrite's scratch
	forceCols    []string
	forceColsUpd []string

	drift []Drift

	// capture, when set, receives each listed record's compared values
	// (found: the record has the path), from the reader goroutine: the
	// snapshot a full listing under --incremental stores.
	capture func(id string, upd time.Time, vals []any, found []bool)
}

// candidate is a listed record whose values differ from its local row's
// hash (or that resync may rewrite): its compared values only, kept for the
// field-by-field comparison.
type candidate struct {
	rec  providers.Record
	vals []any
	hash uint64 // the local row's exact hash, as indexed
	upd  int64
	ver  localstate.RowVersion // and its version, as scanned
}

func newResourceRun(e *Engine, r *Resource, mode Mode) *resourceRun {
	t := r.Table
	run := &resourceRun{e: e, r: r, t: t, mode: mode, rr: &ResourceResult{Resource: r},
		log: e.logger().With("resource", t.Resource), cols: r.Columns(), updIdx: -1}
	if t.UpdatedAt != "" {
		run.updIdx = len(run.cols)
		run.cols = append(run.cols, t.UpdatedAt)
	}
	run.rowCheck()
	return run
}

// indexLocal reads the local side into the index (key -> hash of the
// compared values, + updated_at) and adds what the store knows of its keys.
func (run *resourceRun) indexLocal(ctx context.Context) error {
	t := run.t
	hint := 1024
	if count := run.e.Store.Features().Count; count != nil {
		if n, err := count(ctx, t); err == nil {
			hint = n
		}
	}
	run.index = newLocalIndex(hint, modal(run.r.fields), run.updIdx >= 0)
	// Reading (the store's scan, the provider's decoding) and comparing run
	// on two cores: the reader fills batches, one consumer goroutine owns the
	// index and every result below.
	lp := newPipe(len(run.cols))
	lp.start(run.addLocal)
	err := run.e.Store.Scan(ctx, t, run.cols, func(row localstate.Row) error {
		it := lp.next()
		it.key = row.Key
		it.ver = row.Version
		copy(it.vals, row.Values)
		return nil
	})
	lp.finish()
	if err != nil {
		return fmt.Errorf("reading local %s: %w", t.Resource, err)
	}
	run.rr.Summary.Local = run.index.len()
	run.rr.Summary.DuplicateLocal = run.dupLocal
	if err := run.localKeyHealth(ctx); err != nil {
		return err
	}
	run.log.Debug("local side indexed", "records", run.index.len())
	return nil
}

// addLocal indexes one local row (the local pipe's consumer).
func (run *resourceRun) addLocal(it *item) {
	var h uint64
	get := func(i int) (any, bool) { return it.vals[i], true }
	run.buf, h = hashValues(run.buf, run.r.fields, get)
	var x uint64
	run.buf, x = exactValues(run.buf, run.r.fields, h, get)
	var updated int64
	if run.updIdx >= 0 {
		if ms, ok := toInstant(it.vals[run.updIdx]); ok {
			updated = ms
		}
	}
	if !run.index.add(it.key, h, x, updated, it.ver) {
		run.duplicateLocal(it.key)
	}
}

// duplicateLocal counts a row whose key an earlier row already has.
func (run *resourceRun) duplicateLocal(key string) {
	rr := run.rr
	run.dupLocal++
	if run.dupSeen == nil {
		run.dupSeen = map[string]bool{}
	}
	if !run.dupSeen[key] {
		run.dupSeen[key] = true
		rr.dupKeys++
	}
	if len(rr.dupLocal) < sampleKeys && !slices.Contains(rr.dupLocal, key) {
		rr.dupLocal = append(rr.dupLocal, key)
	}
}

// localKeyHealth adds what the store sees and the scan cannot (rows without
// a key, keys equal under the key column's collation such as COLLATE
// NOCASE), and warns of both.
func (run *resourceRun) localKeyHealth(ctx context.Context) error {
	t, rr := run.t, run.rr
	if keyHealth := run.e.Store.Features().KeyHealth; keyHealth != nil {
		kh, err := keyHealth(ctx, t)
		if err != nil {
			return fmt.Errorf("checking the keys of local %s: %w", t.Resource, err)
		}
		rr.Summary.NullKeyLocal = kh.NullKeys
		if kh.Duplicates > rr.Summary.DuplicateLocal {
			rr.Summary.DuplicateLocal = kh.Duplicates
			rr.dupLocal = kh.Sample
			rr.dupKeys = kh.Keys
		}
	}
	if rr.Summary.DuplicateLocal > 0 {
		run.log.Warn("local key is not unique: only the first row of each duplicated key is compared, and nothing is written to this resource",
			"key_column", keyColumn(t), "rows", rr.Summary.DuplicateLocal, "examples", strings.Join(rr.dupLocal, ", "))
	}
	if rr.Summary.NullKeyLocal > 0 {
		run.log.Warn("local rows without a key (NULL or empty) are not compared", "key_column", keyColumn(t), "rows", rr.Summary.NullKeyLocal)
	}
	return nil
}

// listRemote streams the provider side through the comparison with the
// index (compareRemote), then notes the mapped paths no record has.
func (run *resourceRun) listRemote(ctx context.Context) error {
	e, r, t := run.e, run.r, run.t
	run.forceCols = r.Columns()
	run.forceColsUpd = append(r.Columns(), t.UpdatedAt)
	if run.mode == ModeResyncForce {
		// Column sets 0 and 1: every mapped column, and then updated_at.
		run.force = &forcePlan{colSets: [][]string{run.forceCols, run.forceColsUpd}}
	}
	run.created = map[string]bool{}
	if e.Progress != nil {
		e.Progress.Listing(t.Resource, run.index.len())
	}
	// The List callback (the reader) keeps its own counters, apart from
	// what the consumer writes.
	listed := 0
	var readAt int64
	pathSeen := make([]bool, len(r.fields))
	rp := newPipe(len(r.fields))
	rp.start(run.compareRemote)
	var capVals []any
	var capFound []bool
	if run.capture != nil {
		capVals, capFound = make([]any, len(r.fields)), make([]bool, len(r.fields))
	}
	add := func(id string, upd time.Time, get func(i int) (any, bool)) error {
		if id == "" {
			return fmt.Errorf("provider returned a %s record without an id", t.Resource)
		}
		if listed%64 == 0 {
			readAt = e.now().UnixNano() // a page's records arrive together
		}
		listed++
		if e.Progress != nil && listed%100 == 0 {
			e.Progress.Listed(t.Resource, 100)
		}
		it := rp.next()
		it.key, it.upd, it.at = id, upd, readAt
		for i := range r.fields {
			v, found := get(i)
			if found {
				pathSeen[i] = true
			}
			if capVals != nil {
				capVals[i], capFound[i] = v, found
			}
			if !found && r.auto {
				it.vals[i], it.present[i] = nil, false // auto mapping: only columns present count
				continue
			}
			it.vals[i], it.present[i] = v, true
		}
		if run.capture != nil {
			run.capture(id, upd, capVals, capFound)
		}
		return nil
	}
	var err error
	if pl, ok := e.Provider.(projectedLister); ok {
		// The snapshot (incremental.go): the values are already projected.
		err = pl.listProjected(ctx, t.Resource, add)
	} else {
		err = run.list(ctx, func(rec providers.Record) error {
			return add(rec.ID, rec.UpdatedAt, func(i int) (any, bool) { return Lookup(rec.Data, r.fields[i].segs) })
		})
	}
	rp.finish()
	run.listed, run.pathSeen = listed, pathSeen
	if err != nil {
		return err // providers name the resource and page themselves
	}
	if e.Progress != nil {
		e.Progress.Listed(t.Resource, run.listed%100)
		e.Progress.Done()
	}
	run.log.Debug("provider side listed", "records", run.rr.Summary.Remote, "candidates", len(run.candidates))
	if run.rr.Summary.DuplicateRemote > 0 {
		run.log.Warn("the provider listed some ids more than once; nothing is written to this resource",
			"ids", run.rr.Summary.DuplicateRemote, "examples", strings.Join(run.rr.dupRemote, ", "))
	}
	run.findAbsentPaths()
	return nil
}

// list lists the resource from the provider, decoding only the mapped paths
// when the provider can (providers.PathLister): the engine reads nothing
// else of a listed record but its ID and UpdatedAt.
func (run *resourceRun) list(ctx context.Context, fn func(providers.Record) error) error {
	p := run.e.Provider
	if pl := providers.FeaturesOf(p).Paths; pl != nil {
		paths := make([][]string, len(run.r.fields))
		for i, f := range run.r.fields {
			paths[i] = f.segs
		}
		return pl.ListPaths(ctx, run.t.Resource, paths, fn)
	}
	return p.List(ctx, run.t.Resource, fn)
}

// findAbsentPaths marks the mapped paths that no listed record has: most
// likely a typo, as it reads as null everywhere. (Absent means the key is
// missing, not null.)
func (run *resourceRun) findAbsentPaths() {
	r := run.r
	run.absent = make([]bool, len(r.fields))
	if run.listed == 0 || r.auto {
		return
	}
	for i, f := range r.fields {
		if !run.pathSeen[i] {
			run.absent[i] = true
			run.rr.Summary.AbsentPaths = append(run.rr.Summary.AbsentPaths, f.path)
			run.log.Warn("no listed record has this mapped path: it reads as null everywhere (a typo?)", "column", f.col, "path", f.path, "records", run.listed)
		}
	}
}

// compareRemote compares one listed record with the index (the provider
// pipe's consumer): a new id is a create, an equal hash is in sync (or a
// --force rewrite), anything else a candidate for the field-by-field pass.
func (run *resourceRun) compareRemote(it *item) {
	rr := run.rr
	x := run.index
	ent := x.lookup(it.key)
	if ent < 0 {
		if run.created[it.key] {
			rr.duplicateRemote(it.key)
			return
		}
		run.created[it.key] = true
		rr.Summary.Remote++
		run.addCreate(it)
		run.rr.cond.listed[it.key] = listedCopy{at: it.at, upd: it.upd}
		return
	}
	if x.isSeen(ent) {
		rr.duplicateRemote(it.key)
		return
	}
	x.markSeen(ent)
	rr.Summary.Remote++
	var h uint64
	run.buf, h = hashValues(run.buf, run.r.fields, func(i int) (any, bool) { return it.vals[i], it.present[i] })
	stale := run.mode == ModeResyncForce
	if upd := x.updated(ent); run.mode == ModeResync && upd != 0 && !it.upd.IsZero() {
		stale = upd < it.upd.UnixMilli()
	}
	if h == x.hash(ent) && !stale {
		rr.Summary.InSync++
		return
	}
	if h == x.hash(ent) && run.mode == ModeResyncForce {
		// Equal values, rewritten anyway: no field-by-field comparison,
		// and nothing for the brake to count.
		rr.Summary.InSync++
		run.addRewrite(it, ent)
		return
	}
	run.addCandidate(it, ent)
}

// addCreate plans the create of a listed record no local row has, with the
// fields it has.
func (run *resourceRun) addCreate(it *item) {
	r, t := run.r, run.t
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
	run.creates = append(run.creates, pending{op: localstate.OpCreate, key: it.key, cols: use, vals: vals, changes: true, cond: condAbsent})
}

// addRewrite plans the --force rewrite of an in-sync record: every mapped
// column it has, sharing the column list when it has them all.
func (run *resourceRun) addRewrite(it *item, ent int) {
	r, t := run.r, run.t
	allPresent := true
	for _, ok := range it.present {
		allPresent = allPresent && ok
	}
	cs := 0 // run.forceCols
	var cols []string
	vals := run.forceVals[:0]
	for i := range r.fields {
		if it.present[i] {
			if !allPresent { // auto mapping, a column absent from this object: its own column list
				cols = append(cols, r.fields[i].col)
			}
			vals = append(vals, writeValue(it.vals[i], r.fields[i].mode))
		}
	}
	if t.UpdatedAt != "" && !it.upd.IsZero() {
		if allPresent {
			cs = 1 // run.forceColsUpd
		} else {
			cols = append(cols, t.UpdatedAt)
		}
		vals = append(vals, formatTime(it.upd))
	}
	if !allPresent {
		cs = run.force.colSet(cols)
	}
	run.force.add(it.key, cs, run.index.exact(ent), run.index.updated(ent), run.index.ver(ent), vals) // conditional on the exact values (exactValues)
	clear(vals)
	run.forceVals = vals
}

// addCandidate keeps a differing record for the field-by-field pass: only
// the compared values, not the whole provider object.
func (run *resourceRun) addCandidate(it *item, ent int) {
	r := run.r
	small := providers.Record{ID: it.key, UpdatedAt: it.upd}
	if r.auto {
		small.Data = map[string]any{}
		for i, f := range r.fields {
			if it.present[i] {
				small.Data[f.col] = it.vals[i]
			}
		}
	}
	run.candidates = append(run.candidates, candidate{rec: small, vals: slices.Clone(it.vals), hash: run.index.exact(ent), upd: run.index.updated(ent), ver: run.index.ver(ent)})
	run.rr.cond.listed[it.key] = listedCopy{at: it.at, upd: it.upd}
}

// planCreates turns the new ids into missing_local drift and creates.
func (run *resourceRun) planCreates(ctx context.Context) error {
	r, t, rr := run.r, run.t, run.rr
	// A new id that differs from a local key only in case is one key to a
	// COLLATE NOCASE column (its write would hit the other row): the
	// store's own lookup, which uses the column's collation, decides.
	if err := run.e.caseCollisions(ctx, t, rr, run.index, run.creates); err != nil {
		return err
	}
	// A create writes null into every column whose path no listed record
	// has: what a scoped run (check-user, one record) must also refuse.
	for i, f := range r.fields {
		if run.absent[i] && len(run.creates) > 0 {
			if rr.createNulls == nil {
				rr.createNulls = map[string]int{}
			}
			rr.createNulls[f.col] = len(run.creates)
		}
	}
	for _, c := range run.creates {
		rr.Summary.MissingLocal++
		c.drift = len(run.drift)
		run.drift = append(run.drift, Drift{Resource: t.Resource, ID: c.key, Kind: KindMissingLocal, RemoteStatus: RemotePresent, Action: ActionCreate})
		rr.plan = append(rr.plan, c)
	}
	return nil
}

// planChanged reads the candidates' local rows again and compares them
// field by field.
func (run *resourceRun) planChanged(ctx context.Context) error {
	if len(run.candidates) == 0 {
		return nil
	}
	t := run.t
	byKey := make(map[string]int, len(run.candidates))
	for i, c := range run.candidates {
		byKey[c.rec.ID] = i
	}
	localRows := make(map[string][]any, len(run.candidates))
	if err := run.e.fetchLocal(ctx, t, run.cols, byKey, localRows); err != nil {
		return err
	}
	for _, c := range run.candidates {
		lv, ok := localRows[c.rec.ID]
		if !ok {
			run.vanished(c)
			continue
		}
		run.planCandidate(c, lv)
	}
	return nil
}

// ReasonDeletedSinceScan is the conflict of a drifted record whose local
// row the scan read and planChanged no longer finds.
const ReasonDeletedSinceScan = "the local row was deleted since the scan (by the app?); not written, the next run looks again"

// vanished reports a candidate whose local row was deleted between the scan
// and planChanged's read (the app deleted it while the provider was being
// listed): a conflict of that record alone, nothing planned for it — not a
// failure of the run. A dry run reports it the same way.
func (run *resourceRun) vanished(c candidate) {
	rr := run.rr
	rr.Summary.Changed++
	rr.conflicts++
	rr.Summary.Conflicts = rr.conflicts
	run.drift = append(run.drift, Drift{Resource: run.t.Resource, ID: c.rec.ID, Kind: KindChanged, RemoteStatus: RemotePresent,
		Action: ActionUpdate, Conflict: true, Reason: ReasonDeletedSinceScan})
}

// planCandidate compares one candidate with its local row lv: a difference
// is changed drift, and the update the mode asks for is planned.
func (run *resourceRun) planCandidate(c candidate, lv []any) {
	t, rr := run.t, run.rr
	diffs, dcols, dvals := run.fieldDiffs(c, lv)
	p := run.candidateUpdate(c, lv, dcols, dvals)
	p.changes = len(diffs) > 0
	if len(diffs) == 0 {
		rr.Summary.InSync++
	} else {
		rr.Summary.Changed++
		d := Drift{Resource: t.Resource, ID: c.rec.ID, Kind: KindChanged, RemoteStatus: RemotePresent, Fields: diffs, Action: ActionUpdate}
		if p.op == "" {
			d.Action = ActionNone
			d.Note = "local updated_at is as new as the provider's; resync --force overwrites it"
		}
		p.drift = len(run.drift)
		run.drift = append(run.drift, d)
	}
	if p.op != "" && len(p.cols) > 0 {
		rr.plan = append(rr.plan, p)
		run.rowCheck().was[c.rec.ID] = lv
	}
}

// fieldDiffs compares a candidate's values with its local row's: the
// differing fields, and the columns and values that would fix them. It
// counts the rows a path no listed record has would null.
func (run *resourceRun) fieldDiffs(c candidate, lv []any) (diffs []FieldDiff, dcols []string, dvals []any) {
	r := run.r
	for i, f := range r.fields {
		if r.auto {
			if _, ok := c.rec.Data[f.col]; !ok {
				continue
			}
		}
		if !Equal(lv[i], c.vals[i], f.mode) {
			if run.absent[i] {
				if run.rr.nulling == nil {
					run.rr.nulling = map[string]int{}
				}
				run.rr.nulling[f.col]++
			}
			diffs = append(diffs, FieldDiff{Name: f.col, Path: f.path, Local: DisplayValue(lv[i]), Remote: DisplayValue(c.vals[i])})
			dcols = append(dcols, f.col)
			dvals = append(dvals, writeValue(c.vals[i], f.mode))
		}
	}
	return diffs, dcols, dvals
}

// candidateUpdate is the update the mode plans for a candidate: --force
// every column it has, resync the differing ones unless the local row is as
// new (op ""), diff the differing ones; with updated_at set from the
// provider's.
func (run *resourceRun) candidateUpdate(c candidate, lv []any, dcols []string, dvals []any) pending {
	r, t := run.r, run.t
	p := pending{op: localstate.OpUpdate, key: c.rec.ID, drift: -1, cond: condRow, hash: c.hash, upd: c.upd, ver: c.ver}
	switch run.mode {
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
		if run.updIdx >= 0 {
			localUpd, _ = toInstant(lv[run.updIdx])
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
	return p
}

// planMissing confirms each local record the listing lacked with a
// single-object Get; a confirmed deletion plans the local delete.
func (run *resourceRun) planMissing(ctx context.Context) error {
	t, rr, index := run.t, run.rr, run.index
	var missing []string
	seenAt := map[string]int{}
	for i := range index.len() {
		if !index.isSeen(i) {
			missing = append(missing, index.key(i))
			seenAt[index.key(i)] = i
		}
	}
	sort.Strings(missing)
	statuses, err := run.e.confirm(ctx, t.Resource, missing)
	if err != nil {
		return err
	}
	for i, k := range missing {
		rr.Summary.MissingRemote++
		d := Drift{Resource: t.Resource, ID: k, Kind: KindMissingRemote, RemoteStatus: statuses[i].status, Action: ActionNone, Error: statuses[i].err}
		if d.RemoteStatus == RemoteDeleted {
			d.Action = ActionDelete
			ent := seenAt[k]
			rr.plan = append(rr.plan, pending{op: localstate.OpDelete, key: k, drift: len(run.drift), changes: true, cond: condRow, hash: index.exact(ent), upd: index.updated(ent)})
		}
		run.drift = append(run.drift, d)
	}
	return nil
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
	for i := range index.len() {
		k := index.key(i)
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
		// In batches of keys where the store can (Features.GetMany: WHERE
		// key IN (…)), one Get per key otherwise; in key order, so a
		// batch's rows are near one another in the key's index.
		ks := make([]string, 0, len(keys))
		for k := range keys {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		err := localstate.GetEach(ctx, e.Store, t, cols, ks, func(k string, row localstate.Row) error {
			out[k] = slices.Clone(row.Values)
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading local %s: %w", t.Resource, err)
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

// confirm tells, for each id, deleted from out of scope from forbidden.
// Where the provider's events can say an object is gone (Features.Deletions),
// the deletion events of the retention window settle the ids they name (a
// page of events confirms up to a page of ids); every other id is fetched
// once, with bounded concurrency. A check that fails is "unconfirmed"; a
// rejected key fails the run.
func (e *Engine) confirm(ctx context.Context, resource string, ids []string) ([]confirmation, error) {
	out := make([]confirmation, len(ids))
	gone, err := e.deletedByEvents(ctx, resource, ids)
	if err != nil {
		return nil, fmt.Errorf("confirming missing %s: %w", resource, err)
	}
	rest := ids
	if len(gone) > 0 {
		rest = make([]string, 0, len(ids)-len(gone))
		for _, id := range ids {
			if !gone[id] {
				rest = append(rest, id)
			}
		}
	}
	got, err := e.getMany(ctx, resource, rest)
	if err != nil {
		return nil, fmt.Errorf("confirming missing %s: %w", resource, err)
	}
	for i, j := 0, 0; i < len(ids); i++ {
		if gone[ids[i]] {
			out[i] = confirmation{status: RemoteDeleted}
			continue
		}
		out[i] = got[j].confirmation()
		j++
	}
	return out, nil
}

// minEventConfirm is the fewest missing ids confirmed from the deletion
// events: a page of events' worth. Below it the Gets are few (at most 99
// calls), and each gives the per-object verdict a deletion event cannot:
// an object the key may not read answers 403 (inaccessible, never deleted)
// even when an event says it was deleted. Real providers do not do that to
// a deleted object (Stripe's GET answers deleted: true, WorkOS's 404), but
// the fakes model it, and so above the threshold such an id is reported
// deleted, on the provider's own event.
const minEventConfirm = eventPageSize

// eventPageSize is the page size of the events APIs (Stripe, WorkOS: 100),
// for the budget below.
const eventPageSize = 100

// deletedByEvents returns the ids among ids that the provider's deletion
// events show gone: the latest event of the id in the retention window is a
// deletion (Features.Deletions' gone types). A creation event of the same id
// at or after its deletion outweighs it (an id that came back is settled by
// Get, whatever the order of the two within a second), and so does a
// deletion dated after now (a clock the events cannot be trusted against).
// Reading stops, and every id is left to Get, once more events have come
// than the Gets would cost calls (a busy account's window); a failed read of
// the events is logged and leaves every id to Get, except a rejected key or
// the end of ctx, which fail the run as a Get would.
func (e *Engine) deletedByEvents(ctx context.Context, resource string, ids []string) (map[string]bool, error) {
	f := providers.FeaturesOf(e.Provider)
	if f.Events == nil || f.Deletions == nil || len(ids) < cmp.Or(e.eventConfirmMin, minEventConfirm) {
		return nil, nil
	}
	goneTypes, createdTypes := f.Deletions.DeletionEvents(resource)
	if len(goneTypes) == 0 {
		return nil, nil
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	now := e.now()
	// A minute inside the window, so the provider never refuses a start
	// older than what it keeps.
	since := now.Add(-f.Events.EventRetention() + time.Minute)
	// Per id, its latest deletion and its latest creation.
	type times struct{ gone, created time.Time }
	last := map[string]times{}
	budget := len(ids) * eventPageSize
	seen := 0
	errBudget := errors.New("over budget")
	q := providers.EventQuery{Since: since, Types: append(slices.Clone(goneTypes), createdTypes...)}
	err := f.Events.Events(ctx, q, func(ev providers.Event) error {
		if seen++; seen > budget {
			return errBudget
		}
		if ev.Resource != resource || !want[ev.ObjectID] {
			return nil
		}
		lt := last[ev.ObjectID]
		switch {
		case slices.Contains(goneTypes, ev.Type):
			if ev.Created.After(lt.gone) {
				lt.gone = ev.Created
			}
		case slices.Contains(createdTypes, ev.Type):
			if ev.Created.After(lt.created) {
				lt.created = ev.Created
			}
		default:
			return nil
		}
		last[ev.ObjectID] = lt
		return nil
	})
	if err != nil {
		var auth *providers.AuthError
		if errors.As(err, &auth) || ctx.Err() != nil {
			return nil, err
		}
		e.logger().Debug("deletion events not used; confirming each missing record with a Get",
			"resource", resource, "reason", err.Error())
		return nil, nil
	}
	gone := map[string]bool{}
	for id, lt := range last {
		if !lt.gone.IsZero() && lt.created.Before(lt.gone) && !lt.gone.After(now) {
			gone[id] = true
		}
	}
	return gone, nil
}

// fetched is one single-object read.
type fetched struct {
	rec providers.Record
	st  providers.RemoteStatus
	err error
}

func (g fetched) confirmation() confirmation {
	switch {
	case g.err != nil:
		return confirmation{status: RemoteUnconfirmed, err: g.err.Error()}
	case g.st == providers.StatusDeleted:
		return confirmation{status: RemoteDeleted}
	case g.st == providers.StatusInaccessible:
		return confirmation{status: RemoteInaccessible}
	}
	return confirmation{status: RemoteExists}
}

// getMany reads each id once with the provider's Get, at most
// ConfirmConcurrency at a time: the path of the deletion checks and of
// Reconfirm's re-reads. A rejected key (or the end of ctx) fails them all;
// any other failure is that id's err.
func (e *Engine) getMany(ctx context.Context, resource string, ids []string) ([]fetched, error) {
	out := make([]fetched, len(ids))
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
		wg    sync.WaitGroup
		mu    sync.Mutex
		fatal error
		next  int
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
				rec, st, err := e.Provider.Get(ctx, resource, ids[i])
				if err != nil {
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
				}
				out[i] = fetched{rec: rec, st: st, err: err}
				if e.Progress != nil {
					e.Progress.Confirmed(resource, 1)
				}
			}
		}()
	}
	wg.Wait()
	if fatal != nil {
		return nil, fatal
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

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}
