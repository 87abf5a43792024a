package rest

import (
	"errors"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
	"github.com/reconctl/reconctl/providers/rest/restfake"
)

// restChanges seeds 20 users at -10d, changes one at -2d (before the
// window) and seven at -1h, deletes one at -1h, and returns the fake, its
// URL, the seeded ids and the time the changes are relative to.
func restChanges(t *testing.T, cfg restfake.Config) (*restfake.Fake, string, []string, time.Time) {
	f, srv := newFake(t, cfg)
	now := time.Now().UTC().Truncate(time.Second)
	f.SetClock(func() time.Time { return now.Add(-10 * 24 * time.Hour) })
	var ids []string
	for range 20 {
		ids = append(ids, f.Create("users", map[string]any{"email": "u@example.com"})["id"].(string))
	}
	f.SetClock(func() time.Time { return now.Add(-48 * time.Hour) })
	if _, err := f.Update("users", ids[0], map[string]any{"name": "before"}); err != nil {
		t.Fatal(err)
	}
	f.SetClock(func() time.Time { return now.Add(-time.Hour) })
	for _, id := range ids[1:8] {
		if _, err := f.Update("users", id, map[string]any{"name": "changed"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Delete("users", ids[8]); err != nil {
		t.Fatal(err)
	}
	f.SetClock(time.Now)
	return f, srv.URL, ids, now
}

// TestChangesSinceEvents: with rest.events, the users' events since the
// window (over several pages), the delete: type a covered deletion.
func TestChangesSinceEvents(t *testing.T) {
	f, base, ids, now := restChanges(t, restfake.Config{Style: restfake.Cursor, MaxLimit: 3})
	p := build(t, f.ConfigFor(base, "users", testKeyEnv), providers.Options{})
	f.ResetStats()
	latest, _, cov := providertest.Changes(t, p, "users", now.Add(-24*time.Hour))
	if cov != (providers.Coverage{Source: providers.SourceEvents, Deletions: true}) {
		t.Errorf("coverage %+v", cov)
	}
	if len(latest) != 8 {
		t.Fatalf("%d ids, want 8: %+v", len(latest), latest)
	}
	if _, ok := latest[ids[0]]; ok {
		t.Error("a user changed before the window was returned")
	}
	for _, id := range ids[1:8] {
		if c := latest[id]; c.Deleted || c.EventID == "" || c.Record == nil || c.Record.Data["name"] != "changed" {
			t.Errorf("update of %s: %+v", id, c)
		}
	}
	if c := latest[ids[8]]; !c.Deleted {
		t.Errorf("deletion: %+v", c)
	}
	if n := len(f.Requests()); n < 3 {
		t.Errorf("%d requests: 8 events at 3 a page take 3", n)
	}
}

// TestChangesSinceUpdatedAfter: without events, the updated_after filter
// (paged), each record's current state; the deletion is not seen; a
// resource with neither is ErrNoChangesFeed.
func TestChangesSinceUpdatedAfter(t *testing.T) {
	f, base, ids, now := restChanges(t, restfake.Config{Style: restfake.Cursor, MaxLimit: 3, UpdatedAfter: true, NoEvents: true})
	m := f.ConfigFor(base, "users", testKeyEnv)
	if _, ok := m["events"]; ok {
		t.Fatal("ConfigFor with NoEvents kept the events feed")
	}
	p := build(t, m, providers.Options{})
	f.ResetStats()
	latest, all, cov := providertest.Changes(t, p, "users", now.Add(-24*time.Hour))
	if cov != (providers.Coverage{Source: providers.SourceUpdatedAfter, Deletions: false}) {
		t.Errorf("coverage %+v", cov)
	}
	if len(latest) != 7 || len(all) != 7 {
		t.Fatalf("%d ids in %d changes, want 7", len(latest), len(all))
	}
	for _, id := range ids[1:8] {
		if c := latest[id]; c.Record == nil || c.Record.Data["name"] != "changed" || c.EventID != "" || !c.At.Equal(now.Add(-time.Hour)) {
			t.Errorf("change of %s: %+v", id, c)
		}
	}
	if n := len(f.Requests()); n != 3 {
		t.Errorf("%d requests: the filter leaves 7 records, 3 pages", n)
	}

	delete(m["resources"].(map[string]any)["users"].(map[string]any), "updated_after_param")
	p = build(t, m, providers.Options{})
	_, err := providers.ChangesSince(t.Context(), p, "users", now, func(providers.Change) error { return nil })
	if !errors.Is(err, providers.ErrNoChangesFeed) {
		t.Errorf("no feed: %v", err)
	}
}
