package localstate_test

import (
	"context"
	"encoding/json"
	"fmt"
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
