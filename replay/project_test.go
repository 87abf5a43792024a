package replay

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

// TestProjectKeepsWhatLookupReads: a payload cut down to the mapped paths
// answers reconcile.Lookup exactly as the whole payload does, for present,
// null, absent, nested and list paths, and holds nothing else.
func TestProjectKeepsWhatLookupReads(t *testing.T) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(`{"id":"cus_1","email":"a@example.com","name":null,"big":"`+strings.Repeat("x", 1000)+`",
		"metadata":{"plan":"pro","tier":{"n":2},"other":"drop"},
		"items":[{"price":1},{"price":2,"q":3}],"address":"a string, not an object"}`), &obj); err != nil {
		t.Fatal(err)
	}
	paths := []string{"email", "name", "missing", "metadata.plan", "metadata.tier", "metadata.tier.n", "items.1.price", "items.7.price", "address.city", "metadata.plan"}
	var fields []localstate.Field
	for _, p := range paths {
		fields = append(fields, localstate.Field{Column: strings.ReplaceAll(p, ".", "_"), Path: p})
	}
	tbl := &localstate.Table{Resource: "customers", Fields: fields}
	p := newProjector(func(string) *localstate.Table { return tbl }, []string{"customers"})
	got := p.project("customers", obj)
	for _, path := range append(paths, "id", "big", "metadata.other", "items.0.price", "items.1.q") {
		segs := strings.Split(path, ".")
		wv, wok := reconcile.Lookup(obj, segs)
		gv, gok := reconcile.Lookup(got, segs)
		mapped := false
		for _, m := range paths {
			if m == path || strings.HasPrefix(path, m+".") {
				mapped = true
			}
		}
		if !mapped {
			if gok && gv != nil {
				t.Errorf("%s: unmapped path kept: %v", path, gv)
			}
			continue
		}
		if wok != gok || !reflect.DeepEqual(wv, gv) {
			t.Errorf("%s: whole object (%v, %v), cut copy (%v, %v)", path, wv, wok, gv, gok)
		}
	}
	if _, ok := got["big"]; ok {
		t.Error("the unmapped 1 KB field was kept")
	}
	// Not configured: nothing kept. Automatic mapping: the whole object.
	if p.project("invoices", obj) != nil {
		t.Error("an ignored event's payload was kept")
	}
	auto := newProjector(func(string) *localstate.Table { return &localstate.Table{Resource: "customers"} }, []string{"customers"})
	if got := auto.project("customers", obj); !reflect.DeepEqual(got, obj) {
		t.Error("automatic mapping: the payload was cut")
	}
}
