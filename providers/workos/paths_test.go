package workos

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/workos/workosfake"
)

// ListPaths decodes each listed user keeping only the asked paths and what
// toRecord reads: the same ID and UpdatedAt, no unmapped fields.
func TestListPathsKeepsOnlyThePaths(t *testing.T) {
	f, srv := newFake(t, workosfake.Config{})
	u := f.CreateUser(map[string]any{"email": "ann@example.com", "first_name": "Ann", "metadata": map[string]any{"plan": "pro", "x": "y"}})
	p := newProvider(t, srv.URL, providers.Options{})
	if providers.FeaturesOf(p).Paths == nil {
		t.Fatal("workos offers no ListPaths")
	}
	var whole, got []providers.Record
	ctx := context.Background()
	if err := p.List(ctx, Users, func(r providers.Record) error { whole = append(whole, r); return nil }); err != nil {
		t.Fatal(err)
	}
	err := p.ListPaths(ctx, Users, [][]string{{"email"}, {"metadata", "plan"}}, func(r providers.Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != u["id"] || !got[0].UpdatedAt.Equal(whole[0].UpdatedAt) || got[0].UpdatedAt.IsZero() {
		t.Fatalf("records %+v, List %+v", got, whole)
	}
	d := got[0].Data
	if d["email"] != "ann@example.com" || d["metadata"].(map[string]any)["plan"] != "pro" {
		t.Errorf("kept %v", d)
	}
	if _, ok := d["first_name"]; ok {
		t.Errorf("an unmapped field was decoded: %v", d)
	}
	if _, ok := d["metadata"].(map[string]any)["x"]; ok {
		t.Errorf("an unmapped nested field was decoded: %v", d)
	}
}

// An answer without a data array is no listing, with ListPaths too.
func TestListPathsNotAList(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"object":"list","list_metadata":{"after":null}}`))
	}))
	defer srv.Close()
	p := newProvider(t, srv.URL, providers.Options{})
	for _, list := range []func() error{
		func() error { return p.List(context.Background(), Users, func(providers.Record) error { return nil }) },
		func() error {
			return p.ListPaths(context.Background(), Users, [][]string{{"email"}}, func(providers.Record) error { return nil })
		},
	} {
		if err := list(); !errors.Is(err, errNotAList) {
			t.Errorf("got %v, want errNotAList", err)
		}
	}
}
