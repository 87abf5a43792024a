// Conditional writes (issue #15): a change that carries what its plan read
// of the local row is written only if the row still holds it, checked inside
// the apply's transaction with the rows locked until the commit.

package localstate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Expect makes a Change conditional on the local row as the caller read it.
// The store checks it inside the write (the apply's transaction, the rows
// locked until commit; a JSON snapshot under its lock before its atomic
// replace). A change whose condition fails is not written, the rest are;
// the store says why in Conflict.
type Expect struct {
	// Absent (a create): no live row with the change's key may exist; a
	// create that meets one (the app inserted it since the listing) leaves
	// it as it is — unless Match is set and accepts that row (below).
	Absent bool
	// Columns are read from the live row of an update or delete and given
	// to Match, in this order, in the form Scan returns them. A live row
	// must exist. For a create they are read from a live row it meets.
	Columns []string
	// Match says whether the row's current values are what the plan saw:
	// "" when they are, otherwise why not (it becomes the conflict's
	// reason). nil: any live row will do. On a create, Match decides
	// whether a live row it meets may be written over (replay: the row is
	// older than the event); nil: it may not (ReasonInserted).
	Match func(now []any) string
	// Version, when set, is the stored version of the row Match's
	// baseline was read from (Row.Version). A store that knows versions
	// may then skip reading the row back: a row still at Version holds
	// what was read, so Match holds; a row written since is read (locked)
	// and given to Match as without Version. Only an update uses it.
	Version RowVersion
	// FromReads says the condition states what reads of this store
	// (Scan, Get, GetMany since it opened) returned: Absent a key they did
	// not return live, Columns and Match the row they returned. A store
	// that can tell no one has written to the database since it opened
	// (SQLite: data_version on the writer's connection, see
	// sqlStore.pin) then holds the condition without reading the row
	// again; otherwise it is checked as without FromReads.
	FromReads bool

	// Conflict is set by the store: "" when the change was written (or its
	// condition held), otherwise why it was not. Apply clears it first.
	Conflict string
}

// Conflict reasons the store itself gives.
const (
	ReasonInserted = "a row with this key was inserted since the listing"
	ReasonDeleted  = "the local row was deleted since it was read"
)

// conflictChunk is how many keys one locking read names.
const conflictChunk = 500

// rowLocker is a dialect whose reads must lock the rows they return until
// the commit (a server: SELECT … FOR UPDATE). SQLite's BEGIN IMMEDIATE
// already serialises writers, so it has no suffix.
type rowLocker interface {
	lockRows() string
}

// plainInserter is a dialect whose INSERT … DO NOTHING does not say whether
// it inserted (MySQL with CLIENT_FOUND_ROWS counts a duplicate key as a row
// found). A conditional create there inserts plainly after its locking read:
// InnoDB's next-key lock on the absent key keeps others from inserting it
// until the commit (REPEATABLE READ, the default); under READ COMMITTED a
// row the app inserted in between fails the apply on the unique key, loudly,
// instead of being overwritten.
type plainInserter interface {
	plainConditionalInsert() bool
}

// lockSuffix is the dialect's locking clause for the conditional reads, or "".
func lockSuffix(d sqlDialect) string {
	if l, ok := d.(rowLocker); ok {
		return l.lockRows()
	}
	return ""
}

// Condition states of one change in an Apply (writer.cond).
const (
	condNone     byte = iota // unconditional, or its condition held
	condConflict             // not written
	condInsert               // a conditional create that found no row: insert or do nothing
	condVersion              // an update written only while its row is at Expect.Version (versioner)
)

// checkExpect checks every conditional change against its row as it is now
// (locked until the commit where the dialect can), marking in w.cond the
// ones not to write and setting their Expect.Conflict.
func (w *writer) checkExpect(ctx context.Context, tx *sql.Tx, changes []Change) error {
	type group struct {
		p    *plan
		cols []string
		idx  []int // into changes
	}
	var groups []*group
	byShape := map[string]*group{}
	for n := range changes {
		ch := &changes[n]
		if ch.Expect == nil {
			continue
		}
		ch.Expect.Conflict = ""
		if w.cond == nil {
			w.cond = make([]byte, len(changes))
		}
		if w.unchanged && ch.Expect.FromReads {
			// Nothing was written since the reads it came from: the row
			// is as read, so the condition holds (sqlStore.pin).
			continue
		}
		p := w.plans[ch.Table]
		if w.byVersion(p, ch) {
			// Checked in its write (flushVersioned): no read here.
			w.cond[n] = condVersion
			continue
		}
		var cols []string
		if ch.Op != OpCreate || ch.Expect.Match != nil {
			cols = ch.Expect.Columns
		}
		shape := fmt.Sprintf("%d\x00%s", p.id, strings.Join(cols, "\x00"))
		g := byShape[shape]
		if g == nil {
			g = &group{p: p, cols: cols}
			byShape[shape] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, n)
	}
	if len(groups) > 0 && afterCheckHook != nil {
		defer afterCheckHook()
	}
	for _, g := range groups {
		for start := 0; start < len(g.idx); start += conflictChunk {
			part := g.idx[start:min(start+conflictChunk, len(g.idx))]
			keys := make([]string, len(part))
			for j, n := range part {
				keys[j] = changes[n].Key
			}
			rows, err := w.lockedRows(ctx, tx, g.p, g.cols, keys)
			if err != nil {
				return err
			}
			for _, n := range part {
				ch := &changes[n]
				r, found := rows[ch.Key]
				switch {
				case ch.Op == OpCreate:
					if found && r.live {
						if ch.Expect.Match == nil {
							w.conflict(n, ch, ReasonInserted)
						} else if why := ch.Expect.Match(r.values); why != "" {
							w.conflict(n, ch, why)
						}
					} else if !found && ch.Expect.Absent {
						w.cond[n] = condInsert
					}
				case !found || !r.live:
					w.conflict(n, ch, ReasonDeleted)
				case ch.Expect.Match != nil:
					if why := ch.Expect.Match(r.values); why != "" {
						w.conflict(n, ch, why)
					}
				}
			}
		}
	}
	return nil
}

// afterCheckHook, when set (tests), runs once checkExpect has read the
// rows of an Apply's conditional changes and before any is written: where
// a concurrent writer could change a row in between.
var afterCheckHook func()

func (w *writer) conflict(n int, ch *Change, why string) {
	w.cond[n] = condConflict
	ch.Expect.Conflict = why
}

// lockedRow is a row the conditional read found.
type lockedRow struct {
	live   bool
	values []any
}

// lockedRows reads the rows of keys — live or not — with cols, locking
// them where the dialect can.
func (w *writer) lockedRows(ctx context.Context, tx *sql.Tx, p *plan, cols []string, keys []string) (map[string]lockedRow, error) {
	read := cols
	if p.soft >= 0 {
		read = append(append([]string{}, cols...), p.ts.cols[p.soft].name)
	}
	kc := &p.ts.cols[p.key]
	var b strings.Builder
	b.WriteString("SELECT " + w.d.selectExpr(kc))
	for _, c := range read {
		i, ok := p.ts.lookup(c)
		if !ok {
			return nil, p.ts.missing(c, "compared by a conditional write")
		}
		b.WriteString(", " + w.d.selectExpr(&p.ts.cols[i]))
	}
	// A tenant's write sees only its tenant's rows: a row the app moved to
	// another tenant since it was read is, to this tenant, deleted since it
	// was read (a conflict of that record, not a refusal of the run).
	scope := ""
	if p.scope >= 0 {
		scope = " AND " + w.d.quote(p.ts.cols[p.scope].name) + " = ?"
	}
	fmt.Fprintf(&b, " FROM %s WHERE %s IN (?%s)%s%s", p.ts.ref, w.d.quote(kc.name), strings.Repeat(", ?", len(keys)-1), scope, lockSuffix(w.d))
	args := make([]any, len(keys), len(keys)+1)
	for j, k := range keys {
		args[j] = k
	}
	if p.scope >= 0 {
		args = append(args, p.scopeVal)
	}
	st, err := w.prepare(ctx, tx, w.d.rebind(b.String()))
	if err != nil {
		return nil, w.s.explain(err)
	}
	if w.shared == nil {
		defer st.Close()
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, w.s.explain(err)
	}
	defer rows.Close()
	rs := w.s.newRowScanner(p.resolved, read)
	out := make(map[string]lockedRow, len(keys))
	for rows.Next() {
		row, ok, err := rs.scan(rows)
		if err != nil {
			return nil, w.s.explain(err)
		}
		if !ok {
			continue
		}
		live := true
		vals := row.Values
		if p.soft >= 0 {
			live = isLive(vals[len(vals)-1])
			vals = vals[:len(vals)-1]
		}
		if prev, seen := out[row.Key]; seen && prev.live {
			continue // a duplicated key: a live row wins
		}
		out[row.Key] = lockedRow{live: live, values: append([]any(nil), vals...)}
	}
	if err := rows.Err(); err != nil {
		return nil, w.s.explain(err)
	}
	return out, nil
}

// insertOrNothing writes a conditional create that found no row: INSERT …
// DO NOTHING, one row per statement, so a row the app inserted between the
// check and the insert (a server lets it) is detected and left alone.
func (w *writer) insertOrNothing(ctx context.Context, tx *sql.Tx, p *plan, ch *Change) error {
	if err := w.columns(p, *ch); err != nil {
		return err
	}
	if err := w.flush(ctx, tx); err != nil {
		return err
	}
	w.shape('n', p)
	key := w.d.quote(p.ts.cols[p.key].name)
	st, err := w.stmt(ctx, tx, w.key, func() string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "INSERT INTO %s (%s", p.ts.ref, key)
		for _, cv := range w.cols {
			sb.WriteString(", " + w.d.quote(p.ts.cols[cv.i].name))
		}
		sb.WriteString(") VALUES (?" + strings.Repeat(", ?", len(w.cols)) + ")")
		if pi, ok := w.d.(plainInserter); !ok || !pi.plainConditionalInsert() {
			sb.WriteString(w.d.upsertClause(key, nil))
		}
		return sb.String()
	})
	if err != nil {
		if w.d.badConflictTarget(err) {
			p.upsert = false
			return w.create(ctx, tx, p, *ch, true)
		}
		return w.fail(p, *ch, err)
	}
	w.args = append(w.args[:0], ch.Key)
	if w.args, err = w.bind(p, w.args); err != nil {
		return w.fail(p, *ch, err)
	}
	res, err := st.ExecContext(ctx, w.args...)
	if err != nil {
		return w.fail(p, *ch, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		ch.Expect.Conflict = ReasonInserted
	}
	return nil
}

// checkJSON is checkExpect for a JSON snapshot's change against its draft
// (under the store's lock): false when the change must not be written.
func checkJSON(d *draft, t *Table, ch *Change) bool {
	e := ch.Expect
	if e == nil {
		return true
	}
	e.Conflict = ""
	i, exists := d.idx[ch.Key]
	live := exists && (t.SoftDelete == "" || isLive(d.recs[i][t.SoftDelete]))
	switch {
	case ch.Op == OpCreate:
		if live && e.Match == nil {
			e.Conflict = ReasonInserted
		} else if live {
			now := make([]any, len(e.Columns))
			for j, c := range e.Columns {
				now[j] = d.recs[i][c]
			}
			e.Conflict = e.Match(now)
		}
	case !live:
		e.Conflict = ReasonDeleted
	case e.Match != nil:
		now := make([]any, len(e.Columns))
		for j, c := range e.Columns {
			now[j] = d.recs[i][c]
		}
		e.Conflict = e.Match(now)
	}
	return e.Conflict == ""
}

// condOf is change n's conditional state.
func (w *writer) condOf(n int) byte {
	if w.cond == nil {
		return condNone
	}
	return w.cond[n]
}
