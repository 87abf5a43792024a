// The batch writer of a SQL state: one Apply's changes as batched,
// prepared statements inside a transaction.

package localstate

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// plan is one table's write settings for one Apply.
type plan struct {
	*resolved
	id       int
	t        *Table
	required []int // NOT NULL columns without a default that a create must write
	upsert   bool  // the key has a unique index: creates are INSERT ... ON CONFLICT
	// plainInsert: creates insert plainly even so (see upsertAnyIndex).
	plainInsert bool
	existing    map[string]struct{}
	formats     map[int]timeFormat // of the time columns (timeCols)
}

type colValue struct {
	i    int
	name string // as given in Change.Values
	v    any
}

// writer carries one Apply: the plans, the statements prepared in its
// transaction, and buffers reused from change to change.
type writer struct {
	s     *sqlStore
	d     sqlDialect
	q     querier // reads the schema's samples: the Apply's tx, or the database
	plans map[*Table]*plan
	now   time.Time
	stmts map[string]*sql.Stmt
	// shared, when set, holds the statements of the whole transaction by
	// their text: later Applies in it (the engine's chunks) reuse them
	// instead of preparing them again; they close with the transaction.
	shared map[string]*sql.Stmt
	key    []byte // the shape of the change at hand
	bkey   []byte // the shape of the batch's statement
	cols   []colValue
	args   []any
	batch  batch
	// arrayArgs: the batch's columns as arrays (an arrayWriter's), reused.
	arrayArgs []any
	// maxRows and maxParams bound one batch statement (maxBatchRows and
	// maxBatchParams unless the dialect is a batchSizer).
	maxRows, maxParams int

	// The previous change's columns: consecutive changes usually carry the
	// same ones, which then need no sorting.
	prevPlan *plan
	prevCols []colValue

	// unchanged: the transaction began with nothing committed to the
	// database since the store opened (sqlStore.pin), so the conditions
	// of changes derived from the store's reads (Expect.FromReads) hold
	// without reading their rows again.
	unchanged bool
	// cond is, per change, its conditional state (conditional.go); nil
	// when no change is conditional.
	cond []byte
	// The versioned batch's version arrays and arguments, reused.
	verLoc, verXact []string
	verArgs         []any
}

// batch collects consecutive inserts, or updates by a unique key, of one
// shape into one statement: a multi-row INSERT, or an UPDATE ... FROM
// (VALUES ...). One statement per maxBatchRows rows writes about twice as
// fast as one per row.
type batch struct {
	op     byte // 'c' insert, 'u' update, 'd' delete (keys only)
	p      *plan
	shape  string
	cols   []colValue // columns only (values are in args)
	revive bool
	rows   int
	args   []any // per row: key, then the values of cols
	keys   []string
	seen   map[string]struct{} // keys of an update batch: one UPDATE must not name a row twice
	// versioned: an update batch checked by version (shape 'v',
	// conditional_version.go); vers and exps are its rows' Expect.Version
	// and Expect.
	versioned bool
	vers      []RowVersion
	exps      []*Expect
}

const (
	maxBatchRows   = 128
	maxBatchParams = 30000 // below SQLite's 32766 bound parameters
)

// newWriter checks every change against the schema before anything is
// written, so a bad batch fails without touching the database.
func (s *sqlStore) newWriter(ctx context.Context, q querier, changes []Change) (*writer, error) {
	w := &writer{s: s, d: s.d, q: q, plans: map[*Table]*plan{}, now: time.Now().UTC(), stmts: map[string]*sql.Stmt{},
		maxRows: s.d.batchRows(), maxParams: maxBatchParams}
	if bs, ok := s.d.(batchSizer); ok {
		w.maxRows, w.maxParams = bs.batchLimits()
	}
	for _, ch := range changes {
		p, err := w.plan(ctx, ch.Table)
		if err != nil {
			return nil, err
		}
		if ch.Key == "" {
			return nil, fmt.Errorf("%s %s: the change has no key", ch.Op, ch.Table.Resource)
		}
		switch ch.Op {
		case OpCreate, OpUpdate:
			if err := w.columns(p, ch); err != nil {
				return nil, err
			}
			for _, cv := range w.cols {
				if c := &p.ts.cols[cv.i]; cv.v == nil && c.notNull {
					return nil, fmt.Errorf("%s %s %s: column %q of table %q is NOT NULL but the provider has no value for it; map another field or relax the column",
						ch.Op, ch.Table.Resource, ch.Key, c.name, p.ts.name)
				}
			}
			if ch.Op == OpCreate {
			next:
				for _, req := range p.required {
					for _, cv := range w.cols {
						if cv.i == req {
							continue next
						}
					}
					return nil, fmt.Errorf("cannot create %s %s: column %q of table %q is NOT NULL without a default and reconctl does not write it; map it under resources.%s.fields in reconctl.yaml or give the column a default",
						ch.Table.Resource, ch.Key, p.ts.cols[req].name, p.ts.name, ch.Table.Resource)
				}
			}
		case OpDelete:
		default:
			return nil, fmt.Errorf("%s %s: unknown change %q", ch.Table.Resource, ch.Key, ch.Op)
		}
	}
	return w, nil
}

func (w *writer) plan(ctx context.Context, t *Table) (*plan, error) {
	if p, ok := w.plans[t]; ok {
		return p, nil
	}
	r, err := w.s.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	if r.ts.noWrite != "" {
		return nil, errors.New(r.ts.noWrite)
	}
	p := &plan{resolved: r, id: len(w.plans), t: t, upsert: r.ts.unique[r.key], plainInsert: r.ts.upsertAnyIndex, formats: map[int]timeFormat{}}
	for i := range r.timeCols {
		tf, err := w.s.timeFormat(ctx, w.q, r.ts, i)
		if err != nil {
			return nil, err
		}
		p.formats[i] = tf
	}
	for i, c := range r.ts.cols {
		if c.notNull && !c.hasDefault && !c.generated && i != r.key && i != r.ts.rowidCol {
			p.required = append(p.required, i)
		}
	}
	w.plans[t] = p
	return p, nil
}

// columns resolves ch.Values into w.cols, sorted by column position so that
// equal column sets share one prepared statement. The key column is written
// from ch.Key, never from Values.
func (w *writer) columns(p *plan, ch Change) error {
	w.cols = w.cols[:0]
	if p == w.prevPlan && len(ch.Values) == len(w.prevCols) {
		same := true
		for _, c := range w.prevCols {
			v, ok := ch.Values[c.name]
			if !ok {
				same = false
				break
			}
			w.cols = append(w.cols, colValue{c.i, c.name, v})
		}
		if same {
			return nil
		}
		w.cols = w.cols[:0]
	}
	for name, v := range ch.Values {
		i, ok := p.ts.lookup(name)
		if !ok {
			return p.ts.missing(name, fmt.Sprintf("a value of %s %s", ch.Table.Resource, ch.Key))
		}
		if i == p.key {
			continue
		}
		w.cols = append(w.cols, colValue{i, name, v})
	}
	slices.SortFunc(w.cols, func(a, b colValue) int { return a.i - b.i })
	for j := 1; j < len(w.cols); j++ {
		if w.cols[j].i == w.cols[j-1].i {
			return fmt.Errorf("%s %s: column %q is given twice (names differ only in case)", ch.Table.Resource, ch.Key, p.ts.cols[w.cols[j].i].name)
		}
	}
	w.prevPlan = p
	w.prevCols = append(w.prevCols[:0], w.cols...)
	for j := range w.prevCols {
		w.prevCols[j].v = nil
	}
	return nil
}

func (w *writer) run(ctx context.Context, tx *sql.Tx, changes []Change) error {
	defer func() {
		if w.shared != nil {
			return // the transaction's, closed with it
		}
		for _, st := range w.stmts {
			st.Close()
		}
	}()
	// Statements run with a context that is never cancelled: with a
	// cancellable one the driver starts a watcher goroutine per statement,
	// which halves the write rate. Cancellation is checked here instead, and
	// database/sql rolls the transaction back when ctx ends.
	xctx := context.WithoutCancel(ctx)
	if err := w.checkScope(xctx, tx, changes); err != nil {
		return err
	}
	if err := w.checkExpect(xctx, tx, changes); err != nil {
		return err
	}
	for n, ch := range changes {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		p := w.plans[ch.Table]
		var err error
		switch c := w.condOf(n); {
		case c == condConflict:
			continue // not written: its Expect says why
		case c == condInsert && p.upsert:
			err = w.insertOrNothing(xctx, tx, p, &changes[n])
		case c == condVersion:
			err = w.updateByVersion(xctx, tx, p, &changes[n])
		case ch.Op == OpCreate:
			err = w.create(xctx, tx, p, ch, c == condInsert)
		case ch.Op == OpUpdate:
			err = w.update(xctx, tx, p, ch)
		case ch.Op == OpDelete:
			err = w.delete(xctx, tx, p, ch)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
	if err := w.flush(xctx, tx); err != nil {
		return err
	}
	return ctx.Err()
}

// stmt returns the statement for the shape in key, preparing it with
// build() the first time.
func (w *writer) stmt(ctx context.Context, tx *sql.Tx, key []byte, build func() string) (*sql.Stmt, error) {
	if st, ok := w.stmts[string(key)]; ok {
		return st, nil
	}
	st, err := w.prepare(ctx, tx, w.d.rebind(build()))
	if err != nil {
		return nil, err
	}
	w.stmts[string(key)] = st
	return st, nil
}

// prepare is q prepared in tx: the transaction's statement when an earlier
// Apply in it prepared q already.
func (w *writer) prepare(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st, ok := w.shared[q]; ok {
		return st, nil
	}
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if w.shared != nil {
		w.shared[q] = st
	}
	return st, nil
}

func (w *writer) shape(op byte, p *plan) {
	w.key = append(w.key[:0], op)
	w.key = binary.AppendUvarint(w.key, uint64(p.id))
	for _, cv := range w.cols {
		w.key = binary.AppendUvarint(w.key, uint64(cv.i))
	}
}

// bind appends the values in w.cols, converted, to args.
func (w *writer) bind(p *plan, args []any) ([]any, error) {
	for _, cv := range w.cols {
		c := &p.ts.cols[cv.i]
		tf, asTime := p.formats[cv.i]
		v, err := w.d.value(c, cv.v, asTime, tf)
		if err != nil {
			return args, fmt.Errorf("column %q: %w", c.name, err)
		}
		args = append(args, v)
	}
	return args, nil
}

// liveValue is what reviving a row writes into the soft-delete column.
func (p *plan) liveValue() string { return p.d.liveValue(&p.ts.cols[p.soft]) }

// softWritten reports whether the change's own values set the soft-delete column.
func (w *writer) softWritten(p *plan) bool {
	for _, cv := range w.cols {
		if cv.i == p.soft {
			return true
		}
	}
	return false
}

func (w *writer) fail(p *plan, ch Change, err error) error {
	return fmt.Errorf("%s %s %s (table %q): %w", ch.Op, ch.Table.Resource, ch.Key, p.ts.name, w.s.explain(err))
}

// create writes the record whether or not a row with its key exists: a
// soft-deleted row is revived, a live one (written by someone else since the
// plan was made) gets the provider's values. The key never ends up twice.
// absent: a conditional create whose check found no row with the key (a
// row found now was inserted since: a conflict, not written over).
func (w *writer) create(ctx context.Context, tx *sql.Tx, p *plan, ch Change, absent bool) error {
	if err := w.columns(p, ch); err != nil {
		return err
	}
	revive := p.soft >= 0 && !w.softWritten(p)
	if !p.upsert || p.plainInsert {
		if p.existing == nil {
			if err := w.flush(ctx, tx); err != nil {
				return err
			}
			if err := w.loadKeys(ctx, tx, p); err != nil {
				return w.fail(p, ch, err)
			}
		}
		if _, ok := p.existing[ch.Key]; ok {
			if absent && ch.Expect != nil {
				ch.Expect.Conflict = ReasonInserted
				return nil
			}
			return w.reviveOrUpdate(ctx, tx, p, ch, revive)
		}
		p.existing[ch.Key] = struct{}{}
	}
	w.shape('c', p)
	return w.add(ctx, tx, 'c', p, ch, revive)
}

// add appends ch (its values in w.cols, its shape in w.key) to the batch,
// writing the batch first if it holds another shape.
func (w *writer) add(ctx context.Context, tx *sql.Tx, op byte, p *plan, ch Change, revive bool) error {
	b := &w.batch
	if b.rows > 0 && b.shape != string(w.key) {
		if err := w.flush(ctx, tx); err != nil {
			return err
		}
	}
	if op != 'c' {
		if _, dup := b.seen[ch.Key]; dup {
			if err := w.flush(ctx, tx); err != nil {
				return err
			}
		}
	}
	if b.rows == 0 {
		b.op, b.p, b.shape, b.revive = op, p, string(w.key), revive
		b.versioned = w.key[0] == 'v'
		b.cols = append(b.cols[:0], w.cols...)
		b.args, b.keys = b.args[:0], b.keys[:0]
		b.vers, b.exps = b.vers[:0], b.exps[:0]
		if b.seen == nil {
			b.seen = map[string]struct{}{}
		}
		clear(b.seen)
	}
	b.args = append(b.args, ch.Key)
	var err error
	if b.args, err = w.bind(p, b.args); err != nil {
		return w.fail(p, ch, err)
	}
	b.keys = append(b.keys, ch.Key)
	if b.versioned {
		b.vers = append(b.vers, ch.Expect.Version)
		b.exps = append(b.exps, ch.Expect)
	}
	if op != 'c' {
		b.seen[ch.Key] = struct{}{}
	}
	b.rows++
	if b.rows >= w.maxRows || (b.rows+1)*(len(b.cols)+1) > w.maxParams {
		return w.flush(ctx, tx)
	}
	return nil
}

// flush writes the pending batch. If the statement fails, or an update
// batch misses a row, the rows are tried one by one so that the error names
// the record at fault (SQLite undoes the failed statement, and the caller
// rolls back the transaction).
func (w *writer) flush(ctx context.Context, tx *sql.Tx) error {
	b := &w.batch
	if b.rows == 0 {
		return nil
	}
	defer func() { b.rows = 0 }()
	if b.op == 'd' {
		return w.flushDeletes(ctx, tx)
	}
	if b.versioned {
		return w.flushVersioned(ctx, tx)
	}
	width := len(b.cols) + 1
	st, args, err := w.batchExec(ctx, tx)
	if err == nil {
		var res sql.Result
		if res, err = st.ExecContext(ctx, args...); err == nil {
			if b.op == 'c' {
				return nil
			}
			if n, err := res.RowsAffected(); err == nil && n == int64(b.rows) {
				return nil
			}
		}
	}
	batchErr := err
	if batchErr != nil && w.d.txAbortsOnError(batchErr) {
		key := b.keys[0]
		if b.rows > 1 {
			key = fmt.Sprintf("(one of the %d batched from %s to %s)", b.rows, b.keys[0], b.keys[b.rows-1])
		}
		return w.fail(b.p, Change{Table: b.p.t, Op: b.changeOp(), Key: key}, batchErr)
	}
	one, err := w.batchStmt(ctx, tx, 1)
	if err != nil {
		return w.fail(b.p, Change{Table: b.p.t, Op: b.changeOp(), Key: b.keys[0]}, err)
	}
	for r := range b.rows {
		ch := Change{Table: b.p.t, Op: b.changeOp(), Key: b.keys[r]}
		res, err := one.ExecContext(ctx, b.args[r*width:(r+1)*width]...)
		if err != nil {
			return w.fail(b.p, ch, err)
		}
		if n, err := res.RowsAffected(); b.op == 'u' && err == nil && n == 0 {
			return w.gone(b.p, ch)
		}
	}
	if batchErr == nil {
		batchErr = errors.New("the batch wrote fewer rows than it holds")
	}
	return w.fail(b.p, Change{Table: b.p.t, Op: b.changeOp(), Key: b.keys[0]}, batchErr)
}

func (b *batch) changeOp() Op {
	switch b.op {
	case 'u':
		return OpUpdate
	case 'd':
		return OpDelete
	}
	return OpCreate
}

// arrayWriter is a dialect that writes an update batch from one array
// parameter per column (Postgres: UPDATE ... FROM unnest(...)), one
// statement for any row count, instead of a parameter per value.
type arrayWriter interface {
	// updateArrays is the statement; its parameters are what arrays gives.
	updateArrays(table, key string, cols []string, types []*column, live string) string
	// arrays turns the batch's rows (args: key, values... per row) into one
	// parameter per column, reusing buf; ok false if a value has no faithful
	// array form (the batch then takes the VALUES statement).
	arrays(types []*column, args []any, rows int, buf []any) (out []any, ok bool)
}

// batchExec is the batch's statement and its arguments.
func (w *writer) batchExec(ctx context.Context, tx *sql.Tx) (*sql.Stmt, []any, error) {
	b := &w.batch
	if aw, ok := w.d.(arrayWriter); ok && b.op == 'u' && b.rows > 1 {
		p := b.p
		types := []*column{&p.ts.cols[p.key]}
		for _, cv := range b.cols {
			types = append(types, &p.ts.cols[cv.i])
		}
		if args, ok := aw.arrays(types, b.args, b.rows, w.arrayArgs); ok {
			w.arrayArgs = args
			w.bkey = append(append(w.bkey[:0], b.shape...), '#', 'a')
			table, key := p.ts.ref, w.d.quote(p.ts.cols[p.key].name)
			st, err := w.stmt(ctx, tx, w.bkey, func() string {
				cols := make([]string, len(b.cols))
				for j, cv := range b.cols {
					cols[j] = w.d.quote(p.ts.cols[cv.i].name)
				}
				return aw.updateArrays(table, key, cols, types, p.liveSQLOf(table))
			})
			return st, args, err
		}
	}
	st, err := w.batchStmt(ctx, tx, b.rows)
	return st, b.args, err
}

// batchStmt prepares the batch's statement for rows rows.
func (w *writer) batchStmt(ctx context.Context, tx *sql.Tx, rows int) (*sql.Stmt, error) {
	b := &w.batch
	p := b.p
	// Its own buffer: w.key holds the shape of the change being added.
	w.bkey = append(append(w.bkey[:0], b.shape...), '#')
	w.bkey = binary.AppendUvarint(w.bkey, uint64(rows))
	table, key := p.ts.ref, w.d.quote(p.ts.cols[p.key].name)
	tuple := "(?" + strings.Repeat(", ?", len(b.cols)) + ")"
	values := "VALUES " + tuple + strings.Repeat(", "+tuple, rows-1)
	if b.op == 'u' {
		// Each VALUES row is (key, values...): column1 is the key. Every
		// name is qualified, as the app's columns may be called column1.
		return w.stmt(ctx, tx, w.bkey, func() string {
			cols := make([]string, len(b.cols))
			types := []*column{&p.ts.cols[p.key]}
			for j, cv := range b.cols {
				cols[j] = w.d.quote(p.ts.cols[cv.i].name)
				types = append(types, &p.ts.cols[cv.i])
			}
			return w.d.updateFrom(table, key, cols, types, values, p.liveSQLOf(table))
		})
	}
	st, err := w.stmt(ctx, tx, w.bkey, func() string {
		var sb strings.Builder
		fmt.Fprintf(&sb, "INSERT INTO %s (%s", table, key)
		for _, cv := range b.cols {
			sb.WriteString(", " + w.d.quote(p.ts.cols[cv.i].name))
		}
		sb.WriteString(") " + values)
		if !p.upsert || p.plainInsert {
			return sb.String()
		}
		var set []string
		for _, cv := range b.cols {
			c := w.d.quote(p.ts.cols[cv.i].name)
			set = append(set, c+" = "+w.d.inserted(c))
		}
		if b.revive {
			set = append(set, w.d.quote(p.ts.cols[p.soft].name)+" = "+p.liveValue())
		}
		sb.WriteString(w.d.upsertClause(key, set))
		return sb.String()
	})
	if err != nil && p.upsert && w.d.badConflictTarget(err) {
		// The unique index does not qualify as a conflict target (a
		// collation, say): insert plainly; a key that exists then fails
		// loudly on the index instead of being written twice.
		p.upsert = false
		return w.batchStmt(ctx, tx, rows)
	}
	return st, err
}

// loadKeys reads every key of a table whose key has no unique index, once
// per Apply: one scan instead of a lookup per create on an unindexed column.
func (w *writer) loadKeys(ctx context.Context, tx *sql.Tx, p *plan) error {
	key := w.d.quote(p.ts.cols[p.key].name)
	rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s IS NOT NULL", key, p.ts.ref, key))
	if err != nil {
		return err
	}
	defer rows.Close()
	p.existing = map[string]struct{}{}
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return err
		}
		if k, ok, _ := keyString(v); ok {
			p.existing[k] = struct{}{}
		}
	}
	return rows.Err()
}

// reviveOrUpdate is a create for a key that already has a row.
func (w *writer) reviveOrUpdate(ctx context.Context, tx *sql.Tx, p *plan, ch Change, revive bool) error {
	if len(w.cols) == 0 && !revive {
		return nil
	}
	if err := w.flush(ctx, tx); err != nil {
		return err
	}
	w.shape('r', p)
	st, err := w.stmt(ctx, tx, w.key, func() string {
		var set []string
		for _, cv := range w.cols {
			set = append(set, w.d.quote(p.ts.cols[cv.i].name)+" = ?")
		}
		if revive {
			set = append(set, w.d.quote(p.ts.cols[p.soft].name)+" = "+p.liveValue())
		}
		return fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?", p.ts.ref, strings.Join(set, ", "), w.d.quote(p.ts.cols[p.key].name))
	})
	if err != nil {
		return w.fail(p, ch, err)
	}
	if w.args, err = w.bind(p, w.args[:0]); err != nil {
		return w.fail(p, ch, err)
	}
	w.args = append(w.args, ch.Key)
	if _, err := st.ExecContext(ctx, w.args...); err != nil {
		return w.fail(p, ch, err)
	}
	return nil
}

func (w *writer) update(ctx context.Context, tx *sql.Tx, p *plan, ch Change) error {
	if err := w.columns(p, ch); err != nil {
		return err
	}
	if len(w.cols) == 0 {
		return nil
	}
	w.shape('u', p)
	if p.upsert { // a unique key: one UPDATE ... FROM (VALUES ...) per batch
		return w.add(ctx, tx, 'u', p, ch, false)
	}
	if err := w.flush(ctx, tx); err != nil {
		return err
	}
	st, err := w.stmt(ctx, tx, w.key, func() string {
		var set []string
		for _, cv := range w.cols {
			set = append(set, w.d.quote(p.ts.cols[cv.i].name)+" = ?")
		}
		return fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?%s", p.ts.ref, strings.Join(set, ", "), w.d.quote(p.ts.cols[p.key].name), p.liveSQL())
	})
	if err != nil {
		return w.fail(p, ch, err)
	}
	if w.args, err = w.bind(p, w.args[:0]); err != nil {
		return w.fail(p, ch, err)
	}
	w.args = append(w.args, ch.Key)
	return w.execOne(ctx, st, p, ch)
}

func (w *writer) delete(ctx context.Context, tx *sql.Tx, p *plan, ch Change) error {
	w.cols = w.cols[:0]
	w.shape('d', p)
	if p.upsert { // a unique key: one DELETE ... WHERE key IN (...) per batch
		return w.add(ctx, tx, 'd', p, ch, false)
	}
	if err := w.flush(ctx, tx); err != nil {
		return err
	}
	return w.deleteOne(ctx, tx, p, ch, w.key)
}

// deleteOne deletes (or soft-deletes) ch's row alone; shape is 'd' and the
// plan's id (w.shape).
func (w *writer) deleteOne(ctx context.Context, tx *sql.Tx, p *plan, ch Change, shape []byte) error {
	st, err := w.stmt(ctx, tx, shape, func() string {
		key := w.d.quote(p.ts.cols[p.key].name)
		if p.soft < 0 {
			return fmt.Sprintf("DELETE FROM %s WHERE %s = ?", p.ts.ref, key)
		}
		return fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s = ?%s", p.ts.ref, w.d.quote(p.ts.cols[p.soft].name), key, p.liveSQL())
	})
	if err != nil {
		return w.fail(p, ch, err)
	}
	w.args = w.args[:0]
	if p.soft >= 0 {
		w.args = append(w.args, w.d.softDeleted(&p.ts.cols[p.soft], w.now))
	}
	w.args = append(w.args, ch.Key)
	return w.execOne(ctx, st, p, ch)
}

// flushDeletes writes a batch of deletes by a unique key in one statement
// under a savepoint: if it deletes fewer rows than it names, the savepoint
// is rolled back and the rows are deleted one by one so that the error
// names the row that is gone.
func (w *writer) flushDeletes(ctx context.Context, tx *sql.Tx) error {
	b := &w.batch
	p := b.p
	shape := []byte(b.shape)
	if b.rows == 1 {
		return w.deleteOne(ctx, tx, p, Change{Table: p.t, Op: OpDelete, Key: b.keys[0]}, shape)
	}
	w.bkey = append(append(w.bkey[:0], shape...), '#')
	w.bkey = binary.AppendUvarint(w.bkey, uint64(b.rows))
	st, err := w.stmt(ctx, tx, w.bkey, func() string {
		key := w.d.quote(p.ts.cols[p.key].name)
		in := key + " IN (?" + strings.Repeat(", ?", b.rows-1) + ")"
		if p.soft < 0 {
			return fmt.Sprintf("DELETE FROM %s WHERE %s", p.ts.ref, in)
		}
		return fmt.Sprintf("UPDATE %s SET %s = ? WHERE %s%s", p.ts.ref, w.d.quote(p.ts.cols[p.soft].name), in, p.liveSQL())
	})
	if err == nil {
		if _, err = tx.ExecContext(ctx, "SAVEPOINT reconctl_batch"); err == nil {
			w.args = w.args[:0]
			if p.soft >= 0 {
				w.args = append(w.args, w.d.softDeleted(&p.ts.cols[p.soft], w.now))
			}
			w.args = append(w.args, b.args...)
			var res sql.Result
			if res, err = st.ExecContext(ctx, w.args...); err == nil {
				if n, err := res.RowsAffected(); err == nil && n == int64(b.rows) {
					_, err = tx.ExecContext(ctx, "RELEASE SAVEPOINT reconctl_batch")
					if err != nil {
						return w.fail(p, Change{Table: p.t, Op: OpDelete, Key: b.keys[0]}, err)
					}
					return nil
				}
			}
		}
	}
	batchErr := err
	if batchErr != nil && w.d.txAbortsOnError(batchErr) {
		key := fmt.Sprintf("(one of the %d batched from %s to %s)", b.rows, b.keys[0], b.keys[b.rows-1])
		return w.fail(p, Change{Table: p.t, Op: OpDelete, Key: key}, batchErr)
	}
	if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT reconctl_batch"); err != nil {
		return w.fail(p, Change{Table: p.t, Op: OpDelete, Key: b.keys[0]}, err)
	}
	for _, k := range b.keys[:b.rows] {
		if err := w.deleteOne(ctx, tx, p, Change{Table: p.t, Op: OpDelete, Key: k}, shape); err != nil {
			return err
		}
	}
	if batchErr == nil {
		batchErr = errors.New("the batch deleted fewer rows than it holds")
	}
	return w.fail(p, Change{Table: p.t, Op: OpDelete, Key: b.keys[0]}, batchErr)
}

// execOne runs an update or delete that must hit a row: if the row is gone,
// the plan no longer matches the database and the batch must not half-apply.
func (w *writer) execOne(ctx context.Context, st *sql.Stmt, p *plan, ch Change) error {
	res, err := st.ExecContext(ctx, w.args...)
	if err != nil {
		return w.fail(p, ch, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return w.gone(p, ch)
	}
	return nil
}

// gone is the error for an update or delete whose row is not there.
func (w *writer) gone(p *plan, ch Change) error {
	return fmt.Errorf("%s %s %s: table %q has no live row with %s = %q any more (it changed since it was read: run again)",
		ch.Op, ch.Table.Resource, ch.Key, p.ts.name, p.ts.cols[p.key].name, ch.Key)
}

// sqlValue converts a provider value to what SQLite stores. A time field is
// written in the column's own format tf (learnt from its values; by default
// RFC 3339 text, or unix seconds in an integer column); a value that is not
// a time is written as given.
func sqlValue(v any, asTime bool, tf timeFormat, intAffinity bool) (any, error) {
	if asTime {
		if t, ok := ParseTime(v); ok {
			return tf.value(t, intAffinity), nil
		}
	}
	switch x := v.(type) {
	case nil, string, int64, float64, []byte:
		return x, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		if !strings.ContainsAny(string(x), ".eE") {
			return string(x), nil // an integer too big for int64: keep every digit as text
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return string(x), nil
		}
		return f, nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case time.Time:
		return tf.value(x, intAffinity), nil
	}
	s, err := compactJSON(v) // maps and lists
	if err != nil {
		return nil, fmt.Errorf("cannot store %s: %w", describe(v), err)
	}
	return s, nil
}
