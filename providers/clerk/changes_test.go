package clerk

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
)

// TestChangesSince: the users changed in the window come from
// order_by=-updated_at offset pages, newest first, and the walk stops at
// the first older user (not the whole listing); a user changed before the
// window is not returned; deletions are not covered (the deleted user is
// simply absent).
func TestChangesSince(t *testing.T) {
	f, srv := newFake(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	f.SetClock(func() time.Time { return now.Add(-10 * 24 * time.Hour) })
	ids := f.SeedUsers(40, nil)
	f.SetClock(func() time.Time { return now.Add(-48 * time.Hour) })
	if _, err := f.UpdateUser(ids[0], map[string]any{"first_name": "Before"}); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids[1:13] {
		f.SetClock(func() time.Time { return now.Add(-time.Hour + time.Duration(i)*time.Second) })
		if _, err := f.UpdateUser(id, map[string]any{"first_name": "Changed"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.DeleteUser(ids[13]); err != nil {
		t.Fatal(err)
	}
	f.SetClock(time.Now)
	p := newProvider(t, srv.URL, providers.Options{})
	p.pageSize = 5
	f.ResetStats()
	latest, all, cov := providertest.Changes(t, p, Users, now.Add(-24*time.Hour))
	if cov != (providers.Coverage{Source: providers.SourceUpdatedAtOrder, Deletions: false}) {
		t.Errorf("coverage %+v", cov)
	}
	if len(latest) != 12 || len(all) != 12 {
		t.Fatalf("%d ids in %d changes, want 12 (once each across the pages' overlap)", len(latest), len(all))
	}
	var order []string
	for _, c := range all {
		order = append(order, c.ID)
		if c.Record == nil || c.Record.Data["first_name"] != "Changed" || c.EventID != "" || c.Deleted {
			t.Errorf("change %+v", c)
		}
	}
	want := slices.Clone(ids[1:13])
	slices.Reverse(want) // newest first
	if !slices.Equal(order, want) {
		t.Errorf("order %v, want newest first %v", order, want)
	}
	reqs := f.Requests()
	for _, r := range reqs {
		q, _ := url.ParseQuery(r.Query)
		if r.Path != "/v1/users" || q.Get("order_by") != "-updated_at" || q.Has("starting_after") {
			t.Errorf("request %s?%s", r.Path, r.Query)
		}
	}
	// 12 changed users at 5 a page, each page one user early: offsets 0,
	// 4 and 8, the last holding the 12th changed user and then the first
	// older one. A full walk of the 39 users would take 10.
	if len(reqs) != 3 {
		t.Errorf("%d pages, want 3", len(reqs))
	}
	if _, err := providers.ChangesSince(t.Context(), p, "organizations", now, func(providers.Change) error { return nil }); err == nil {
		t.Error("an unknown resource: no error")
	}
}
