package reconcile

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
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
		var ver localstate.RowVersion                                  // every other rewrite has a version, some large
		if i%2 == 1 {
			ver = localstate.RowVersion{Loc: uint64(i)<<16 | uint64(i%300), Xact: uint32(i) * 2654435761}
		}
		f.add(key, cs, uint64(i)*0x9e3779b97f4a7c15, int64(i)-1500, ver, vals)
		want = append(want, pending{op: "update", key: key, cols: f.colSets[cs], vals: vals, drift: -1, cond: condRow, hash: uint64(i) * 0x9e3779b97f4a7c15, upd: int64(i) - 1500, ver: ver})
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

// TestForcePlanKeyPrefixes: keys stored as the prefix they share with
// the key before come back whole, whatever they share: nothing, all of
// it, a prefix of the one before, part of a multi-byte character.
func TestForcePlanKeyPrefixes(t *testing.T) {
	keys := []string{"b", "ba", "b", "", "abc", "abd", "abd", "ab", "zz", "é1", "è2", "è", "cus_100000009", "cus_100000010", "cus_99"}
	f := &forcePlan{colSets: [][]string{{"email"}}}
	for i, k := range keys {
		f.add(k, 0, uint64(i), 0, localstate.RowVersion{}, []any{"v" + k})
	}
	var got []string
	r := f.reader()
	var p pending
	for r.next(&p, nil) {
		if p.vals[0] != "v"+p.key {
			t.Errorf("key %q has value %q", p.key, p.vals[0])
		}
		got = append(got, p.key)
	}
	if !reflect.DeepEqual(got, keys) {
		t.Fatalf("keys = %q, want %q", got, keys)
	}
}

// TestForcePlanFilter: filter drops the columns keep refuses, and the
// rewrites left with none; a filter that keeps everything keeps the plan.
func TestForcePlanFilter(t *testing.T) {
	f := &forcePlan{colSets: [][]string{{"email", "name"}}}
	f.add("k1", 0, 1, 10, localstate.RowVersion{}, []any{"a@x", "A"})
	f.add("k2", 0, 2, 20, localstate.RowVersion{}, []any{"b@x", "B"})
	f.add("k3", 0, 3, 30, localstate.RowVersion{}, []any{"c@x", "C"})
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

// TestForceRewritesAcrossChunks: --force rewrites of more records than one
// apply chunk holds are all written, in plan order, from the compact plan:
// a row the app changed meanwhile is a conflict and keeps the app's value,
// an ignored column is not rewritten, and the other fixes land too.
func TestForceRewritesAcrossChunks(t *testing.T) {
	ctx := context.Background()
	const n = 2*applyChunk + 100
	path := filepath.Join(t.TempDir(), "app.db")
	var sb strings.Builder
	sb.WriteString(`INSERT INTO users VALUES ('cus_gone', 'G@X', 'free')`)
	var recs []providers.Record
	for i := range n {
		id := fmt.Sprintf("cus_%05d", i)
		// In sync under casefold: the rewrite writes the provider's spelling.
		fmt.Fprintf(&sb, ", ('%s', 'USER%d@X', 'free')", id, i)
		plan := "free"
		if i == 5 {
			plan = "pro" // changed
		}
		recs = append(recs, rec(id, fmt.Sprintf(`{"email":"user%d@x","plan":%q}`, i, plan)))
	}
	recs = append(recs, rec("cus_new", `{"email":"new@x","plan":"team"}`))
	if err := localstate.CreateSQLite(ctx, path, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, plan TEXT)`, sb.String()); err != nil {
		t.Fatal(err)
	}
	store, err := localstate.Open(ctx, path, localstate.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p := &memProvider{records: map[string][]providers.Record{"customers": recs}, gets: map[string]providers.RemoteStatus{"cus_gone": providers.StatusDeleted}}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Fields: []localstate.Field{
		{Column: "email", Path: "email", Compare: localstate.CompareCasefold}, {Column: "plan", Path: "plan"}}}
	e, res := compare(t, p, store, tbl, ModeResyncForce)
	if got, want := res.PlannedWrites(), n+2; got != want {
		t.Fatalf("planned writes = %d, want %d", got, want)
	}
	res.Ignore([]IgnoreRule{{Resource: "customers", ID: "cus_00007", Field: "email"}})
	app, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, err := app.Exec(`UPDATE users SET email = 'app@x' WHERE id = 'cus_09000'`); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ctx, res); err != nil {
		t.Fatal(err)
	}
	if c := res.Conflicts(); c != 1 {
		t.Errorf("conflicts = %d, want 1 (the row the app wrote)", c)
	}
	rows, err := app.Query(`SELECT id, email, plan FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var id, email, plan string
		if err := rows.Scan(&id, &email, &plan); err != nil {
			t.Fatal(err)
		}
		got++
		want := ""
		switch id {
		case "cus_new":
			want = "new@x/team"
		case "cus_09000":
			want = "app@x/free"
		case "cus_00007":
			want = "USER7@X/free"
		case "cus_00005":
			want = "user5@x/pro"
		default:
			var i int
			fmt.Sscanf(id, "cus_%d", &i)
			want = fmt.Sprintf("user%d@x/free", i)
		}
		if email+"/"+plan != want {
			t.Fatalf("%s = %s/%s, want %s", id, email, plan, want)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got != n+1 {
		t.Fatalf("%d rows, want %d (cus_gone deleted, cus_new created)", got, n+1)
	}
}
