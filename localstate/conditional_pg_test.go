package localstate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/reconctl/reconctl/localstate/servertest"
)

// TestPostgresVersionedUpdatePlan: on a table large enough that reading a
// batch's rows by ctid costs less than reading the table (500k rows), the
// versioned batch UPDATE reads them by a TID scan, not by a hash join over
// a scan of the whole table, which the planner picks for the join by key
// alone on tables of this size; and it names exactly the rows not at their
// version.
func TestPostgresVersionedUpdatePlan(t *testing.T) {
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE users (id bigserial PRIMARY KEY, stripe_customer_id text UNIQUE, name text, balance bigint);
		INSERT INTO users (stripe_customer_id, name, balance) SELECT 'cus_' || i, 'User ' || i, i FROM generate_series(1, 500000) i`)
	db.Exec(t, `VACUUM ANALYZE users`)
	ctx := context.Background()
	d := pgDialect{}
	types := []*column{{udt: "text"}, {udt: "text"}, {udt: "bigint"}}
	q := d.updateVersioned(`"public"."users"`, `"stripe_customer_id"`, []string{`"name"`, `"balance"`}, types, "")
	rows, err := db.SQL.QueryContext(ctx, `SELECT stripe_customer_id, ctid, xmin FROM users WHERE id <= 1000 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var keys, names, bals, locs, xacts []pgtype.Text
	for rows.Next() {
		var k string
		var loc []byte
		var x int64
		if err := rows.Scan(&k, &loc, &x); err != nil {
			t.Fatal(err)
		}
		v, ok := d.parseVersion(loc, x)
		if !ok {
			t.Fatalf("parseVersion(%s, %d)", loc, x)
		}
		l, xs := d.versionText(v)
		if l != string(loc) {
			t.Fatalf("versionText %q, want %q", l, loc)
		}
		keys = append(keys, pgtype.Text{String: k, Valid: true})
		names = append(names, pgtype.Text{String: "new " + k, Valid: true})
		bals = append(bals, pgtype.Text{String: "7", Valid: true})
		locs = append(locs, pgtype.Text{String: l, Valid: true})
		xacts = append(xacts, pgtype.Text{String: xs, Valid: true})
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	// Two rows move to another version before the statement runs.
	db.Exec(t, `UPDATE users SET name = name WHERE id IN (10, 500)`)

	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var plan []string
	prows, err := tx.QueryContext(ctx, "EXPLAIN "+q, keys, names, bals, locs, xacts)
	if err != nil {
		t.Fatal(err)
	}
	for prows.Next() {
		var line string
		if err := prows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	prows.Close()
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "Tid Scan on users") || strings.Contains(text, "Seq Scan on users") {
		t.Errorf("plan:\n%s\nwant a TID scan of users, no sequential scan", text)
	}
	left, err := tx.QueryContext(ctx, q, keys, names, bals, locs, xacts)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for left.Next() {
		var i int64
		if err := left.Scan(&i); err != nil {
			t.Fatal(err)
		}
		got = append(got, i)
	}
	left.Close()
	if len(got) != 2 || got[0] != 10 || got[1] != 500 {
		t.Errorf("rows not written: %v, want [10 500] (the two that moved)", got)
	}
	var written int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE name LIKE 'new %' AND balance = 7`).Scan(&written); err != nil || written != 998 {
		t.Errorf("%d rows written (%v), want 998", written, err)
	}
}

// TestPGParseVersion: ctids as Postgres writes them, and what is refused.
func TestPGParseVersion(t *testing.T) {
	d := pgDialect{}
	for _, c := range []struct {
		loc  string
		xact int64
		want RowVersion
		ok   bool
	}{
		{"(0,1)", 7, RowVersion{Loc: 1, Xact: 7}, true},
		{"(4294967295,65535)", 4294967295, RowVersion{Loc: 4294967295<<16 | 65535, Xact: 4294967295}, true},
		{"(12,300)", 1, RowVersion{Loc: 12<<16 | 300, Xact: 1}, true},
		{"(4294967296,1)", 1, RowVersion{}, false},
		{"(1,65536)", 1, RowVersion{}, false},
		{"(1,2)", 0, RowVersion{}, false},
		{"(1,2)", 1 << 32, RowVersion{}, false},
		{"(,2)", 1, RowVersion{}, false},
		{"(1,)", 1, RowVersion{}, false},
		{"(1;2)", 1, RowVersion{}, false},
		{"(1,2,3)", 1, RowVersion{}, false},
		{"1,2", 1, RowVersion{}, false},
	} {
		got, ok := d.parseVersion([]byte(c.loc), c.xact)
		if ok != c.ok || got != c.want {
			t.Errorf("parseVersion(%q, %d) = %+v, %v; want %+v, %v", c.loc, c.xact, got, ok, c.want, c.ok)
		}
		if ok {
			if l, x := d.versionText(got); l != c.loc || x != fmt.Sprint(c.xact) {
				t.Errorf("versionText(%+v) = %q, %q; want %q, %d", got, l, x, c.loc, c.xact)
			}
		}
	}
}
