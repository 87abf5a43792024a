package rest

import "testing"

// TestCoversDeletionsPerResource: events cover a resource's deletions only
// when a type deletes that resource's objects; without events: never.
func TestCoversDeletionsPerResource(t *testing.T) {
	p := &Provider{cfg: &Config{Events: &Events{Types: map[string]EventType{
		"user.updated": {Resource: "users"},
		"user.deleted": {Resource: "users", Delete: true},
		"team.updated": {Resource: "teams"},
	}}}}
	ev := restEvents{p}
	for res, want := range map[string]bool{"users": true, "teams": false, "projects": false} {
		if got := ev.CoversDeletions(res); got != want {
			t.Errorf("%s: CoversDeletions = %v, want %v", res, got, want)
		}
	}
	if (restEvents{&Provider{cfg: &Config{}}}).CoversDeletions("users") {
		t.Error("updated_after changes cover no deletions")
	}
}
