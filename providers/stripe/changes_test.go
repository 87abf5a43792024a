package stripe

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
)

// TestChangesSince: the customers Stripe's events show changed in the
// window, over more than one page of events, with a deletion; a customer
// changed before the window is not returned, nor are other resources'
// events; subscriptions' deletions are not covered (a canceled subscription
// still exists).
func TestChangesSince(t *testing.T) {
	f, srv := newFake(t)
	now := time.Now().UTC().Truncate(time.Second)
	f.SetClock(func() time.Time { return now.Add(-10 * 24 * time.Hour) })
	var ids []string
	for i := range 130 {
		ids = append(ids, f.CreateCustomer(map[string]any{"email": fmt.Sprintf("u%d@example.com", i)})["id"].(string))
	}
	if _, err := f.UpdateCustomer(ids[0], map[string]any{"name": "before the window"}); err != nil {
		t.Fatal(err)
	}
	f.SetClock(func() time.Time { return now.Add(-time.Hour) })
	for _, id := range ids[1:121] {
		if _, err := f.UpdateCustomer(id, map[string]any{"name": "changed"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.DeleteCustomer(ids[121]); err != nil {
		t.Fatal(err)
	}
	f.SetClock(time.Now)
	p := newProvider(t, srv.URL, providers.Options{})
	f.ResetStats()
	latest, all, cov := providertest.Changes(t, p, Customers, now.Add(-24*time.Hour))
	if cov != (providers.Coverage{Source: providers.SourceEvents, Deletions: true}) {
		t.Errorf("coverage %+v", cov)
	}
	if len(latest) != 121 || len(all) != 121 {
		t.Fatalf("%d ids in %d changes, want 121", len(latest), len(all))
	}
	if _, ok := latest[ids[0]]; ok {
		t.Error("a customer changed before the window was returned")
	}
	for _, id := range ids[1:121] {
		c := latest[id]
		if c.Deleted || c.EventID == "" || c.Record == nil || c.Record.Data["name"] != "changed" || !c.At.Equal(now.Add(-time.Hour)) {
			t.Errorf("update of %s: %+v", id, c)
		}
	}
	if c := latest[ids[121]]; !c.Deleted || c.Record != nil || c.EventID == "" {
		t.Errorf("deletion: %+v", c)
	}
	pages := 0
	for _, r := range f.Requests() {
		if r.Path == "/v1/events" {
			pages++
			if !strings.Contains(r.Query, "customer.updated") {
				t.Errorf("events asked without the customer types: %s", r.Query)
			}
		}
	}
	if pages < 2 {
		t.Errorf("%d pages of events, want the window's 121 events over at least 2", pages)
	}

	_, _, cov = providertest.Changes(t, p, Subscriptions, now.Add(-24*time.Hour))
	if cov.Deletions {
		t.Error("subscriptions' deletions reported covered: customer.subscription.deleted is a cancellation")
	}
	// Older than Stripe keeps events: an error, not a silently short window.
	_, err := providers.ChangesSince(t.Context(), p, Customers, now.Add(-40*24*time.Hour), func(providers.Change) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "30 days") {
		t.Errorf("a 40-day window: %v", err)
	}
}
