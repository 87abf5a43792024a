package reconcile

// The provider snapshot behind `diff --incremental` (issue #18): per
// (provider, tenant, resource) the projected values of every record the
// provider has — what the comparison reads of it, nothing else — kept in the
// journal (journal/snapshot.go) with the events cursor taken before the
// listing that made it. A later run rolls it forward from the events since
// the cursor and compares it, as the provider side, with a full scan of the
// local side (incremental.go).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/reconctl/reconctl/providers"
)

// SnapshotKey names one snapshot.
type SnapshotKey struct {
	Provider, Tenant, Resource string
}

// SnapshotMeta is a snapshot's header.
type SnapshotMeta struct {
	// Fingerprint is the mapping the values were projected with
	// (Resource.Fingerprint): another mapping cannot reuse them.
	Fingerprint string
	// Cursor is when the events to apply next begin: taken before the
	// listing (or the events read) that the snapshot reflects.
	Cursor time.Time
	// FullAt is when the last full listing began.
	FullAt time.Time
	// Rows counts the stored rows (tombstones included).
	Rows int
}

// SnapshotRow is one stored record: Values is its projected values as
// encodeValues wrote them (opaque to the journal).
type SnapshotRow struct {
	ID     string
	Values []byte
	// UpdatedAt is the provider's updated_at (unix ns), 0 when unknown.
	UpdatedAt int64
	// EventAt is when the values were last known true (unix ns): the
	// Created of the last event applied to the record, or when a live read
	// or the listing saw it; an older event never overwrites it.
	EventAt int64
	// Deleted marks a tombstone: the record is gone, kept only so that an
	// older event arriving late cannot bring it back.
	Deleted bool
}

// SnapshotEvent is an event already applied (deduplicated by id inside the
// overlap window).
type SnapshotEvent struct {
	ID      string
	Created int64 // unix ns
}

// SnapshotSave is one transactional write of a snapshot: the old snapshot
// or the new one, never half.
type SnapshotSave struct {
	Meta SnapshotMeta
	// Full replaces every row with Rows; otherwise Rows are upserted (the
	// changed ones) and Remove deleted.
	Full   bool
	Rows   []SnapshotRow
	Remove []string
	// Events replaces the applied event ids.
	Events []SnapshotEvent
}

// SnapshotStore keeps snapshots (the journal implements it).
type SnapshotStore interface {
	SnapshotMeta(ctx context.Context, k SnapshotKey) (SnapshotMeta, bool, error)
	// SnapshotRows streams the snapshot's rows, by id.
	SnapshotRows(ctx context.Context, k SnapshotKey, fn func(SnapshotRow) error) error
	SnapshotEvents(ctx context.Context, k SnapshotKey) ([]SnapshotEvent, error)
	SaveSnapshot(ctx context.Context, k SnapshotKey, s SnapshotSave) error
}

// Fingerprint hashes what the snapshot's values depend on: the resource,
// each compared column's provider path and compare mode, and whether the
// mapping is automatic.
func (r *Resource) Fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "v1\x00%s\x00auto=%t\x00", r.Table.Resource, r.auto)
	for _, f := range r.fields {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", f.col, f.path, f.mode)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// encodeValues encodes one record's projected values: a version byte, the
// count and indexes of the fields whose path the record lacks (uvarints),
// then the values as one JSON array (null where absent). json.Marshal sorts
// map keys, so equal values encode to equal bytes.
func encodeValues(vals []any, found []bool) ([]byte, error) {
	buf := []byte{1}
	n := 0
	for _, f := range found {
		if !f {
			n++
		}
	}
	buf = binary.AppendUvarint(buf, uint64(n))
	for i, f := range found {
		if !f {
			buf = binary.AppendUvarint(buf, uint64(i))
		}
	}
	clean := make([]any, len(vals))
	for i := range vals {
		if found[i] {
			clean[i] = vals[i]
		}
	}
	b, err := json.Marshal(clean)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// decodeValues is encodeValues' inverse, into vals and found (of the
// fields' count); numbers come back as json.Number, as providers give them.
func decodeValues(b []byte, vals []any, found []bool) error {
	if len(b) == 0 || b[0] != 1 {
		return errors.New("snapshot row: unknown encoding")
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return errors.New("snapshot row: bad header")
	}
	b = b[k:]
	for i := range found {
		found[i] = true
	}
	for range n {
		i, k := binary.Uvarint(b)
		if k <= 0 || int(i) >= len(found) {
			return errors.New("snapshot row: bad header")
		}
		found[i] = false
		b = b[k:]
	}
	if decodeFlat(b, vals) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out []any
	if err := dec.Decode(&out); err != nil {
		return fmt.Errorf("snapshot row: %w", err)
	}
	if len(out) != len(vals) {
		return fmt.Errorf("snapshot row: %d values for %d fields", len(out), len(vals))
	}
	copy(vals, out)
	return nil
}

// decodeFlat decodes b, a JSON array of len(vals) scalars as json.Marshal
// writes them (no whitespace), into vals exactly as encoding/json with
// UseNumber would: null, booleans, json.Number, strings. It reports false,
// having decoded nothing for sure, on anything else (an object, an array, a
// string with an escape, a count that differs), which decodeValues then
// hands to encoding/json.
func decodeFlat(b []byte, vals []any) bool {
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return false
	}
	b = b[1 : len(b)-1]
	n := 0
	for len(b) > 0 || n == 0 && len(vals) > 0 {
		if n > 0 {
			if b[0] != ',' {
				return false
			}
			b = b[1:]
		}
		if n >= len(vals) || len(b) == 0 {
			return false
		}
		var v any
		var k int
		switch c := b[0]; {
		case c == 'n' && bytes.HasPrefix(b, []byte("null")):
			v, k = nil, 4
		case c == 't' && bytes.HasPrefix(b, []byte("true")):
			v, k = true, 4
		case c == 'f' && bytes.HasPrefix(b, []byte("false")):
			v, k = false, 5
		case c == '"':
			k = 1
			for k < len(b) && b[k] != '"' {
				if b[k] == '\\' || b[k] < ' ' {
					return false
				}
				k++
			}
			if k == len(b) || !utf8.Valid(b[1:k]) {
				return false
			}
			v = string(b[1:k])
			k++
		case c == '-' || c >= '0' && c <= '9':
			k = numberLen(b)
			if k == 0 {
				return false
			}
			v = json.Number(b[:k])
		default:
			return false
		}
		b = b[k:]
		if len(b) > 0 && b[0] != ',' {
			return false
		}
		vals[n] = v
		n++
	}
	return n == len(vals)
}

// numberLen is the length of the JSON number b begins with (0: none).
func numberLen(b []byte) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - j
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return 0
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return 0
		}
	}
	return i
}

// snapRec is one record of a snapshot in memory.
type snapRec struct {
	vals    []byte
	upd     int64
	eventAt int64
	deleted bool
}

// snapBaseRow is one record of the snapshot as loaded: its id and values
// are arena[off:idEnd] and arena[idEnd:end]. Pointer-free, so that the
// collector never scans a million of them.
type snapBaseRow struct {
	off, idEnd, end int
	upd, eventAt    int64
	deleted         bool
}

// snapState is a snapshot in memory, rolled forward by a run: the rows as
// loaded (base, sorted by id, in one arena) under the records this run set
// (dirty, few).
type snapState struct {
	key     SnapshotKey
	meta    SnapshotMeta
	arena   []byte
	base    []snapBaseRow
	dirty   map[string]snapRec
	added   int // dirty ids the base does not have
	applied map[string]int64
	hasUpd  bool // some record has the provider's updated_at
}

func newSnapState(k SnapshotKey, meta SnapshotMeta) *snapState {
	return &snapState{key: k, meta: meta, base: make([]snapBaseRow, 0, meta.Rows), dirty: map[string]snapRec{}, applied: map[string]int64{}}
}

// load appends one stored row to the base (before any set; sortBase then
// orders them).
func (s *snapState) load(row SnapshotRow) {
	off := len(s.arena)
	s.arena = append(s.arena, row.ID...)
	idEnd := len(s.arena)
	s.arena = append(s.arena, row.Values...)
	s.base = append(s.base, snapBaseRow{off: off, idEnd: idEnd, end: len(s.arena), upd: row.UpdatedAt, eventAt: row.EventAt, deleted: row.Deleted})
	if row.UpdatedAt != 0 {
		s.hasUpd = true
	}
}

// baseID is base row i's id, without a copy.
func (s *snapState) baseID(i int) []byte {
	r := &s.base[i]
	return s.arena[r.off:r.idEnd]
}

// baseIDString is base row i's id as a string sharing the arena's bytes:
// the arena is never written after the load, so the string never changes.
func (s *snapState) baseIDString(i int) string {
	r := &s.base[i]
	if r.idEnd == r.off {
		return ""
	}
	return unsafe.String(&s.arena[r.off], r.idEnd-r.off)
}

// sortBase orders the base by id (bytewise, as Go compares strings): the
// store's ORDER BY follows its collation, which may differ.
func (s *snapState) sortBase() {
	cmp := func(a, b snapBaseRow) int {
		return bytes.Compare(s.arena[a.off:a.idEnd], s.arena[b.off:b.idEnd])
	}
	if !slices.IsSortedFunc(s.base, cmp) {
		slices.SortStableFunc(s.base, cmp)
	}
}

// find is id's index in the base, -1 when it has none.
func (s *snapState) find(id string) int {
	i, ok := slices.BinarySearchFunc(s.base, id, func(r snapBaseRow, id string) int {
		return bytes.Compare(s.arena[r.off:r.idEnd], unsafeBytes(id))
	})
	if !ok {
		return -1
	}
	return i
}

// unsafeBytes views s as bytes, read only.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func (s *snapState) baseRec(i int) snapRec {
	r := &s.base[i]
	return snapRec{vals: s.arena[r.idEnd:r.end:r.end], upd: r.upd, eventAt: r.eventAt, deleted: r.deleted}
}

// get is id's record: what this run set, or else what was loaded.
func (s *snapState) get(id string) (snapRec, bool) {
	if r, ok := s.dirty[id]; ok {
		return r, true
	}
	if i := s.find(id); i >= 0 {
		return s.baseRec(i), true
	}
	return snapRec{}, false
}

// set replaces id's record and marks it for the save.
func (s *snapState) set(id string, rec snapRec) {
	if _, ok := s.dirty[id]; !ok && s.find(id) < 0 {
		s.added++
	}
	s.dirty[id] = rec
	if rec.upd != 0 {
		s.hasUpd = true
	}
}

// count is how many records (tombstones included) the snapshot holds.
func (s *snapState) count() int { return len(s.base) + s.added }

// each calls fn with every record, by id; fn must not keep rec.vals
// beyond the call unless it copies them.
func (s *snapState) each(fn func(id string, rec snapRec) error) error {
	extra := make([]string, 0, len(s.dirty))
	for id := range s.dirty {
		extra = append(extra, id)
	}
	slices.Sort(extra)
	j := 0
	for i := range s.base {
		bid := s.baseID(i)
		for j < len(extra) && bytes.Compare(unsafeBytes(extra[j]), bid) < 0 {
			if err := fn(extra[j], s.dirty[extra[j]]); err != nil {
				return err
			}
			j++
		}
		if j < len(extra) && string(bid) == extra[j] {
			if err := fn(extra[j], s.dirty[extra[j]]); err != nil {
				return err
			}
			j++
			continue
		}
		if err := fn(s.baseIDString(i), s.baseRec(i)); err != nil {
			return err
		}
	}
	for ; j < len(extra); j++ {
		if err := fn(extra[j], s.dirty[extra[j]]); err != nil {
			return err
		}
	}
	return nil
}

// projectedLister is a provider side that gives each record's compared
// values directly (the snapshot): listRemote reads it instead of looking
// the mapped paths up in a decoded object.
type projectedLister interface {
	listProjected(ctx context.Context, resource string, fn func(id string, upd time.Time, get func(i int) (any, bool)) error) error
}

// snapshotSide is the provider side of an incremental comparison: it lists
// the snapshot and reads single objects from the live provider (the
// confirmations of every suspect), keeping what each live read found so
// that the snapshot learns it too.
type snapshotSide struct {
	live   providers.Provider
	snap   *snapState
	fields []field

	mu    sync.Mutex
	reads map[string]fetched // live Gets of this run, by id
}

var _ projectedLister = (*snapshotSide)(nil)

func (s *snapshotSide) Name() string               { return s.live.Name() }
func (s *snapshotSide) DefaultResources() []string { return s.live.DefaultResources() }

// Features keeps the live provider's events and deletion events (the
// engine confirms missing_remote records from them) and nothing else.
func (s *snapshotSide) Features() providers.Features {
	f := providers.FeaturesOf(s.live)
	return f.Mask(providers.Features{Events: f.Events, Deletions: f.Deletions})
}

func (s *snapshotSide) listProjected(ctx context.Context, resource string, fn func(id string, upd time.Time, get func(i int) (any, bool)) error) error {
	if resource != s.snap.key.Resource {
		return fmt.Errorf("snapshot of %s has no resource %q", s.snap.key.Resource, resource)
	}
	vals := make([]any, len(s.fields))
	found := make([]bool, len(s.fields))
	get := func(i int) (any, bool) { return vals[i], found[i] }
	n := 0
	return s.snap.each(func(id string, rec snapRec) error {
		if rec.deleted {
			return nil
		}
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := decodeValues(rec.vals, vals, found); err != nil {
			return fmt.Errorf("snapshot of %s, record %s: %w", resource, id, err)
		}
		var upd time.Time
		if rec.upd != 0 {
			upd = time.Unix(0, rec.upd).UTC()
		}
		return fn(id, upd, get)
	})
}

// List serves the snapshot as provider records holding the mapped paths.
func (s *snapshotSide) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	return s.listProjected(ctx, resource, func(id string, upd time.Time, get func(int) (any, bool)) error {
		data := map[string]any{}
		for i, f := range s.fields {
			if v, ok := get(i); ok {
				setPath(data, f.segs, v)
			}
		}
		return fn(providers.Record{ID: id, UpdatedAt: upd, Data: data})
	})
}

// setPath sets v at segs in data, making the objects on the way (a
// numeric segment is an object key here: snapshots list through
// listProjected, which needs no object).
func setPath(data map[string]any, segs []string, v any) {
	cur := data
	for _, s := range segs[:len(segs)-1] {
		next, ok := cur[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[s] = next
		}
		cur = next
	}
	cur[segs[len(segs)-1]] = v
}

// Get reads the live provider (once per id and run) and remembers what it found.
func (s *snapshotSide) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	s.mu.Lock()
	g, ok := s.reads[id]
	s.mu.Unlock()
	if ok {
		return g.rec, g.st, g.err
	}
	rec, st, err := s.live.Get(ctx, resource, id)
	var auth *providers.AuthError
	if errors.As(err, &auth) || ctx.Err() != nil {
		return rec, st, err // fails the run: nothing to remember
	}
	if rec.Data != nil {
		rec.Data = cloneData(rec.Data)
	}
	s.mu.Lock()
	s.reads[id] = fetched{rec: rec, st: st, err: err}
	s.mu.Unlock()
	return rec, st, err
}

// cloneData copies a record's top level (a provider may reuse its map).
func cloneData(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// project is a record's projected values, encoded.
func project(fields []field, data map[string]any) ([]byte, error) {
	vals := make([]any, len(fields))
	found := make([]bool, len(fields))
	for i, f := range fields {
		vals[i], found[i] = Lookup(data, f.segs)
	}
	return encodeValues(vals, found)
}

// absorb writes the live reads of this run into the snapshot, as of at,
// and reports whether any of them differed from what the snapshot held.
func (s *snapshotSide) absorb(at int64) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.reads))
	for id := range s.reads {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		g := s.reads[id]
		cur, has := s.snap.get(id)
		switch {
		case g.err != nil || g.st == providers.StatusInaccessible:
			continue // nothing learnt
		case g.st == providers.StatusDeleted:
			if has && !cur.deleted {
				changed = true
			}
			if !has || !cur.deleted {
				s.snap.set(id, snapRec{deleted: true, eventAt: max(at, cur.eventAt)})
			}
		case !has:
			// A record the snapshot never held (no listing or event put it
			// there) that a live read finds: the listing does not return it
			// (out of the key's scope, another directory), which a full
			// diff reports as missing_remote "exists". Only listings and
			// events add records; the comparison keeps that verdict.
			continue
		default:
			b, err := project(s.fields, g.rec.Data)
			if err != nil {
				return changed, fmt.Errorf("snapshot of %s, record %s: %w", s.snap.key.Resource, id, err)
			}
			upd := int64(0)
			if !g.rec.UpdatedAt.IsZero() {
				upd = g.rec.UpdatedAt.UnixNano()
			}
			if !has || cur.deleted || !bytes.Equal(cur.vals, b) || cur.upd != upd {
				changed = true
			}
			s.snap.set(id, snapRec{vals: b, upd: upd, eventAt: max(at, cur.eventAt)})
		}
	}
	return changed, nil
}

// keyString is k for messages.
func (k SnapshotKey) String() string {
	return strings.Trim(k.Provider+"/"+k.Tenant+"/"+k.Resource, "/")
}

// hasDirty says whether this run set id.
func (s *snapState) hasDirty(id string) bool {
	_, ok := s.dirty[id]
	return ok
}
