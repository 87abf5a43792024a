package localstate

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestPGArrays: a Postgres update batch goes through one text[] per column
// (UPDATE … FROM unnest), each element cast to its column's type; a bytea
// column or a value without a faithful text form keeps the VALUES statement.
func TestPGArrays(t *testing.T) {
	d := pgDialect{}
	key := &column{name: "k", declType: "INT8", udt: "int8"}
	num := &column{name: "n", declType: "FLOAT8", udt: "float8"}
	ts := &column{name: "t", declType: "TIMESTAMPTZ", udt: "timestamptz"}
	at := time.Date(2024, 1, 2, 3, 4, 5, 999999999, time.UTC)
	out, ok := d.arrays([]*column{key, num, ts}, []any{"1", math.Inf(1), at, "2", nil, nil}, 2, nil)
	if !ok || len(out) != 3 {
		t.Fatalf("arrays = %v, %v", out, ok)
	}
	want := [][]pgtype.Text{
		{{String: "1", Valid: true}, {String: "2", Valid: true}},
		{{String: "Infinity", Valid: true}, {}},
		{{String: "2024-01-02T03:04:05.999999Z", Valid: true}, {}},
	}
	for j := range want {
		got := out[j].([]pgtype.Text)
		if len(got) != 2 || got[0] != want[j][0] || got[1] != want[j][1] {
			t.Errorf("column %d = %v, want %v", j, got, want[j])
		}
	}
	q := d.updateArrays(`"t"`, `"k"`, []string{`"n"`, `"t"`}, []*column{key, num, ts}, "")
	if !strings.Contains(q, `unnest($1::text[], $2::text[], $3::text[])`) || !strings.Contains(q, `"n" = reconctl_v.reconctl_c2::float8`) ||
		!strings.Contains(q, `"t"."k" = reconctl_v.reconctl_c1::int8`) || strings.Contains(q, "$4") {
		t.Errorf("updateArrays = %s", q)
	}
	bin := &column{name: "b", declType: "BYTEA", udt: "bytea"}
	if _, ok := d.arrays([]*column{key, bin}, []any{"1", "\\x00", "2", nil}, 2, nil); ok {
		t.Error("a bytea column must keep the VALUES statement")
	}
	if _, ok := d.arrays([]*column{key, num}, []any{"1", []byte("x"), "2", nil}, 2, nil); ok {
		t.Error("a []byte value must keep the VALUES statement")
	}
	if _, ok := d.arrays([]*column{key, num}, []any{"1", "a\x00b", "2", nil}, 2, nil); ok {
		t.Error("a NUL byte must keep the VALUES statement")
	}
}
