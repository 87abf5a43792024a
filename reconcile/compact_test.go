package reconcile

import (
	"encoding/json"
	"reflect"
	"strconv"
	"testing"
)

// TestForcePlanRoundTrip: every kind of value a plan writes comes back
// from the compact plan as it went in, with its key, columns, hash and
// updated_at, in order, across blocks.
func TestForcePlanRoundTrip(t *testing.T) {
	obj := map[string]any{"a": []any{json.Number("1"), "x"}}
	f := &forcePlan{colSets: [][]string{{"a", "b", "c", "d", "e", "f", "g", "h", "i"}, {"a"}}}
	want := []pending{}
	for i := range 3000 {
		vals := []any{nil, "s" + strconv.Itoa(i), json.Number("12.5e3"), 2.25, true, false, int64(-i), obj, ""}
		cs := 0
		if i%7 == 3 {
			vals, cs = vals[1:2], 1
		}
		key := "cus_" + strconv.Itoa(i) + string(make([]byte, i%3000)) // some large records: several blocks
		f.add(key, cs, uint64(i)*0x9e3779b97f4a7c15, int64(i)-1500, vals)
		want = append(want, pending{op: "update", key: key, cols: f.colSets[cs], vals: vals, drift: -1, cond: condRow, hash: uint64(i) * 0x9e3779b97f4a7c15, upd: int64(i) - 1500})
	}
	if len(f.blocks) < 2 {
		t.Fatalf("%d blocks: the test should cross a block boundary", len(f.blocks))
	}
	if f.len() != len(want) {
		t.Fatalf("len = %d, want %d", f.len(), len(want))
	}
	r := f.reader()
	var p pending
	var buf []any
	for i := range want {
		if !r.next(&p, buf) {
			t.Fatalf("ended after %d of %d", i, len(want))
		}
		buf = p.vals
		if !reflect.DeepEqual(p, want[i]) {
			t.Fatalf("rewrite %d = %+v, want %+v", i, p, want[i])
		}
	}
	if r.next(&p, buf) {
		t.Fatal("a rewrite after the last")
	}
	var none *forcePlan
	if r := none.reader(); none.len() != 0 || r.next(&p, nil) {
		t.Fatal("a nil plan has rewrites")
	}
}

// TestForcePlanFilter: filter drops the columns keep refuses, and the
// rewrites left with none; a filter that keeps everything keeps the plan.
func TestForcePlanFilter(t *testing.T) {
	f := &forcePlan{colSets: [][]string{{"email", "name"}}}
	f.add("k1", 0, 1, 10, []any{"a@x", "A"})
	f.add("k2", 0, 2, 20, []any{"b@x", "B"})
	f.add("k3", 0, 3, 30, []any{"c@x", "C"})
	if g := f.filter(func(key, col string) bool { return true }); g != f {
		t.Fatal("a filter that keeps every column copied the plan")
	}
	g := f.filter(func(key, col string) bool { return key == "k3" || (key == "k1" && col == "name") })
	var got []string
	r := g.reader()
	var p pending
	for r.next(&p, nil) {
		got = append(got, p.key+":"+strconv.Quote(p.cols[0])+"="+p.vals[0].(string)+"/"+strconv.Itoa(len(p.cols))+"/"+strconv.FormatUint(p.hash, 10)+"/"+strconv.FormatInt(p.upd, 10))
	}
	want := []string{`k1:"name"=A/1/1/10`, `k3:"email"=c@x/2/3/30`}
	if !reflect.DeepEqual(got, want) || g.len() != 2 {
		t.Fatalf("filtered = %q (len %d), want %q", got, g.len(), want)
	}
}
