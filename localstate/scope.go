// Tenant scoping (issue #17): a Table with a Scope sees and writes only the
// rows whose scope column holds its tenant. Reads add "AND column = ?" (the
// column quoted, the tenant bound); creates set the column; every write first
// checks that none of its keys belongs to another tenant (or to no tenant),
// so one tenant's run can never change another's rows.

package localstate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Scope restricts a Table to one tenant's rows.
type Scope struct {
	Column string // the local column holding each row's tenant
	Tenant string // the tenant's id
}

// ErrScopeNeedsSQL is returned by stores that cannot scope rows to a tenant.
var ErrScopeNeedsSQL = errors.New("tenants need a SQL state (SQLite, PostgreSQL or MySQL): a JSON snapshot cannot scope rows to a tenant")

// Scoped returns a copy of t restricted to tenant's rows in column.
func (t *Table) Scoped(column, tenant string) *Table {
	c := *t
	c.Scope = &Scope{Column: column, Tenant: tenant}
	return &c
}

// resolveScope checks the scope column of t against its schema: it must
// exist and be neither the key nor a mapped column (a run must never move a
// row to another tenant).
func (r *resolved) resolveScope(t *Table) error {
	r.scope = -1
	if t.Scope == nil {
		return nil
	}
	i, ok := r.ts.lookup(t.Scope.Column)
	if !ok {
		return r.ts.missing(t.Scope.Column, "tenants.column, scoping resource "+t.Resource)
	}
	if i == r.key {
		return fmt.Errorf("tenants.column %q is the key of resource %s: the tenant needs a column of its own", t.Scope.Column, t.Resource)
	}
	for _, f := range t.Fields {
		if j, _ := r.ts.lookup(f.Column); j == i {
			return fmt.Errorf("tenants.column %q is mapped under resources.%s.fields (from %s): reconctl sets the tenant column itself; remove the mapping", t.Scope.Column, t.Resource, f.Path)
		}
	}
	v, err := r.d.value(&r.ts.cols[i], t.Scope.Tenant, false, timeFormat{})
	if err != nil {
		return fmt.Errorf("tenant %q does not fit column %q of table %q: %w", t.Scope.Tenant, t.Scope.Column, r.ts.name, err)
	}
	r.scope, r.scopeVal = i, v
	return nil
}

// scopeSQL is " AND column = ?" for a scoped table, "" otherwise; its
// argument is scopeArgs.
func (r *resolved) scopeSQL() string {
	if r.scope < 0 {
		return ""
	}
	return " AND " + r.d.quote(r.ts.cols[r.scope].name) + " = ?"
}

// scopeArgs is the bound value of scopeSQL (none when unscoped).
func (r *resolved) scopeArgs(args ...any) []any {
	if r.scope < 0 {
		return args
	}
	return append([]any{r.scopeVal}, args...)
}

// scopeChanges returns changes with the scope column set on the creates of
// scoped tables (copies: the caller's values are not modified).
func scopeChanges(changes []Change) []Change {
	var out []Change
	for i, ch := range changes {
		if ch.Table == nil || ch.Table.Scope == nil || ch.Op != OpCreate {
			continue
		}
		if out == nil {
			out = append([]Change(nil), changes...)
		}
		vals := make(map[string]any, len(ch.Values)+1)
		for k, v := range ch.Values {
			vals[k] = v
		}
		vals[ch.Table.Scope.Column] = ch.Table.Scope.Tenant
		out[i].Values = vals
	}
	if out == nil {
		return changes
	}
	return out
}

// scopeChunk is how many keys one ownership check names.
const scopeChunk = 500

// checkScope refuses a write whose keys name rows of another tenant (or of
// none): updates and deletes go by key, and a create would overwrite the row.
// A conditional update or delete is not refused here: its locking read
// (lockedRows) sees only the tenant's rows, so a row that moved to another
// tenant since it was read is that record's conflict.
func (w *writer) checkScope(ctx context.Context, tx *sql.Tx, changes []Change) error {
	keys := map[*plan][]string{}
	var order []*plan
	for _, ch := range changes {
		p := w.plans[ch.Table]
		if p == nil || p.scope < 0 {
			continue
		}
		if ch.Expect != nil && ch.Op != OpCreate {
			continue
		}
		if _, ok := keys[p]; !ok {
			order = append(order, p)
		}
		keys[p] = append(keys[p], ch.Key)
	}
	for _, p := range order {
		ks := keys[p]
		sc := w.d.quote(p.ts.cols[p.scope].name)
		kc := w.d.quote(p.ts.cols[p.key].name)
		for len(ks) > 0 {
			n := min(len(ks), scopeChunk)
			part := ks[:n]
			ks = ks[n:]
			q := fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s IN (%s) AND (%s IS NULL OR %s <> ?) LIMIT 1",
				kc, sc, p.ts.ref, kc, strings.TrimSuffix(strings.Repeat("?, ", n), ", "), sc, sc)
			args := make([]any, 0, n+1)
			for _, k := range part {
				args = append(args, k)
			}
			args = append(args, p.scopeVal)
			var key, owner sql.NullString
			err := tx.QueryRowContext(ctx, w.d.rebind(q), args...).Scan(&key, &owner)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return w.s.explain(err)
			}
			who := "no tenant (its " + p.ts.cols[p.scope].name + " is NULL)"
			if owner.Valid {
				who = fmt.Sprintf("tenant %q", owner.String)
			}
			return fmt.Errorf("resource %s, tenant %q: the row with key %q in table %q belongs to %s; refusing to write it (keys must be unique across tenants)",
				p.t.Resource, p.t.Scope.Tenant, key.String, p.ts.name, who)
		}
	}
	return nil
}

// DistinctScopeValues returns the distinct non-empty values of column in
// t's table, sorted (tenants from: state). Only SQL states have it.
func DistinctScopeValues(ctx context.Context, st Store, t *Table, column string) ([]string, error) {
	var s *sqlStore
	switch x := st.(type) {
	case *sqlStore:
		s = x
	case *pgStore:
		s = x.sqlStore
	case *mysqlStore:
		s = x.sqlStore
	default:
		return nil, ErrScopeNeedsSQL
	}
	u := *t
	u.Scope = nil
	r, err := s.resolve(ctx, &u)
	if err != nil {
		return nil, err
	}
	i, ok := r.ts.lookup(column)
	if !ok {
		return nil, r.ts.missing(column, "tenants.column")
	}
	c := s.d.quote(r.ts.cols[i].name)
	kc := &r.ts.cols[r.key]
	q := fmt.Sprintf("SELECT DISTINCT %s FROM %s WHERE %s IS NOT NULL AND %s%s ORDER BY 1", s.d.selectExpr(&r.ts.cols[i]), r.ts.ref, c,
		s.d.keyPresent(kc, s.d.quote(kc.name)), r.liveSQL())
	rows, err := s.rq.QueryContext(ctx, q)
	if err != nil {
		return nil, s.explain(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, s.explain(err)
		}
		id, ok, err := keyString(v)
		if err != nil {
			return nil, fmt.Errorf("tenants.column %q of table %q: %w", column, r.ts.name, err)
		}
		if ok {
			out = append(out, id)
		}
	}
	return out, s.explain(rows.Err())
}
