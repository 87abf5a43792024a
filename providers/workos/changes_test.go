package workos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
	"github.com/reconctl/reconctl/providers/workos/workosfake"
)

// TestChangesSince: the users WorkOS's events show changed in the window,
// over more than one page of events, with a deletion (user.deleted); a user
// changed before the window is not returned, nor an organization's event.
func TestChangesSince(t *testing.T) {
	f, srv := newFake(t, workosfake.Config{})
	now := time.Now().UTC().Truncate(time.Second)
	f.SetClock(func() time.Time { return now.Add(-10 * 24 * time.Hour) })
	var ids []string
	for i := range 130 {
		ids = append(ids, f.CreateUser(map[string]any{"email": fmt.Sprintf("u%d@example.com", i)})["id"].(string))
	}
	org := f.CreateOrganization(map[string]any{"name": "Acme"})["id"].(string)
	f.SetClock(func() time.Time { return now.Add(-time.Hour) })
	for _, id := range ids[1:121] {
		if _, err := f.UpdateUser(id, map[string]any{"first_name": "Changed"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.DeleteUser(ids[121]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.UpdateOrganization(org, map[string]any{"name": "Acme 2"}); err != nil {
		t.Fatal(err)
	}
	f.SetClock(time.Now)
	p := newProvider(t, srv.URL, providers.Options{})
	f.ResetStats()
	latest, all, cov := providertest.Changes(t, p, Users, now.Add(-24*time.Hour))
	if cov != (providers.Coverage{Source: providers.SourceEvents, Deletions: true}) {
		t.Errorf("coverage %+v", cov)
	}
	if len(latest) != 121 || len(all) != 121 {
		t.Fatalf("%d ids in %d changes, want 121", len(latest), len(all))
	}
	if _, ok := latest[ids[0]]; ok {
		t.Error("a user changed before the window was returned")
	}
	if _, ok := latest[org]; ok {
		t.Error("an organization's event was returned as a user's change")
	}
	for _, id := range ids[1:121] {
		if c := latest[id]; c.Deleted || c.Record == nil || c.Record.Data["first_name"] != "Changed" {
			t.Errorf("update of %s: %+v", id, c)
		}
	}
	if c := latest[ids[121]]; !c.Deleted || c.Record != nil {
		t.Errorf("deletion: %+v", c)
	}
	pages := 0
	for _, r := range f.Requests() {
		if r.Path == "/events" {
			pages++
			if strings.Contains(r.Query, "organization.") {
				t.Errorf("organization events asked for: %s", r.Query)
			}
		}
	}
	if pages < 2 {
		t.Errorf("%d pages of events, want at least 2", pages)
	}
	orgs, _, _ := providertest.Changes(t, p, Organizations, now.Add(-24*time.Hour))
	if len(orgs) != 1 || orgs[org].Record == nil {
		t.Errorf("organizations: %+v", orgs)
	}
}
