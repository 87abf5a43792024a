package localstate_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
)

// TestPostgresArrayUpdateMatchesValues: a batch of updates (UPDATE … FROM
// unnest of one array per column) stores every type exactly as a lone
// update (UPDATE … FROM VALUES) does: the rows written each way read back
// the same, value for value, NULLs included; a missing row still fails the
// whole batch, named.
func TestPostgresArrayUpdateMatchesValues(t *testing.T) {
	db := servertest.New(t, "postgres")
	db.Exec(t, `CREATE TYPE mood AS ENUM ('happy', 'sad');
		CREATE TABLE t (k bigint PRIMARY KEY, s text, vc varchar(8), i int4, big int8, f float8, r float4, n numeric(12,3), b bool,
			ts timestamptz, tn timestamp, d date, j jsonb, js json, m mood, bin bytea, del timestamptz);
		INSERT INTO t (k) SELECT g FROM generate_series(1, 6) g;`)
	tbl := &localstate.Table{Resource: "t", Name: "t", Key: "k", SoftDelete: "del"}
	at := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("x", 3600))
	vals := []map[string]any{
		{"s": "a'b\"c\\d,{}", "vc": "short", "i": json.Number("-7"), "big": json.Number("9007199254740993"), "f": json.Number("0.1"),
			"r": 1.25, "n": json.Number("10.5"), "b": true, "ts": at, "tn": "2024-02-29T23:59:58.5Z", "d": "2024-02-29T10:00:00Z",
			"j": map[string]any{"b": 1, "a": []any{"x", true, nil}}, "js": []any{1, "two"}, "m": "sad"},
		{"s": nil, "vc": "", "i": int64(0), "big": nil, "f": math.Inf(-1), "r": nil, "n": nil, "b": false, "ts": nil, "tn": nil,
			"d": nil, "j": nil, "js": nil, "m": nil},
		{"s": "NULL", "vc": "x", "i": 3.0, "big": int64(math.MinInt64), "f": 1e300, "r": float32(0.1), "n": json.Number("-0.001"), "b": json.Number("1"),
			"ts": "1970-01-01T00:00:00Z", "tn": json.Number("1700000000"), "d": "0001-01-01", "j": "plain", "js": json.Number("12.50"), "m": "happy"},
	}
	st, err := localstate.Open(context.Background(), db.DSN, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	keys := []string{"1", "2", "3"}
	for i, v := range vals { // one at a time: the VALUES statement
		if err := st.Apply(ctx, []localstate.Change{{Table: tbl, Op: localstate.OpUpdate, Key: keys[i], Values: v}}); err != nil {
			t.Fatalf("lone update %d: %v", i, err)
		}
	}
	var batch []localstate.Change // together: the arrays
	for i, v := range vals {
		batch = append(batch, localstate.Change{Table: tbl, Op: localstate.OpUpdate, Key: []string{"4", "5", "6"}[i], Values: v})
	}
	if err := st.Apply(ctx, batch); err != nil {
		t.Fatalf("batched update: %v", err)
	}
	rows, err := db.SQL.Query(`SELECT x.k, to_jsonb(x) - 'k', to_jsonb(y) - 'k' FROM t x JOIN t y ON y.k = x.k + 3 WHERE x.k <= 3 ORDER BY x.k`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var k int
		var lone, batched string
		if err := rows.Scan(&k, &lone, &batched); err != nil {
			t.Fatal(err)
		}
		got++
		if lone != batched {
			t.Errorf("row %d: lone update stored %s, batched %s", k, lone, batched)
		}
		if k == 1 && !strings.Contains(lone, `"ts": "2024-02-29T22:59:58.123456+00:00"`) {
			t.Errorf("row 1: %s", lone)
		}
	}
	if got != 3 {
		t.Fatalf("%d rows compared", got)
	}

	// A batch naming a row that is not there writes nothing and names it.
	db.Exec(t, `UPDATE t SET del = now() WHERE k = 5`)
	batch[0].Values = map[string]any{"s": "changed"}
	batch[1].Values = map[string]any{"s": "changed"}
	batch[2].Values = map[string]any{"s": "changed"}
	err = st.Apply(ctx, batch)
	if err == nil || !strings.Contains(err.Error(), `"5"`) {
		t.Fatalf("update of a soft-deleted row: %v", err)
	}
	var n int
	if err := db.SQL.QueryRow(`SELECT count(*) FROM t WHERE s = 'changed'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows changed (%v), want none", n, err)
	}
}
