package clerk

import (
	"context"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// ListPaths keeps the asked paths and what toRecord needs: the primary
// email (synthesized from the addresses) and updated_at, nothing else.
func TestListPathsKeepsOnlyThePaths(t *testing.T) {
	f, srv := newFake(t)
	a := f.CreateUser(map[string]any{"emails": []string{"first@example.com", "second@example.com"}, "first_name": "Ann",
		"public_metadata": map[string]any{"plan": "pro", "x": 1}})
	id := a["id"].(string)
	second := a["email_addresses"].([]any)[1].(map[string]any)["id"].(string)
	f.SetClock(func() time.Time { return time.Now().Add(time.Hour) })
	if _, err := f.UpdateUser(id, map[string]any{"primary_email_address_id": second}); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, srv.URL, providers.Options{})
	if providers.FeaturesOf(p).Paths == nil {
		t.Fatal("clerk offers no ListPaths")
	}
	ctx := context.Background()
	var whole, got []providers.Record
	if err := p.List(ctx, Users, func(r providers.Record) error { whole = append(whole, r); return nil }); err != nil {
		t.Fatal(err)
	}
	err := p.ListPaths(ctx, Users, [][]string{{"email"}, {"public_metadata", "plan"}}, func(r providers.Record) error { got = append(got, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != id || !got[0].UpdatedAt.Equal(whole[0].UpdatedAt) || got[0].UpdatedAt.IsZero() {
		t.Fatalf("records %+v, List %+v", got, whole)
	}
	d := got[0].Data
	if d["email"] != "second@example.com" || d["public_metadata"].(map[string]any)["plan"] != "pro" {
		t.Errorf("kept %v", d)
	}
	if _, ok := d["first_name"]; ok {
		t.Errorf("an unmapped field was decoded: %v", d)
	}
	if _, ok := d["public_metadata"].(map[string]any)["x"]; ok {
		t.Errorf("an unmapped nested field was decoded: %v", d)
	}
}
