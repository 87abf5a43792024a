package localstate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// lockRows: the conditional reads of a Postgres apply lock their rows until
// the commit (conditional.go).
func (pgDialect) lockRows() string { return " FOR UPDATE" }

// Row versions (versioner): a Postgres row's ctid (where its stored
// version lies) and xmin (the transaction that wrote that version) name
// one version of it. Any write of the row — an UPDATE, even of equal
// values, a HOT update, a delete and re-insert — makes a new version with
// another ctid; a ctid freed by vacuum is reused only by a version another
// transaction wrote, so another xmin. A row whose key, ctid and xmin are
// still what the scan read therefore holds exactly what the scan read.
// Anything else (VACUUM FULL moved it, it was written since, frozen or
// not) is read back, locked, and compared as without a version.

func (pgDialect) versionExprs() string { return "ctid, xmin" }

// parseVersion reads a ctid's text form "(block,offset)" and the xmin
// (by hand: it runs once per scanned row).
func (pgDialect) parseVersion(loc []byte, xact int64) (RowVersion, bool) {
	if len(loc) < 5 || loc[0] != '(' || loc[len(loc)-1] != ')' || xact <= 0 || xact > math.MaxUint32 {
		return RowVersion{}, false
	}
	var block, off uint64
	i, digits := 1, 0
	for ; i < len(loc) && loc[i] >= '0' && loc[i] <= '9'; i++ {
		block, digits = block*10+uint64(loc[i]-'0'), digits+1
	}
	if digits == 0 || digits > 10 || block > math.MaxUint32 || loc[i] != ',' {
		return RowVersion{}, false
	}
	i, digits = i+1, 0
	for ; i < len(loc) && loc[i] >= '0' && loc[i] <= '9'; i++ {
		off, digits = off*10+uint64(loc[i]-'0'), digits+1
	}
	if digits == 0 || digits > 5 || off > math.MaxUint16 || i != len(loc)-1 {
		return RowVersion{}, false
	}
	return RowVersion{Loc: block<<16 | off, Xact: uint32(xact)}, true
}

func (pgDialect) versionText(v RowVersion) (string, string) {
	return "(" + strconv.FormatUint(v.Loc>>16, 10) + "," + strconv.FormatUint(v.Loc&0xffff, 10) + ")", strconv.FormatUint(uint64(v.Xact), 10)
}

// updateVersioned: updateArrays with two more text[] parameters (each
// row's ctid and xmin) and the rows' positions (WITH ORDINALITY); the row
// is written only while it is at that version. Under READ COMMITTED a row
// another transaction wrote after the statement's snapshot is re-checked
// at its newest version (EvalPlanQual), whose ctid differs: not written
// either. The statement returns the positions of the rows it did not write.
// The table is read by a TID scan of the batch's ctids (ctid = ANY), so
// whatever join the planner picks it reads those rows only, never the
// whole table (as it may for the same join by key on a mid-sized table:
// TestPostgresVersionedUpdatePlan).
func (pgDialect) updateVersioned(table, key string, cols []string, types []*column, live string) string {
	width := len(cols) + 1
	params := make([]string, width+2)
	names := make([]string, width+3)
	for j := range width {
		params[j] = fmt.Sprintf("$%d::text[]", j+1)
		names[j] = fmt.Sprintf("reconctl_c%d", j+1)
	}
	params[width] = fmt.Sprintf("$%d::text[]", width+1)
	params[width+1] = fmt.Sprintf("$%d::text[]", width+2)
	names[width], names[width+1], names[width+2] = "reconctl_loc", "reconctl_xact", "reconctl_n"
	set := make([]string, len(cols))
	for j, c := range cols {
		set[j] = fmt.Sprintf("%s = reconctl_v.%s::%s", c, names[j+1], pgCast(types[j+1]))
	}
	return fmt.Sprintf(`WITH reconctl_u AS (UPDATE %s SET %s FROM unnest(%s) WITH ORDINALITY AS reconctl_v(%s)
WHERE %s.ctid = ANY (%s::tid[]) AND %s.%s = reconctl_v.reconctl_c1::%s AND %s.ctid = reconctl_v.reconctl_loc::tid AND %s.xmin::text = reconctl_v.reconctl_xact%s
RETURNING reconctl_v.reconctl_n)
SELECT reconctl_i FROM generate_series(1, cardinality($1::text[])) AS reconctl_i
WHERE reconctl_i NOT IN (SELECT reconctl_n FROM reconctl_u)`,
		table, strings.Join(set, ", "), strings.Join(params, ", "), strings.Join(names, ", "),
		table, params[width], table, key, pgCast(types[0]), table, table, live)
}
