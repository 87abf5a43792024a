package localstate

import (
	"context"
	"fmt"
)

// KeyHealth is what a store knows of a table's keys that its Scan does not
// show. The engine refuses to write a resource whose keys are not unique:
// updates and deletes go by key, so one planned write would change every row
// that shares it.
type KeyHealth struct {
	// NullKeys counts live rows whose key is NULL or empty (Scan skips them).
	NullKeys int
	// Duplicates counts live rows whose key another live row has too, under
	// the key column's own collation (COLLATE NOCASE makes abc and ABC one key).
	Duplicates int
	// Keys counts the distinct keys those rows share (Duplicates+Keys rows
	// are involved in all).
	Keys int
	// Sample names a few duplicated keys ("abc/ABC" when they differ in spelling).
	Sample []string
}

// keySample is how many duplicated keys KeyHealth names.
const keySample = 5

// KeyHealth counts t's keyless rows and, unless a unique index already
// rules them out, the rows sharing a key. GROUP BY compares with the key
// column's collation, as the writes' WHERE key = ? does (SQLite's NOCASE,
// MySQL's _ci collations).
func (s *sqlStore) KeyHealth(ctx context.Context, t *Table) (KeyHealth, error) {
	var kh KeyHealth
	r, err := s.resolve(ctx, t)
	if err != nil {
		return kh, err
	}
	kc := &r.ts.cols[r.key]
	table, key := r.ts.ref, s.d.quote(kc.name)
	present := s.d.keyPresent(kc, key)
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s%s%s", table, s.d.keyAbsent(kc, key), r.liveSQL(), r.scopeSQL())
	if err := s.rq.QueryRowContext(ctx, s.d.rebind(q), r.scopeArgs()...).Scan(&kh.NullKeys); err != nil {
		return kh, s.explain(err)
	}
	if r.ts.unique[r.key] {
		return kh, nil
	}
	live := present + r.liveSQL()
	q = fmt.Sprintf("SELECT coalesce(sum(n - 1), 0), count(*) FROM (SELECT count(*) AS n FROM %s WHERE %s GROUP BY %s HAVING count(*) > 1) AS reconctl_d", table, live, key)
	if err := s.rq.QueryRowContext(ctx, q).Scan(&kh.Duplicates, &kh.Keys); err != nil {
		return kh, s.explain(err)
	}
	if kh.Duplicates == 0 {
		return kh, nil
	}
	q = fmt.Sprintf("SELECT %[5]s FROM %[1]s WHERE %[3]s GROUP BY %[2]s HAVING count(*) > 1 ORDER BY count(*) DESC, 1 LIMIT %[4]d", table, key, live, keySample, s.d.keySample(key))
	rows, err := s.rq.QueryContext(ctx, q)
	if err != nil {
		return kh, s.explain(err)
	}
	defer rows.Close()
	for rows.Next() {
		var lo, hi string
		if err := rows.Scan(&lo, &hi); err != nil {
			return kh, s.explain(err)
		}
		if lo != hi {
			lo += "/" + hi
		}
		kh.Sample = append(kh.Sample, lo)
	}
	return kh, s.explain(rows.Err())
}

// KeyHealth counts t's live records without a key. Duplicated keys in a
// snapshot are exact (no collation), so the engine finds them in its scan.
func (s *jsonStore) KeyHealth(ctx context.Context, t *Table) (KeyHealth, error) {
	var kh KeyHealth
	recs, err := s.records(t)
	if err != nil {
		return kh, err
	}
	key, soft := keyName(t), t.SoftDelete
	for _, rec := range recs {
		if rec == nil || soft != "" && !isLive(rec[soft]) {
			continue
		}
		if _, ok, err := keyString(rec[key]); err == nil && !ok {
			kh.NullKeys++
		}
	}
	return kh, nil
}
