package stripe

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/providers"
)

// listBoth lists resource with List and with ListPaths(paths), by id.
func listBoth(t *testing.T, p *Provider, resource string, paths [][]string) (whole, kept map[string]providers.Record) {
	t.Helper()
	whole, kept = map[string]providers.Record{}, map[string]providers.Record{}
	ctx := context.Background()
	if err := p.List(ctx, resource, func(r providers.Record) error { whole[r.ID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := p.ListPaths(ctx, resource, paths, func(r providers.Record) error { kept[r.ID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(kept) != len(whole) {
		t.Fatalf("ListPaths listed %d %s, List %d", len(kept), resource, len(whole))
	}
	return whole, kept
}

// ListPaths decodes each listed customer and subscription (test clock ones
// too) keeping only the asked paths and what the Stripe code reads of a
// listed object itself (id, created, deleted, object, livemode, a
// subscription's customer): the same records, no unmapped fields.
func TestListPathsKeepsOnlyThePaths(t *testing.T) {
	f, srv := newFake(t)
	ann := f.CreateCustomer(map[string]any{"email": "ann@example.com", "name": "Ann",
		"metadata": map[string]any{"plan": "pro", "x": "y"}, "balance": 1234})
	clock := f.CreateTestClock(map[string]any{"name": "renewals"})
	bob := f.CreateCustomer(map[string]any{"email": "bob@example.com", "name": "Bob", "test_clock": clock})
	for _, c := range []map[string]any{ann, bob} {
		if _, err := f.CreateSubscription(map[string]any{"customer": c["id"], "price": "price_pro"}); err != nil {
			t.Fatal(err)
		}
	}
	p := newProvider(t, srv.URL, providers.Options{Concurrency: 2})
	if providers.FeaturesOf(p).Paths == nil {
		t.Fatal("stripe offers no ListPaths")
	}
	own := []string{"id", "created", "deleted", "object", "livemode"}

	whole, kept := listBoth(t, p, Customers, [][]string{{"email"}, {"metadata", "plan"}, {"metadata", "vip"}})
	if len(kept) != 2 {
		t.Fatalf("listed %d customers, want 2 (one on a test clock)", len(kept))
	}
	for id, r := range kept {
		w := whole[id]
		d := r.Data
		if r.ID != w.ID || !r.UpdatedAt.Equal(w.UpdatedAt) || d["email"] != w.Data["email"] {
			t.Errorf("%s: kept %v, List %v", id, d, w.Data)
		}
		for _, k := range own {
			if _, inWhole := w.Data[k]; inWhole && d[k] != w.Data[k] {
				t.Errorf("%s: %s = %#v, List %#v", id, k, d[k], w.Data[k])
			}
		}
		if _, ok := d["created"].(json.Number); !ok {
			t.Errorf("%s: created = %#v, want the json.Number the lister reads", id, d["created"])
		}
		for _, k := range []string{"name", "balance", "invoice_settings", "test_clock"} {
			if _, ok := d[k]; ok {
				t.Errorf("%s: an unmapped field %q was decoded: %v", id, k, d)
			}
		}
		md := d["metadata"].(map[string]any)
		if _, ok := md["x"]; ok {
			t.Errorf("%s: an unmapped nested field was decoded: %v", id, md)
		}
		if _, ok := md["vip"]; ok {
			t.Errorf("%s: an absent path is present: %v", id, md)
		}
	}
	if md := kept[ann["id"].(string)].Data["metadata"].(map[string]any); md["plan"] != "pro" {
		t.Errorf("metadata.plan = %#v, want pro", md["plan"])
	}

	whole, kept = listBoth(t, p, Subscriptions, [][]string{{"status"}, {"items", "data", "0", "price", "id"}})
	if len(kept) != 2 {
		t.Fatalf("listed %d subscriptions, want 2", len(kept))
	}
	for id, r := range kept {
		d, w := r.Data, whole[id].Data
		if d["customer"] != w["customer"] || d["customer"] == nil || d["status"] != w["status"] || d["object"] != "subscription" {
			t.Errorf("%s: kept %v, List %v", id, d, w)
		}
		items := d["items"].(map[string]any)
		if len(items) != 1 {
			t.Errorf("%s: items keeps more than data: %v", id, items)
		}
		item := items["data"].([]any)[0].(map[string]any)
		if len(item) != 1 || item["price"].(map[string]any)["id"] != "price_pro" || len(item["price"].(map[string]any)) != 1 {
			t.Errorf("%s: items.data.0 = %v, want only price.id", id, item)
		}
		for _, k := range []string{"current_period_end", "metadata", "test_clock", "trial_end"} {
			if _, ok := d[k]; ok {
				t.Errorf("%s: an unmapped field %q was decoded: %v", id, k, d)
			}
		}
	}
}

// A page ListPaths cannot decode fails as List's does (pick refuses it and
// encoding/json reports it), naming the resource and page.
func TestListPathsBadPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"object":"list","has_more":false,"data":[{"id":"cus_1","created":1}, 7]}`))
	}))
	defer srv.Close()
	p := newProvider(t, srv.URL, providers.Options{Concurrency: 1})
	var errs []string
	for _, list := range []func() error{
		func() error {
			return p.List(context.Background(), Customers, func(providers.Record) error { return nil })
		},
		func() error {
			return p.ListPaths(context.Background(), Customers, [][]string{{"email"}}, func(providers.Record) error { return nil })
		},
	} {
		err := list()
		if err == nil || !strings.Contains(err.Error(), "page 1") {
			t.Fatalf("got %v, want an error naming page 1", err)
		}
		errs = append(errs, err.Error())
	}
	if errs[0] != errs[1] {
		t.Errorf("ListPaths error %q, List %q", errs[1], errs[0])
	}
}
