package localstate_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/localstate/storetest"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// pgFixture is a fresh database holding f, and its DSN.
func pgFixture(t *testing.T, f storetest.Fixture) *servertest.DB {
	t.Helper()
	db := servertest.New(t, "postgres")
	f.WritePostgres(t, db.SQL)
	return db
}

func openPGStore(t *testing.T, dsn string, opts localstate.OpenOptions) localstate.Store {
	t.Helper()
	st, err := localstate.Open(context.Background(), dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, f storetest.Fixture, readOnly bool) localstate.Store {
		db := pgFixture(t, f)
		st, err := localstate.Open(context.Background(), db.DSN, localstate.OpenOptions{ReadOnly: readOnly})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// mapProvider lists fixed records of one resource (ids in "id").
type mapProvider struct{ recs []map[string]any }

func (p *mapProvider) Name() string               { return "map" }
func (p *mapProvider) DefaultResources() []string { return []string{"things"} }
func (p *mapProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	for _, r := range p.recs {
		if err := fn(providers.Record{ID: r["id"].(string), Data: r}); err != nil {
			return err
		}
	}
	return nil
}
func (p *mapProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	for _, r := range p.recs {
		if r["id"] == id {
			return providers.Record{ID: id, Data: r}, providers.StatusPresent, nil
		}
	}
	return providers.Record{}, providers.StatusDeleted, nil
}

// engineRun compares tbl in mode and, with apply, writes the plan.
func engineRun(t *testing.T, dsn string, p providers.Provider, tbl *localstate.Table, mode reconcile.Mode, apply bool) *reconcile.ResourceSummary {
	t.Helper()
	ctx := context.Background()
	st := openPGStore(t, dsn, localstate.OpenOptions{ReadOnly: !apply})
	defer st.Close()
	e := &reconcile.Engine{Provider: p, Store: st}
	r, err := e.Prepare(ctx, tbl)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Compare(ctx, []*reconcile.Resource{r}, mode)
	if err != nil {
		t.Fatal(err)
	}
	if apply {
		if err := e.Apply(ctx, res); err != nil {
			t.Fatal(err)
		}
	}
	return res.Summaries()[tbl.Resource]
}

func inSync(t *testing.T, what string, s *reconcile.ResourceSummary, n int) {
	t.Helper()
	if s.Changed != 0 || s.MissingLocal != 0 || s.MissingRemote != 0 || s.InSync != n {
		t.Errorf("%s: want %d in sync and no drift, got %+v", what, n, *s)
	}
}

const pgTypedSchema = `
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE DOMAIN cents AS bigint CHECK (VALUE >= 0);
CREATE TABLE things (
	id varchar(191) PRIMARY KEY,
	ts timestamptz, tsn timestamp, day date,
	big bigint, small integer, price cents,
	amount numeric(10,2), ratio double precision,
	ok boolean, doc jsonb, raw json, label jsonb,
	name text, m mood,
	unix_at bigint, text_at text
)`

var pgThings = &localstate.Table{Resource: "things", Fields: []localstate.Field{
	{Column: "ts", Path: "precise", Compare: localstate.CompareTime},
	{Column: "tsn", Path: "precise", Compare: localstate.CompareTime},
	{Column: "day", Path: "day"},
	{Column: "big", Path: "big"},
	{Column: "small", Path: "small"},
	{Column: "price", Path: "price"},
	{Column: "amount", Path: "amount"},
	{Column: "ratio", Path: "ratio"},
	{Column: "ok", Path: "ok"},
	{Column: "doc", Path: "doc"},
	{Column: "raw", Path: "raw"},
	{Column: "label", Path: "label"},
	{Column: "name", Path: "name"},
	{Column: "m", Path: "mood"},
	{Column: "unix_at", Path: "created", Compare: localstate.CompareTime},
	{Column: "text_at", Path: "created", Compare: localstate.CompareTime},
}}

func thing(id string, created any, big string, amount string, ok bool, mood string) map[string]any {
	return map[string]any{"id": id, "created": created, "precise": "2023-11-14T22:13:20.123Z", "day": "2024-02-29", "big": json.Number(big), "small": json.Number("7"),
		"price": json.Number("1999"), "amount": json.Number(amount), "ratio": json.Number("0.25"), "ok": ok,
		"doc":   map[string]any{"b": json.Number("1"), "a": []any{"x", true, nil}},
		"raw":   map[string]any{"z": "last", "a": json.Number("2.5")},
		"label": "plain text", "name": "Ann <&>", "mood": mood}
}

// Typed writes land in each column's own type, and a diff right after the
// apply finds nothing: timestamptz/timestamp/date, bigint beyond 2^53, a
// domain, numeric (10.5 from the provider is stored 10.50), double, boolean,
// jsonb/json (key order and whitespace differ), text, an enum, and times in
// integer and text columns. Updates (the batched UPDATE … FROM with casts)
// come back equal too.
func TestPostgresTypedRoundTrip(t *testing.T) {
	db := servertest.New(t, "postgres")
	db.Exec(t, pgTypedSchema)
	var recs []map[string]any
	for i := range 300 { // more than one batch
		created := any(json.Number("1700000000"))
		if i%2 == 1 {
			created = "2023-11-14T22:13:20Z"
		}
		recs = append(recs, thing(fmt.Sprintf("th_%03d", i), created, "9007199254740993", "10.5", i%3 == 0, []string{"happy", "sad"}[i%2]))
	}
	p := &mapProvider{recs: recs}
	s := engineRun(t, db.DSN, p, pgThings, reconcile.ModeDiff, true)
	if s.MissingLocal != 300 {
		t.Fatalf("first run: want 300 creates, got %+v", *s)
	}
	inSync(t, "diff after creating", engineRun(t, db.DSN, p, pgThings, reconcile.ModeDiff, false), 300)

	var ts time.Time
	var tsn, day, amount, doc, m, big, textAt string
	var unixAt int64
	var ok bool
	err := db.SQL.QueryRow(`SELECT ts, tsn::text, day::text, amount::text, doc::text, m::text, big::text, ok, unix_at, text_at FROM things WHERE id = 'th_001'`).
		Scan(&ts, &tsn, &day, &amount, &doc, &m, &big, &ok, &unixAt, &textAt)
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Equal(time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC)) || tsn != "2023-11-14 22:13:20.123" || day != "2024-02-29" ||
		amount != "10.50" || m != "sad" || big != "9007199254740993" || ok || unixAt != 1700000000 || textAt != "2023-11-14T22:13:20Z" {
		t.Errorf("stored th_001: ts=%v tsn=%s day=%s amount=%s m=%s big=%s ok=%v unix_at=%d text_at=%s", ts, tsn, day, amount, m, big, ok, unixAt, textAt)
	}
	if doc != `{"a": ["x", true, null], "b": 1}` {
		t.Errorf("jsonb doc = %s", doc)
	}

	// Changed values go through the batched UPDATE … FROM (VALUES …).
	for i, r := range recs {
		r["amount"] = json.Number("11")
		r["big"] = json.Number("-9007199254740995")
		r["ok"] = i%3 != 0
		r["mood"] = []string{"sad", "happy"}[i%2]
		r["doc"] = map[string]any{"k": "v"}
		r["created"] = "2024-01-02T03:04:05Z"
		r["precise"] = json.Number("1704164645")
		r["day"] = "2024-03-01"
	}
	if s := engineRun(t, db.DSN, p, pgThings, reconcile.ModeDiff, true); s.Changed != 300 {
		t.Fatalf("update run: want 300 changed, got %+v", *s)
	}
	inSync(t, "diff after updating", engineRun(t, db.DSN, p, pgThings, reconcile.ModeDiff, false), 300)
	if err := db.SQL.QueryRow(`SELECT amount::text, m::text FROM things WHERE id = 'th_001'`).Scan(&amount, &m); err != nil || amount != "11.00" || m != "happy" {
		t.Errorf("after update: amount=%s m=%s err=%v", amount, m, err)
	}
}

// numeric 10.50 written by the app equals the provider's 10.5; jsonb with
// other key order and spacing equals the provider's object.
func TestPostgresCanonicalValues(t *testing.T) {
	db := servertest.New(t, "postgres")
	db.Exec(t, pgTypedSchema+`;
		INSERT INTO things (id, amount, doc, raw, ok, big) VALUES ('th_1', 10.50, '{"b":1,   "a":["x",true,null]}', '{ "z" : "last", "a":2.5 }', true, 9007199254740993)`)
	tbl := &localstate.Table{Resource: "things", Fields: []localstate.Field{
		{Column: "amount", Path: "amount"}, {Column: "doc", Path: "doc"}, {Column: "raw", Path: "raw"}, {Column: "ok", Path: "ok"}, {Column: "big", Path: "big"}}}
	rec := thing("th_1", nil, "9007199254740993", "10.5", true, "happy")
	inSync(t, "app-written values", engineRun(t, db.DSN, &mapProvider{recs: []map[string]any{rec}}, tbl, reconcile.ModeDiff, false), 1)
	rec["big"] = json.Number("9007199254740992") // one less: float64 could not tell them apart
	if s := engineRun(t, db.DSN, &mapProvider{recs: []map[string]any{rec}}, tbl, reconcile.ModeDiff, false); s.Changed != 1 {
		t.Errorf("bigint must compare exactly beyond 2^53: %+v", *s)
	}
}

func wantErr(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: want an error, got none", what)
	}
	t.Logf("%s: %v", what, err)
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not say %q", what, err, p)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: want one line, got %q", what, err)
	}
}

// Tables and columns are validated with errors naming what exists; a table
// may be schema-qualified (table: billing.invoices) or found through
// schema:; quoted mixed-case names are found by their folded spelling.
func TestPostgresSchema(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE users (id text PRIMARY KEY, email text);
		CREATE TABLE "Orders" (id text PRIMARY KEY, total numeric);
		CREATE SCHEMA billing;
		CREATE TABLE billing.invoices (id bigint GENERATED ALWAYS AS IDENTITY, number text UNIQUE, amount numeric NOT NULL, cents bigint GENERATED ALWAYS AS ((amount * 100)::bigint) STORED);
		CREATE TABLE reconctl_runs (id bigint)`)
	st := openPGStore(t, db.DSN, localstate.OpenOptions{ReadOnly: true})

	_, err := st.Columns(ctx, &localstate.Table{Resource: "customers", Name: "nope"})
	wantErr(t, "missing table", err, `"nope"`, "Orders, users", "schema.table", "schema:")
	if err != nil && strings.Contains(err.Error(), "reconctl_runs") {
		t.Errorf("the journal's tables are not the app's: %v", err)
	}
	var se *localstate.SchemaError
	if !errors.As(err, &se) || se.Table != "nope" {
		t.Errorf("want a SchemaError for table nope, got %#v", err)
	}
	_, err = st.Columns(ctx, &localstate.Table{Resource: "users", Fields: []localstate.Field{{Column: "nope", Path: "x"}}})
	wantErr(t, "missing column", err, `"nope"`, `"users"`, "id, email")

	cols, err := st.Columns(ctx, &localstate.Table{Resource: "orders"})
	if err != nil || len(cols) != 1 || cols[0] != "total" {
		t.Errorf(`"Orders" by its folded name: %v, %v`, cols, err)
	}

	inv := &localstate.Table{Resource: "invoices", Name: "billing.invoices", Key: "number"}
	if cols, err := st.Columns(ctx, inv); err != nil || strings.Join(cols, ",") != "id,amount,cents" {
		t.Errorf("billing.invoices: %v, %v", cols, err)
	}
	_, err = st.Columns(ctx, &localstate.Table{Resource: "invoices", Name: "billing.nope"})
	wantErr(t, "missing table in a schema", err, `"billing.nope"`, "in schema billing", "billing.invoices")
	_, err = st.Columns(ctx, &localstate.Table{Resource: "invoices", Name: "nobody.invoices"})
	wantErr(t, "missing schema", err, `no schema "nobody"`, "billing", "public")
	_, err = st.Columns(ctx, &localstate.Table{Resource: "invoices"})
	wantErr(t, "a table outside the search path", err, `"invoices"`, "users", "another schema has it: billing.invoices")

	// schema: puts billing first in the search path.
	bst := openPGStore(t, db.DSN, localstate.OpenOptions{Server: localstate.ServerOptions{Schema: "billing"}})
	tbl := &localstate.Table{Resource: "invoices", Key: "number"}
	// Identity and generated columns are not required by a create.
	if err := bst.Apply(ctx, []localstate.Change{{Table: tbl, Op: localstate.OpCreate, Key: "INV-1", Values: map[string]any{"amount": json.Number("12.34")}}}); err != nil {
		t.Fatal(err)
	}
	var cents int64
	if err := db.SQL.QueryRow(`SELECT cents FROM billing.invoices WHERE number = 'INV-1'`).Scan(&cents); err != nil || cents != 1234 {
		t.Errorf("created invoice: cents=%d err=%v", cents, err)
	}
	if err := bst.Apply(ctx, []localstate.Change{{Table: tbl, Op: localstate.OpCreate, Key: "INV-2", Values: map[string]any{}}}); err == nil ||
		!strings.Contains(err.Error(), `"amount"`) {
		t.Errorf("a NOT NULL column without a default must be named: %v", err)
	}
}

// Soft delete with a timestamptz and a boolean column: the live-row
// condition is type-correct (no timestamptz = ”), a delete marks the row,
// a create revives it. Integer keys need no ” check either.
func TestPostgresSoftDelete(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE a (id text PRIMARY KEY, name text, deleted_at timestamptz);
		CREATE TABLE b (id bigint PRIMARY KEY, name text, is_deleted boolean NOT NULL DEFAULT false);
		INSERT INTO a VALUES ('a1', 'live', NULL), ('a2', 'gone', now());
		INSERT INTO b VALUES (1, 'live', false), (2, 'gone', true), (3, 'live too', false)`)
	ta := &localstate.Table{Resource: "a", SoftDelete: "deleted_at", Fields: []localstate.Field{{Column: "name", Path: "name"}}}
	tb := &localstate.Table{Resource: "b", SoftDelete: "is_deleted", Fields: []localstate.Field{{Column: "name", Path: "name"}}}
	keys := func(st localstate.Store, tbl *localstate.Table) string {
		var out []string
		if err := st.Scan(ctx, tbl, []string{"name"}, func(r localstate.Row) error { out = append(out, r.Key); return nil }); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		if n, err := st.Features().Count(ctx, tbl); err != nil || n != len(out) {
			t.Errorf("Count(%s) = %d, %v; Scan sees %d", tbl.Resource, n, err, len(out))
		}
		return strings.Join(out, ",")
	}
	st := openPGStore(t, db.DSN, localstate.OpenOptions{})
	if got := keys(st, ta); got != "a1" {
		t.Errorf("live a: %s", got)
	}
	if got := keys(st, tb); got != "1,3" {
		t.Errorf("live b: %s", got)
	}
	if _, ok, err := st.Get(ctx, tb, nil, "2"); ok || err != nil {
		t.Errorf("Get of a soft-deleted row: ok=%v err=%v", ok, err)
	}
	for _, k := range []string{"cus_1", "", "99999999999999999999"} {
		if _, ok, err := st.Get(ctx, tb, nil, k); ok || err != nil {
			t.Errorf("Get %q of an integer key: ok=%v err=%v, want absent", k, ok, err)
		}
	}
	err := st.Apply(ctx, []localstate.Change{
		{Table: ta, Op: localstate.OpDelete, Key: "a1"},
		{Table: ta, Op: localstate.OpCreate, Key: "a2", Values: map[string]any{"name": "back"}},
		{Table: tb, Op: localstate.OpDelete, Key: "1"},
		{Table: tb, Op: localstate.OpCreate, Key: "2", Values: map[string]any{"name": "back"}},
		{Table: tb, Op: localstate.OpUpdate, Key: "3", Values: map[string]any{"name": "changed"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(st, ta); got != "a2" {
		t.Errorf("live a after apply: %s", got)
	}
	if got := keys(st, tb); got != "2,3" {
		t.Errorf("live b after apply: %s", got)
	}
	var deletedAt time.Time
	var isDeleted bool
	if err := db.SQL.QueryRow(`SELECT deleted_at FROM a WHERE id = 'a1'`).Scan(&deletedAt); err != nil || time.Since(deletedAt) > time.Hour || time.Since(deletedAt) < -time.Hour {
		t.Errorf("a1 deleted_at = %v, %v", deletedAt, err)
	}
	if err := db.SQL.QueryRow(`SELECT is_deleted FROM b WHERE id = 1`).Scan(&isDeleted); err != nil || !isDeleted {
		t.Errorf("b 1 is_deleted = %v, %v", isDeleted, err)
	}
	// A delete of a row already deleted fails: the plan is stale.
	if err := st.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpDelete, Key: "1"}}); err == nil || !strings.Contains(err.Error(), "1") {
		t.Errorf("deleting a deleted row: %v", err)
	}
}

// KeyHealth: keyless rows and integer keys shared by several rows of a
// table without a unique key.
func TestPostgresKeyHealth(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE acc (id bigint, name text);
		INSERT INTO acc VALUES (1, 'a'), (1, 'b'), (NULL, 'c'), (2, 'd'), (3, 'e'), (3, 'f'), (3, 'g');
		CREATE TABLE t (id text, name text);
		INSERT INTO t VALUES ('abc', 'x'), ('ABC', 'y'), ('', 'z'), (NULL, 'w')`)
	st := openPGStore(t, db.DSN, localstate.OpenOptions{ReadOnly: true})
	kh, err := st.Features().KeyHealth(ctx, &localstate.Table{Resource: "acc"})
	if err != nil || kh.NullKeys != 1 || kh.Duplicates != 3 || kh.Keys != 2 || strings.Join(kh.Sample, ",") != "3,1" {
		t.Errorf("acc: %+v, %v", kh, err)
	}
	// Postgres compares text exactly: abc and ABC are two keys; '' and NULL have none.
	kh, err = st.Features().KeyHealth(ctx, &localstate.Table{Resource: "t"})
	if err != nil || kh.NullKeys != 2 || kh.Duplicates != 0 {
		t.Errorf("t: %+v, %v", kh, err)
	}
	if st.Features().KeyIndexed(ctx, &localstate.Table{Resource: "acc"}) {
		t.Error("acc has no index on id")
	}
}

// A bad row in the middle of a batch (an enum value the type lacks) fails
// the whole Apply with the server's reason; nothing is written.
func TestPostgresAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TYPE mood AS ENUM ('happy', 'sad');
		CREATE TABLE p (id text PRIMARY KEY, m mood);
		INSERT INTO p VALUES ('keep', 'happy')`)
	tbl := &localstate.Table{Resource: "p"}
	var changes []localstate.Change
	for i := range 2500 {
		m := "sad"
		if i == 1500 {
			m = "angry"
		}
		changes = append(changes, localstate.Change{Table: tbl, Op: localstate.OpCreate, Key: fmt.Sprintf("p%04d", i), Values: map[string]any{"m": m}})
	}
	changes = append(changes, localstate.Change{Table: tbl, Op: localstate.OpUpdate, Key: "keep", Values: map[string]any{"m": "sad"}})
	st := openPGStore(t, db.DSN, localstate.OpenOptions{})
	err := st.Apply(ctx, changes)
	wantErr(t, "a bad enum value", err, "angry", "mood", "p1000 to p1999", "nothing was written")
	var n int
	var m string
	if err := db.SQL.QueryRow(`SELECT count(*), max(m::text) FROM p`).Scan(&n, &m); err != nil || n != 1 || m != "happy" {
		t.Errorf("after the failed apply: %d rows, m=%s, %v", n, m, err)
	}
	// The same through a Tx: the failure leaves the transaction to roll back.
	tx, err := st.Features().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(ctx, changes); err == nil {
		t.Error("Tx.Apply of a bad batch must fail")
	}
	tx.Rollback()
	if err := db.SQL.QueryRow(`SELECT count(*) FROM p`).Scan(&n); err != nil || n != 1 {
		t.Errorf("after the rolled back Tx: %d rows, %v", n, err)
	}
}

// A read-only store reads one moment: a writer that commits while a Scan
// streams, between a Scan and a Get, or between two tables, is not seen;
// Apply refuses.
func TestPostgresReadOnlySnapshot(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE big (id text PRIMARY KEY, v text);
		INSERT INTO big SELECT 'k' || lpad(i::text, 5, '0'), 'old' FROM generate_series(1, 5000) AS i;
		CREATE TABLE other (id text PRIMARY KEY, v text);
		INSERT INTO other VALUES ('o1', 'old')`)
	st := openPGStore(t, db.DSN, localstate.OpenOptions{ReadOnly: true})
	big := &localstate.Table{Resource: "big"}
	other := &localstate.Table{Resource: "other"}
	n, wrote := 0, false
	err := st.Scan(ctx, big, []string{"v"}, func(r localstate.Row) error {
		n++
		if r.Values[0] != "old" {
			t.Fatalf("row %s = %v during the scan", r.Key, r.Values[0])
		}
		if !wrote {
			wrote = true
			db.Exec(t, `UPDATE big SET v = 'new'; INSERT INTO big VALUES ('k99999', 'new'); UPDATE other SET v = 'new'; INSERT INTO other VALUES ('o2', 'new')`)
			// A Get while the Scan streams sees the same moment.
			row, ok, err := st.Get(ctx, big, []string{"v"}, "k05000")
			if err != nil || !ok || row.Values[0] != "old" {
				t.Fatalf("Get during the scan: %v %v %v", row.Values, ok, err)
			}
			if _, ok, err := st.Get(ctx, big, []string{"v"}, "k99999"); ok || err != nil {
				t.Fatalf("Get of a row inserted after the snapshot: ok=%v err=%v", ok, err)
			}
			if c, err := st.Features().Count(ctx, big); err != nil || c != 5000 {
				t.Fatalf("Count during the scan: %d, %v", c, err)
			}
		}
		return nil
	})
	if err != nil || n != 5000 {
		t.Fatalf("Scan: %d rows, %v", n, err)
	}
	got := map[string]any{}
	if err := st.Scan(ctx, other, []string{"v"}, func(r localstate.Row) error { got[r.Key] = r.Values[0]; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["o1"] != "old" {
		t.Errorf("the second table must be read at the same moment: %v", got)
	}
	// Its schema too was never read before the write: still the snapshot.
	if kh, err := st.Features().KeyHealth(ctx, other); err != nil || kh.NullKeys != 0 {
		t.Errorf("KeyHealth: %+v %v", kh, err)
	}
	err = st.Apply(ctx, []localstate.Change{{Table: other, Op: localstate.OpUpdate, Key: "o1", Values: map[string]any{"v": "x"}}})
	if !errors.Is(err, localstate.ErrReadOnly) {
		t.Errorf("Apply on a read-only store: %v", err)
	}
	// A fresh store sees the writes.
	fresh := openPGStore(t, db.DSN, localstate.OpenOptions{ReadOnly: true})
	if c, err := fresh.Features().Count(ctx, big); err != nil || c != 5001 {
		t.Errorf("a new read-only store: Count = %d, %v", c, err)
	}
	// The snapshot's transactions end with Close (the server ends the
	// sessions themselves a moment later).
	inTx := func() int {
		var n int
		if err := db.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'reconctl' AND state = 'idle in transaction'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := inTx(); n < 2 {
		t.Errorf("before Close: %d snapshot transactions open, want the scan's and the Get's", n)
	}
	st.Close()
	fresh.Close()
	if n := inTx(); n != 0 {
		t.Errorf("after Close: %d snapshot transactions still open", n)
	}
}

// A row another session holds locked: Apply waits at most BusyTimeout
// (lock_timeout), then fails with one clear line and writes nothing; when
// the holder commits within the wait, Apply goes through.
func TestPostgresBusy(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE plain (id text PRIMARY KEY, v text); INSERT INTO plain VALUES ('p1', 'one'), ('p2', 'two')`)
	tbl := &localstate.Table{Resource: "plain"}
	changes := []localstate.Change{
		{Table: tbl, Op: localstate.OpCreate, Key: "p3", Values: map[string]any{"v": "three"}},
		{Table: tbl, Op: localstate.OpUpdate, Key: "p2", Values: map[string]any{"v": "deux"}},
	}
	hold := func() *sql.Tx {
		tx, err := db.SQL.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(`SELECT * FROM plain WHERE id = 'p2' FOR UPDATE`); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	holder := hold()
	st := openPGStore(t, db.DSN, localstate.OpenOptions{BusyTimeout: 200 * time.Millisecond})
	err := st.Apply(ctx, changes)
	wantErr(t, "a locked row", err, "locked by another session", "200ms", "nothing was written")
	holder.Rollback()
	var n int
	if err := db.SQL.QueryRow(`SELECT count(*) FROM plain WHERE id = 'p3' OR v = 'deux'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after the failed apply: %d rows written, %v", n, err)
	}

	// The holder commits while Apply waits: Apply succeeds.
	holder = hold()
	wait := openPGStore(t, db.DSN, localstate.OpenOptions{BusyTimeout: time.Hour})
	done := make(chan error, 1)
	go func() { done <- wait.Apply(ctx, changes) }()
	waitLockWait(t, db, done)
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Apply after the holder committed: %v", err)
	}
	if err := db.SQL.QueryRow(`SELECT count(*) FROM plain WHERE id = 'p3' OR v = 'deux'`).Scan(&n); err != nil || n != 2 {
		t.Errorf("after the apply: %d rows written, %v", n, err)
	}
}

// Opening: a password in the DSN works and never shows; a missing database
// or a server that does not answer is one line saying what to do.
func TestPostgresOpen(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TABLE plain (id text PRIMARY KEY, v text)`)
	u, err := url.Parse(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret-pw")
	withPW := u.String()
	st := openPGStore(t, withPW, localstate.OpenOptions{})
	if st.Kind() != "postgres" {
		t.Errorf("Kind = %q", st.Kind())
	}
	if red := localstate.RedactLocation(st.Path()); strings.Contains(red, "s3cret") || !strings.Contains(red, ":***@") {
		t.Errorf("RedactLocation(Path()) = %q", red)
	}
	_, err = st.Columns(ctx, &localstate.Table{Resource: "nope"})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), ":***@") {
		t.Errorf("an error of a store opened with a password: %v", err)
	}

	u.Path = "/" + servertest.Name("missing")
	_, err = localstate.Open(ctx, u.String(), localstate.OpenOptions{})
	wantErr(t, "missing database", err, "does not exist", "check the database name", ":***@")
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the password leaked: %v", err)
	}
	_, err = localstate.Open(ctx, "postgres://app:s3cret-pw@127.0.0.1:1/app?sslmode=disable", localstate.OpenOptions{})
	wantErr(t, "nothing listening", err, "no PostgreSQL server answers at 127.0.0.1:1", "app:***@")
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the password leaked: %v", err)
	}
	ro := openPGStore(t, withPW, localstate.OpenOptions{ReadOnly: true})
	err = ro.Apply(ctx, []localstate.Change{{Table: &localstate.Table{Resource: "plain"}, Op: localstate.OpDelete, Key: "x"}})
	if !errors.Is(err, localstate.ErrReadOnly) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Apply on a read-only store opened with a password: %v", err)
	}
	_, err = localstate.Open(ctx, db.DSN, localstate.OpenOptions{Server: localstate.ServerOptions{PasswordEnv: "RECONCTL_TEST_UNSET_PW"}})
	wantErr(t, "password_env unset", err, "RECONCTL_TEST_UNSET_PW", "not set")
}

// A deadlock victim is rolled back whole by the server: Apply runs the
// transaction again from the start and succeeds. The other session waits
// an hour before checking for deadlocks, so Apply's session is the victim.
func TestPostgresDeadlockRetried(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	// No unique key: the writer updates row by row, p1 then p2.
	db.Exec(t, `CREATE TABLE plain (id text, v text); INSERT INTO plain VALUES ('p1', 'one'), ('p2', 'two')`)
	tbl := &localstate.Table{Resource: "plain"}
	holder, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.Exec(`SET LOCAL deadlock_timeout = '1h'`); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(`UPDATE plain SET v = 'holder' WHERE id = 'p2'`); err != nil {
		t.Fatal(err)
	}
	st := openPGStore(t, db.DSN, localstate.OpenOptions{BusyTimeout: time.Hour})
	done := make(chan error, 1)
	go func() {
		done <- st.Apply(ctx, []localstate.Change{
			{Table: tbl, Op: localstate.OpUpdate, Key: "p1", Values: map[string]any{"v": "uno"}},
			{Table: tbl, Op: localstate.OpUpdate, Key: "p2", Values: map[string]any{"v": "dos"}},
		})
	}()
	waitLockWait(t, db, done)
	// The holder now waits for p1, which Apply holds: a deadlock, which
	// Apply's session detects after its deadlock_timeout (1s).
	if _, err := holder.Exec(`UPDATE plain SET v = 'holder' WHERE id = 'p1'`); err != nil {
		t.Fatalf("the holder must not be the victim: %v", err)
	}
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Apply after a deadlock: %v", err)
	}
	var got string
	if err := db.SQL.QueryRow(`SELECT string_agg(v, ',' ORDER BY id) FROM plain`).Scan(&got); err != nil || got != "uno,dos" {
		t.Errorf("rows = %s, %v; want Apply's values, written after the holder's", got, err)
	}
}

// waitLockWait returns once a reconctl session of db waits for a lock.
func waitLockWait(t *testing.T, db *servertest.DB, done chan error) {
	t.Helper()
	for {
		var waiting int
		if err := db.SQL.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'reconctl' AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("Apply returned before waiting for the lock: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
