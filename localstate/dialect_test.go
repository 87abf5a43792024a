package localstate

import (
	"errors"
	"testing"
)

func TestRebindNumbered(t *testing.T) {
	q := `UPDATE "we?rd" SET "a" = ?, b = '?' WHERE "k" = ? AND c = 'it''s?' AND d = ?`
	want := `UPDATE "we?rd" SET "a" = $1, b = '?' WHERE "k" = $2 AND c = 'it''s?' AND d = $3`
	if got := rebindNumbered(q, "$"); got != want {
		t.Errorf("rebindNumbered:\n got %s\nwant %s", got, want)
	}
	if got := (sqliteDialect{}).rebind(q); got != q {
		t.Errorf("SQLite keeps ? placeholders, got %s", got)
	}
}

// The SQLite dialect builds the statements the writer used to inline.
func TestSQLiteDialectStatements(t *testing.T) {
	d := sqliteDialect{}
	if got := d.quote(`a"b`); got != `"a""b"` {
		t.Errorf("quote = %s", got)
	}
	if got := d.upsertClause(`"id"`, nil); got != ` ON CONFLICT ("id") DO NOTHING` {
		t.Errorf("upsert, nothing to set = %q", got)
	}
	if got := d.upsertClause(`"id"`, []string{`"v" = ` + d.inserted(`"v"`)}); got != ` ON CONFLICT ("id") DO UPDATE SET "v" = excluded."v"` {
		t.Errorf("upsert = %q", got)
	}
	got := d.updateFrom(`"t"`, `"id"`, []string{`"a"`, `"b"`}, nil, "VALUES (?, ?, ?)", "")
	if want := `UPDATE "t" SET "a" = reconctl_v.column2, "b" = reconctl_v.column3 FROM (VALUES (?, ?, ?)) AS reconctl_v WHERE "t"."id" = reconctl_v.column1`; got != want {
		t.Errorf("updateFrom:\n got %s\nwant %s", got, want)
	}
	if !d.intAffinity("BIGINT") || d.intAffinity("TEXT") || !d.boolAffinity("BOOLEAN") {
		t.Error("affinity rules")
	}
	if !d.badConflictTarget(errors.New("ON CONFLICT clause does not match any PRIMARY KEY or UNIQUE constraint")) {
		t.Error("badConflictTarget")
	}
}
