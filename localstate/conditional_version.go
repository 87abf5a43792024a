// Conditional updates checked in the write itself (issue #15, #16): an
// update whose Expect carries the row version its plan read (Row.Version)
// is written by one batched statement that writes only the rows still at
// that version, instead of reading every row back (locked) to compare it
// first. The few rows the statement leaves (written by someone since the
// scan, or moved) are read back locked and compared as any conditional
// write is: a conflict if they changed, written if they did not.

package localstate

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// byVersion reports whether ch is checked by its version in its write:
// an update with a version and a comparison, of a table whose rows the
// dialect versions, written in batches (a unique key).
func (w *writer) byVersion(p *plan, ch *Change) bool {
	if ch.Op != OpUpdate || ch.Expect == nil || ch.Expect.Match == nil || ch.Expect.Version.IsZero() {
		return false
	}
	if _, ok := w.d.(versioner); !ok {
		return false
	}
	if _, ok := w.d.(arrayWriter); !ok {
		return false
	}
	return p.ts.versions && p.upsert
}

// updateByVersion adds ch, an update checked by its version, to a batch of
// its own shape ('v').
func (w *writer) updateByVersion(ctx context.Context, tx *sql.Tx, p *plan, ch *Change) error {
	if err := w.columns(p, *ch); err != nil {
		return err
	}
	if len(w.cols) == 0 {
		// Nothing to write, but the condition is still reported.
		return w.recheck(ctx, tx, p, []string{ch.Key}, []*Expect{ch.Expect}, nil)
	}
	w.shape('v', p)
	return w.add(ctx, tx, 'u', p, *ch, false)
}

// flushVersioned writes the pending batch of updates checked by version:
// one statement writes the rows still at their version and names the
// others, which recheck reads back.
func (w *writer) flushVersioned(ctx context.Context, tx *sql.Tx) error {
	b := &w.batch
	p := b.p
	vr := w.d.(versioner)
	aw := w.d.(arrayWriter)
	types := []*column{&p.ts.cols[p.key]}
	for _, cv := range b.cols {
		types = append(types, &p.ts.cols[cv.i])
	}
	all := func() []int {
		out := make([]int, b.rows)
		for r := range out {
			out[r] = r
		}
		return out
	}
	var left []int
	args, ok := aw.arrays(types, b.args, b.rows, w.arrayArgs)
	if !ok {
		// A value with no faithful array form: every row is read back
		// and written alone.
		left = all()
	} else {
		w.arrayArgs = args
		w.verLoc, w.verXact = w.verLoc[:0], w.verXact[:0]
		for _, v := range b.vers[:b.rows] {
			loc, xact := vr.versionText(v)
			w.verLoc, w.verXact = append(w.verLoc, loc), append(w.verXact, xact)
		}
		w.verArgs = append(append(w.verArgs[:0], args...), w.verLoc, w.verXact)
		w.bkey = append(append(w.bkey[:0], b.shape...), '#', 'v')
		table, key := p.ts.ref, w.d.quote(p.ts.cols[p.key].name)
		st, err := w.stmt(ctx, tx, w.bkey, func() string {
			cols := make([]string, len(b.cols))
			for j, cv := range b.cols {
				cols[j] = w.d.quote(p.ts.cols[cv.i].name)
			}
			return vr.updateVersioned(table, key, cols, types, p.liveSQLOf(table))
		})
		if err != nil {
			return w.batchFail(err)
		}
		rows, err := st.QueryContext(ctx, w.verArgs...)
		if err != nil {
			return w.batchFail(err)
		}
		for rows.Next() {
			var i int64
			if err := rows.Scan(&i); err != nil {
				rows.Close()
				return w.batchFail(err)
			}
			if i < 1 || i > int64(b.rows) {
				rows.Close()
				return w.batchFail(fmt.Errorf("the versioned update named row %d of %d", i, b.rows))
			}
			left = append(left, int(i-1))
		}
		if err := rows.Close(); err != nil {
			return w.batchFail(err)
		}
		if err := rows.Err(); err != nil {
			return w.batchFail(err)
		}
	}
	if len(left) == 0 {
		return nil
	}
	slices.Sort(left)
	keys := make([]string, len(left))
	exps := make([]*Expect, len(left))
	for j, r := range left {
		keys[j], exps[j] = b.keys[r], b.exps[r]
	}
	return w.recheck(ctx, tx, p, keys, exps, left)
}

// batchFail is the error of the pending batch's statement.
func (w *writer) batchFail(err error) error {
	b := &w.batch
	key := b.keys[0]
	if b.rows > 1 {
		key = fmt.Sprintf("(one of the %d batched from %s to %s)", b.rows, b.keys[0], b.keys[b.rows-1])
	}
	return w.fail(b.p, Change{Table: b.p.t, Op: b.changeOp(), Key: key}, err)
}

// recheck is the check of conditional updates their version did not
// settle: their rows read back, locked until the commit, and given to
// Match. rows, when set, are their positions in the pending batch, whose
// arguments the ones that still match are then written with, one by one
// (their rows are locked now); nil: nothing to write.
func (w *writer) recheck(ctx context.Context, tx *sql.Tx, p *plan, keys []string, exps []*Expect, rows []int) error {
	if recheckHook != nil {
		recheckHook(keys)
	}
	b := &w.batch
	width := len(b.cols) + 1
	var one *sql.Stmt
	for start := 0; start < len(keys); {
		// One locking read per run of keys compared on the same columns.
		end := start + 1
		for end < len(keys) && end-start < conflictChunk && slices.Equal(exps[end].Columns, exps[start].Columns) {
			end++
		}
		found, err := w.lockedRows(ctx, tx, p, exps[start].Columns, keys[start:end])
		if err != nil {
			return err
		}
		for j := start; j < end; j++ {
			e := exps[j]
			r, ok := found[keys[j]]
			switch {
			case !ok || !r.live:
				e.Conflict = ReasonDeleted
				continue
			default:
				if why := e.Match(r.values); why != "" {
					e.Conflict = why
					continue
				}
			}
			if rows == nil {
				continue
			}
			if one == nil {
				if one, err = w.batchStmt(ctx, tx, 1); err != nil {
					return w.fail(p, Change{Table: p.t, Op: OpUpdate, Key: keys[j]}, err)
				}
			}
			ch := Change{Table: p.t, Op: OpUpdate, Key: keys[j]}
			res, err := one.ExecContext(ctx, b.args[rows[j]*width:(rows[j]+1)*width]...)
			if err != nil {
				return w.fail(p, ch, err)
			}
			if n, err := res.RowsAffected(); err == nil && n == 0 {
				return w.gone(p, ch)
			}
		}
		start = end
	}
	return nil
}

// recheckHook, when set (tests), is given the keys of every recheck.
var recheckHook func(keys []string)
