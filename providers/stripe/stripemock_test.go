package stripe

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
)

// recorder notes every response status, to prove stripe-mock (which
// validates requests against Stripe's OpenAPI spec) accepted each request.
type recorder struct {
	mu   sync.Mutex
	seen []string
	bad  []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	line := req.Method + " " + req.URL.RequestURI()
	r.seen = append(r.seen, line)
	if err == nil && resp.StatusCode != http.StatusOK {
		r.bad = append(r.bad, resp.Status+" "+line)
	}
	return resp, err
}

// TestStripeMockContract runs our client against stripe-mock, Stripe's own
// OpenAPI-driven mock: it proves our requests are valid Stripe requests and
// that we decode real fixture shapes. (stripe-mock keeps no state, so
// pagination, deletion and faults are tested against stripefake.)
func TestStripeMockContract(t *testing.T) {
	addr := os.Getenv("RECONCTL_STRIPE_MOCK")
	if addr == "" {
		t.Skip("stripe-mock contract test skipped: run `eval \"$(bash .ci/stripe-mock.sh)\"` (or start stripe-mock yourself and export RECONCTL_STRIPE_MOCK=127.0.0.1:PORT), then go test ./providers/stripe -run StripeMock")
	}
	rec := &recorder{}
	p, err := New(providers.Options{
		APIBase:     "http://" + addr,
		APIKeyEnv:   testKeyEnv, // stripe-mock wants any sk_test_ key
		Concurrency: 4,
		HTTPClient:  &http.Client{Transport: rec},
	}, providertest.FastRetries)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	list := func(resource string) []providers.Record {
		t.Helper()
		var out []providers.Record
		if err := p.List(ctx, resource, func(r providers.Record) error { out = append(out, r); return nil }); err != nil {
			t.Fatalf("List(%s): %v", resource, err)
		}
		if len(out) == 0 {
			t.Fatalf("List(%s) decoded no fixture", resource)
		}
		return out
	}
	requireFields := func(what string, data map[string]any, fields ...string) {
		t.Helper()
		for _, f := range fields {
			if _, ok := data[f]; !ok {
				t.Errorf("%s: field %q missing from %v", what, f, data)
			}
		}
	}

	for _, c := range list(Customers) {
		if c.ID == "" || c.Data["object"] != "customer" {
			t.Errorf("customer record %+v", c)
		}
		requireFields("customer", c.Data, "email", "created", "metadata", "name")
	}
	for _, s := range list(Subscriptions) {
		if s.ID == "" || s.Data["object"] != "subscription" {
			t.Errorf("subscription record %+v", s)
		}
		requireFields("subscription", s.Data, "status", "customer", "items", "created")
		items, _ := s.Data["items"].(map[string]any)
		data, _ := items["data"].([]any)
		if len(data) == 0 {
			t.Errorf("subscription without items.data: %v", s.Data)
		}
	}

	rc, st, err := p.Get(ctx, Customers, "cus_123")
	if err != nil || st != providers.StatusPresent || rc.ID == "" {
		t.Errorf("Get(customers) = %+v %v %v", rc.ID, st, err)
	}
	rs, st, err := p.Get(ctx, Subscriptions, "sub_123")
	if err != nil || st != providers.StatusPresent || rs.ID == "" {
		t.Errorf("Get(subscriptions) = %+v %v %v", rs.ID, st, err)
	}
	if recs, err := p.FindByEmail(ctx, Customers, "ann@example.com"); err != nil || len(recs) == 0 {
		t.Errorf("FindByEmail = %d, %v", len(recs), err)
	}
	// The Search API (check-user --search): stripe-mock's fixture email
	// need not equal ours, so only the request's validity is checked.
	if _, err := p.SearchByEmail(ctx, Customers, "ann@example.com"); err != nil {
		t.Errorf("SearchByEmail: %v", err)
	}
	n := 0
	if err := p.ListRelated(ctx, Subscriptions, Customers, "cus_123", func(providers.Record) error { n++; return nil }); err != nil || n == 0 {
		t.Errorf("ListRelated = %d, %v", n, err)
	}

	// Events: created range + types[] (and a second request for > 20 types),
	// and a wildcard type=. The window includes stripe-mock's fixture time.
	types := []string{"customer.created", "customer.updated", "customer.deleted",
		"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
		"customer.discount.created", "customer.discount.deleted", "customer.discount.updated",
		"customer.source.created", "customer.source.deleted", "customer.source.expiring", "customer.source.updated",
		"customer.tax_id.created", "customer.tax_id.deleted", "customer.tax_id.updated",
		"invoice.created", "invoice.paid", "invoice.finalized", "invoice.voided", "invoice.deleted",
		"plan.created", "customer.subscription.*"}
	q := providers.EventQuery{Since: time.Unix(1_000_000_000, 0), Until: time.Now().Add(time.Hour), Types: types}
	evs := 0
	err = p.Events(ctx, q, func(e providers.Event) error {
		evs++
		if e.ID == "" || e.Type == "" || e.Created.IsZero() || len(e.Raw) == 0 || e.Object == nil || e.ObjectID == "" {
			t.Errorf("event decoded incompletely: %+v", e)
		}
		return nil
	})
	if err != nil || evs == 0 {
		t.Errorf("Events = %d events, %v", evs, err)
	}

	// The partitioned listing's page shapes: created[gte], created[lt] and
	// starting_after together (stripe-mock's single fixture never has_more,
	// so List alone would not send them).
	for _, res := range []string{Customers, Subscriptions} {
		s, _ := p.spec(res)
		l := p.newLister(s, 4)
		cursor := map[string]string{Customers: "cus_123", Subscriptions: "sub_123"}[res]
		for _, tk := range []task{{gte: 1_300_000_000, lt: 1_700_000_000, cursor: cursor}, {lt: 1_700_000_000}, {gte: 1_600_000_000}} {
			if _, err := l.fetch(ctx, &tk); err != nil {
				t.Errorf("page %s %s: %v", res, tk.describe(), err)
			}
		}
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.bad) > 0 {
		t.Errorf("stripe-mock rejected requests:\n%s", strings.Join(rec.bad, "\n"))
	}
	var sawStatusAll, sawTypes, sawCreated, sawClocks, sawClockFilter, sawSearch bool
	for _, l := range rec.seen {
		l, _ = url.QueryUnescape(l)
		sawStatusAll = sawStatusAll || (strings.Contains(l, "/v1/subscriptions?") && strings.Contains(l, "status=all"))
		sawTypes = sawTypes || strings.Contains(l, "types[0]=")
		sawCreated = sawCreated || strings.Contains(l, "created[gte]=")
		sawClocks = sawClocks || strings.Contains(l, "/v1/test_helpers/test_clocks")
		sawClockFilter = sawClockFilter || strings.Contains(l, "test_clock=")
		sawSearch = sawSearch || strings.Contains(l, "/v1/customers/search?") && strings.Contains(l, `email~"`)
	}
	if !sawStatusAll || !sawTypes || !sawCreated || !sawClocks || !sawClockFilter || !sawSearch {
		t.Errorf("expected requests not sent (status=all %v, types[] %v, created[gte] %v, test clocks %v, test_clock= %v, search %v):\n%s",
			sawStatusAll, sawTypes, sawCreated, sawClocks, sawClockFilter, sawSearch, strings.Join(rec.seen, "\n"))
	}
	t.Logf("stripe-mock accepted %d requests", len(rec.seen))
}
