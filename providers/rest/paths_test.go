package rest

import (
	"context"
	"testing"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/rest/restfake"
)

// ListPaths lists what List lists, each object decoded with only the asked
// paths and what toRecord reads.
func TestListPathsKeepsOnlyThePaths(t *testing.T) {
	f, srv := newFake(t, restfake.Config{})
	f.Create("users", map[string]any{"email": "ann@example.com", "name": "Ann"})
	p := newProvider(t, f, srv, providers.Options{})
	pl := providers.FeaturesOf(p).Paths
	if pl == nil {
		t.Fatal("rest offers no ListPaths")
	}
	ctx := context.Background()
	var whole, got []providers.Record
	if err := p.List(ctx, "users", func(r providers.Record) error { whole = append(whole, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := pl.ListPaths(ctx, "users", [][]string{{"email"}}, func(r providers.Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != whole[0].ID || !got[0].UpdatedAt.Equal(whole[0].UpdatedAt) {
		t.Fatalf("records %+v, List %+v", got, whole)
	}
	if got[0].Data["email"] != "ann@example.com" {
		t.Errorf("kept %v", got[0].Data)
	}
	if _, ok := got[0].Data["name"]; ok {
		t.Errorf("an unmapped field was decoded: %v", got[0].Data)
	}
}

// id_path and updated_at_path are read as lookup reads them, keys with dots
// included, from what ListPaths keeps.
func TestListPathsKeepsTheIDAndUpdatedPaths(t *testing.T) {
	r := &Resource{IDPath: "meta.key.id", UpdatedAtPath: "times.updated"}
	raw := []byte(`{"meta.key": {"id": "u1", "x": 1}, "times": {"updated": 1700000000, "y": 2}, "email": "e", "other": 3}`)
	obj, err := decodeKeeping(raw, keepFor(r, [][]string{{"email"}}))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := toRecord(r, obj)
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := decodeObject(raw)
	want, err := toRecord(r, whole)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != "u1" || rec.ID != want.ID || !rec.UpdatedAt.Equal(want.UpdatedAt) || rec.UpdatedAt.IsZero() {
		t.Errorf("record %+v, from the whole object %+v", rec, want)
	}
	if _, ok := obj["other"]; ok {
		t.Errorf("kept %v", obj)
	}
}
