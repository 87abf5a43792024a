package replay

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// TestPayloadAnswersAsTheObject: the values an event keeps of its object
// answer every mapped path exactly as reconcile.Lookup does on the whole
// object (present, null, absent, nested, list index, through a scalar);
// ignored events keep nothing, automatic mappings keep the object.
func TestPayloadAnswersAsTheObject(t *testing.T) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(`{"id":"cus_1","email":"a@example.com","name":null,"big":"`+strings.Repeat("x", 1000)+`",
		"metadata":{"plan":"pro","tier":{"n":2},"other":"drop"},
		"items":[{"price":1},{"price":2,"q":3}],"address":"a string, not an object"}`), &obj); err != nil {
		t.Fatal(err)
	}
	paths := []string{"email", "name", "missing", "metadata.plan", "metadata.tier", "metadata.tier.n", "items.1.price", "items.7.price", "address.city", "metadata.plan"}
	var fields []localstate.Field
	for i, p := range paths {
		fields = append(fields, localstate.Field{Column: "c" + string(rune('a'+i)), Path: p})
	}
	tables := map[string]*localstate.Table{"customers": {Resource: "customers", Fields: fields}, "auto": {Resource: "auto"}}
	p := newProjector(func(r string) *localstate.Table { return tables[r] }, []string{"customers", "auto"})
	if p.keepsObject("customers") || p.keepsObject("invoices") || !p.keepsObject("auto") {
		t.Fatalf("keepsObject: customers %v, invoices %v, auto %v", p.keepsObject("customers"), p.keepsObject("invoices"), p.keepsObject("auto"))
	}
	pl := p.compact("customers", obj)
	if pl == nil || len(pl.vals) != len(paths)-1 {
		t.Fatalf("payload %+v: want one value per distinct mapped path", pl)
	}
	e := providers.Event{} // no object: the payload answers
	for _, path := range paths {
		wv, wok := reconcile.Lookup(obj, strings.Split(path, "."))
		gv, gok := lookup(&e, pl, path)
		if wok != gok || !reflect.DeepEqual(wv, gv) {
			t.Errorf("%s: whole object (%v, %v), payload (%v, %v)", path, wv, wok, gv, gok)
		}
	}
	if _, ok := lookup(&e, pl, "big"); ok {
		t.Error("an unmapped path answered from the payload")
	}
	if p.compact("invoices", obj) != nil || p.compact("auto", obj) != nil {
		t.Error("a payload for an ignored or automatically mapped resource")
	}
	// Without a payload, lookup reads the object.
	if v, ok := lookup(&providers.Event{Object: obj}, nil, "metadata.plan"); !ok || v != "pro" {
		t.Errorf("object lookup: %v %v", v, ok)
	}
}

// TestAllPaths: the event source is asked for the mapped paths of every
// configured resource, or for whole objects when one maps automatically.
func TestAllPaths(t *testing.T) {
	tables := map[string]*localstate.Table{
		"customers":     {Resource: "customers", Fields: []localstate.Field{{Column: "email", Path: "email"}, {Column: "plan", Path: "metadata.plan"}, {Column: "plan2", Path: "metadata.plan"}}},
		"subscriptions": {Resource: "subscriptions", Fields: []localstate.Field{{Column: "status", Path: "status"}}},
		"auto":          {Resource: "auto"},
	}
	table := func(r string) *localstate.Table { return tables[r] }
	got := newProjector(table, []string{"customers", "subscriptions"}).allPaths()
	want := map[string][][]string{"customers": {{"email"}, {"metadata", "plan"}}, "subscriptions": {{"status"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("allPaths = %v, want %v", got, want)
	}
	if got := newProjector(table, []string{"customers", "auto"}).allPaths(); got != nil {
		t.Errorf("with an automatic mapping: allPaths = %v, want nil (whole objects)", got)
	}
}
