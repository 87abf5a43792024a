package file

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/providers"
)

func collect(t *testing.T, list func(fn func(providers.Record) error) error) []providers.Record {
	t.Helper()
	var out []providers.Record
	if err := list(func(r providers.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// ListPaths lists what List lists, keeping only the asked paths (and id
// and updated_at): a null stays null, an absent path stays absent.
func TestListPathsKeepsOnlyThePaths(t *testing.T) {
	content := `{"customers": [
    {"id": "cus_1", "email": "ann@example.com", "balance": 1200, "updated": 1700000000, "big": {"x": [1, 2, 3]}},
    {"id": "cus_2", "email": null, "metadata": {"plan": "pro", "other": "o"}, "updated_at": "2026-11-20T10:00:00Z"},
    {"id": 3, "metadata": {}, "updated_at": 1700000000123}
  ]}`
	p := open(t, writeExport(t, content))
	ctx := context.Background()
	whole := collect(t, func(fn func(providers.Record) error) error { return p.List(ctx, "customers", fn) })
	if providers.FeaturesOf(p).Paths == nil {
		t.Fatal("the file provider does not offer ListPaths")
	}
	paths := [][]string{{"email"}, {"metadata", "plan"}}
	picked := collect(t, func(fn func(providers.Record) error) error { return p.ListPaths(ctx, "customers", paths, fn) })
	if len(picked) != len(whole) {
		t.Fatalf("%d records, List gave %d", len(picked), len(whole))
	}
	for i, w := range whole {
		g := picked[i]
		if g.ID != w.ID || !g.UpdatedAt.Equal(w.UpdatedAt) {
			t.Errorf("#%d: %s %v, List: %s %v", i, g.ID, g.UpdatedAt, w.ID, w.UpdatedAt)
		}
		for _, k := range []string{"big", "balance"} {
			if _, ok := g.Data[k]; ok {
				t.Errorf("#%d kept unmapped %q", i, k)
			}
		}
		for _, path := range paths {
			gv, gok := lookup(g.Data, path)
			wv, wok := lookup(w.Data, path)
			if gok != wok || !reflect.DeepEqual(gv, wv) {
				t.Errorf("#%d %v: %#v %v, List: %#v %v", i, path, gv, gok, wv, wok)
			}
		}
	}
	if v, ok := picked[1].Data["email"]; !ok || v != nil {
		t.Errorf("a null email reads %v, %v", v, ok)
	}
	// The listing's index answers Gets as before.
	if _, st, err := p.Get(ctx, "customers", "cus_2"); err != nil || st != providers.StatusPresent {
		t.Errorf("Get cus_2: %v %v", st, err)
	}
	if _, st, err := p.Get(ctx, "customers", "cus_9"); err != nil || st != providers.StatusDeleted {
		t.Errorf("Get cus_9: %v %v", st, err)
	}
}

func lookup(m map[string]any, path []string) (any, bool) {
	var cur any = m
	for _, s := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[s]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// An export the fast decoder refuses is read by encoding/json: the records
// before the problem are delivered once each and the error is List's.
func TestListPathsErrorsReadAsList(t *testing.T) {
	content := "{\"customers\": [\n {\"id\": \"a\"},\n {\"id\": \"b\", \"x\": tru}\n]}"
	p := open(t, writeExport(t, content))
	ctx := context.Background()
	var ids []string
	errList := p.List(ctx, "customers", func(r providers.Record) error { ids = append(ids, r.ID); return nil })
	var pids []string
	errPaths := p.ListPaths(ctx, "customers", [][]string{{"email"}}, func(r providers.Record) error { pids = append(pids, r.ID); return nil })
	if errList == nil || fmt.Sprint(errList) != fmt.Sprint(errPaths) || strings.Join(ids, ",") != "a" || strings.Join(pids, ",") != "a" {
		t.Fatalf("List: %v %v; ListPaths: %v %v", ids, errList, pids, errPaths)
	}
	if !strings.Contains(errList.Error(), ":3:") {
		t.Errorf("error not positioned on line 3: %v", errList)
	}
}

// The listing's hash index spans blocks: a hash found once is answered, one
// found twice (in one block or two) sends the Get to the exact index.
func TestHashIndexBlocks(t *testing.T) {
	h := &hashIndex{}
	n := 2*hashBlock + 10
	for i := range n {
		h.add(uint64(i)*2+1, int64(i))
	}
	h.add(7, 99)            // again, in the last block: hash of record 3
	h.add(uint64(n)*2+1, 5) // new
	h.add(uint64(n)*2+1, 6) // twice in one block
	if len(h.blocks) != 3 {
		t.Fatalf("%d blocks", len(h.blocks))
	}
	for _, c := range []struct {
		hash     uint64
		off      int64
		ok, many bool
	}{{1, 0, true, false}, {uint64(hashBlock+5)*2 + 1, hashBlock + 5, true, false}, {7, 0, true, true},
		{uint64(n)*2 + 1, 0, true, true}, {2, 0, false, false}, {uint64(n)*2 + 3, 0, false, false}} {
		off, ok, many := h.find(c.hash)
		if ok != c.ok || many != c.many || ok && !many && off != c.off {
			t.Errorf("find(%d) = %d %v %v, want %d %v %v", c.hash, off, ok, many, c.off, c.ok, c.many)
		}
	}
}

// Hashes spread over the whole range (as maphash's are) land in many
// buckets; every one is found with its offset, a repeated one says many,
// and an absent one is not found.
func TestHashIndexBuckets(t *testing.T) {
	h := &hashIndex{}
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[uint64]int64{}
	count := map[uint64]int{}
	for i := range 3*hashBlock + 17 {
		x := rng.Uint64()
		h.add(x, int64(i))
		want[x] = int64(i)
		count[x]++
	}
	var first uint64
	for x := range want {
		first = x
		break
	}
	h.add(first, -1) // one hash twice
	count[first]++
	for x, off := range want {
		got, ok, many := h.find(x)
		if !ok || many != (count[x] > 1) || !many && got != off {
			t.Fatalf("find(%#x) = %d %v %v, want %d true %v", x, got, ok, many, off, count[x] > 1)
		}
	}
	for range 1000 {
		x := rng.Uint64()
		if _, in := want[x]; in {
			continue
		}
		if _, ok, _ := h.find(x); ok {
			t.Fatalf("find(%#x) found a hash never added", x)
		}
	}
}
