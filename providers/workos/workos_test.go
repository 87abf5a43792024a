package workos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
	"github.com/reconctl/reconctl/providers/workos/workosfake"
)

const (
	testKeyEnv = "RECONCTL_TEST_WORKOS_KEY"
	testKey    = "sk_test_workos0123456789abcdefWXYZ"
	testDir    = "directory_01TESTDIR"
)

func TestMain(m *testing.M) {
	os.Setenv(testKeyEnv, testKey)
	os.Exit(m.Run())
}

func newFake(t testing.TB, cfg workosfake.Config) (*workosfake.Fake, *httptest.Server) {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = testKey
	}
	f, srv := workosfake.NewServer(cfg)
	t.Cleanup(srv.Close)
	return f, srv
}

func newProvider(t testing.TB, base string, opts providers.Options) *Provider {
	t.Helper()
	p, err := New(providertest.Options(opts, base, testKeyEnv), providertest.FastRetries)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type fixture struct {
	f   *workosfake.Fake
	srv *httptest.Server
}

func (x *fixture) Seed(t *testing.T, resource string, n int) []string {
	fields := func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("user%d@example.com", i), "first_name": fmt.Sprintf("U%d", i)}
	}
	switch resource {
	case Users:
		return x.f.SeedUsers(n, fields)
	case Organizations:
		return x.f.SeedOrganizations(n, nil)
	case DirectoryUsers:
		return x.f.SeedDirectoryUsers(testDir, n, fields)
	}
	t.Fatalf("no resource %s", resource)
	return nil
}

func (x *fixture) Delete(t *testing.T, resource, id string) {
	var err error
	switch resource {
	case Users:
		err = x.f.DeleteUser(id)
	case Organizations:
		err = x.f.DeleteOrganization(id)
	case DirectoryUsers:
		err = x.f.DeleteDirectoryUser(id)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (x *fixture) NeverExisted(resource string) string {
	return map[string]string{Users: "user_NEVER", Organizations: "org_NEVER", DirectoryUsers: "directory_user_NEVER"}[resource]
}

func (x *fixture) SetFaults(fl providertest.Faults) {
	x.f.SetFaults(fl.FakeFaults())
}

func (x *fixture) Faulted() int { return x.f.Stats().Faulted() }

func (x *fixture) Provider(t *testing.T, cfg providertest.Config) providers.Provider {
	return newProvider(t, x.srv.URL, providers.Options{Concurrency: cfg.Concurrency, Retries: cfg.Retries,
		Config: Config{DirectoryID: testDir}})
}

func TestConformance(t *testing.T) {
	for _, res := range []string{Users, Organizations, DirectoryUsers} {
		t.Run(res, func(t *testing.T) {
			providertest.Run(t, providertest.Harness{
				Resource: res,
				New: func(t *testing.T) providertest.Fixture {
					f, srv := newFake(t, workosfake.Config{})
					return &fixture{f: f, srv: srv}
				},
			})
		})
	}
}

func TestRegisteredAndConfigErrors(t *testing.T) {
	if !slices.Contains(providers.Names(), "workos") {
		t.Fatal(`"workos" is not registered`)
	}
	_, err := providers.Open(providers.Options{Spec: "workos", APIKeyEnv: "RECONCTL_TEST_UNSET_KEY"})
	if err == nil || err.Error() != "RECONCTL_TEST_UNSET_KEY is not set; export it or set api_key_env in reconctl.yaml" {
		t.Fatalf("missing key: %v", err)
	}
	_, err = decodeSettings(t, map[string]any{"directory": "x"})
	if err == nil || !strings.Contains(err.Error(), "workos.directory: unknown key") {
		t.Errorf("unknown settings key: %v", err)
	}
	_, err = decodeSettings(t, map[string]any{"directory_id": 12})
	if err == nil || !strings.Contains(err.Error(), "workos.directory_id: want a string") {
		t.Errorf("wrong settings type: %v", err)
	}
	_, err = New(providers.Options{APIKeyEnv: testKeyEnv, APIBase: "http://api.workos.com"})
	if err == nil || !strings.Contains(err.Error(), "https://") {
		t.Errorf("plain http base: %v", err)
	}
	p, err := New(providers.Options{APIKeyEnv: testKeyEnv})
	if err != nil || p.base.String() != DefaultAPIBase {
		t.Errorf("default base: %v %v", p, err)
	}
}

func TestRecordsAndGet(t *testing.T) {
	f, srv := newFake(t, workosfake.Config{})
	u := f.CreateUser(map[string]any{"email": "ann@example.com", "first_name": "Ann",
		"created_at": "2026-01-02T03:04:05.678Z", "metadata": map[string]any{"plan": "pro"}})
	id := u["id"].(string)
	upd, err := f.UpdateUser(id, map[string]any{"last_name": "Lee"})
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, srv.URL, providers.Options{})
	var recs []providers.Record
	if err := p.List(context.Background(), Users, func(r providers.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != id || recs[0].Data["email"] != "ann@example.com" || recs[0].Data["last_name"] != "Lee" {
		t.Fatalf("records %+v", recs)
	}
	want, _ := time.Parse(time.RFC3339Nano, upd["updated_at"].(string))
	if !recs[0].UpdatedAt.Equal(want) || recs[0].UpdatedAt.IsZero() {
		t.Errorf("UpdatedAt = %v, want %v", recs[0].UpdatedAt, want)
	}
	rec, st, err := p.Get(context.Background(), Users, id)
	if err != nil || st != providers.StatusPresent || rec.Data["metadata"].(map[string]any)["plan"] != "pro" {
		t.Errorf("Get = %+v %v %v", rec, st, err)
	}
	f.Forbid(id)
	if _, st, err := p.Get(context.Background(), Users, id); err != nil || st != providers.StatusInaccessible {
		t.Errorf("Get(forbidden) = %v %v", st, err)
	}
	// Ids are path-escaped.
	if _, st, err := p.Get(context.Background(), Users, "user/../x?y"); err != nil || st != providers.StatusDeleted {
		t.Errorf("Get(odd id) = %v %v", st, err)
	}
	reqs := f.Requests()
	if last := reqs[len(reqs)-1]; last.Path != "/user_management/users/user/../x?y" || last.Query != "" {
		t.Errorf("odd id sent as %q ? %q", last.Path, last.Query)
	}
}

func TestNotFoundShapes(t *testing.T) {
	for _, tc := range []struct {
		body    string
		deleted bool
	}{
		{`{"code":"entity_not_found","message":"User not found: 'user_X'.","entity_id":"user_X"}`, true},
		{`{"message":"User not found: 'user_X'."}`, true}, // the documented shape
		{`{"message":"Cannot GET /v2/user_management/users/user_X","error":"Not Found","statusCode":404}`, false},
		{`{"code":"route_not_found","message":"nope"}`, false},
		{`<html>404</html>`, false},
		{``, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(404)
			fmt.Fprint(w, tc.body)
		}))
		p := newProvider(t, srv.URL, providers.Options{})
		_, st, err := p.Get(context.Background(), Users, "user_X")
		srv.Close()
		if tc.deleted && (err != nil || st != providers.StatusDeleted) {
			t.Errorf("404 %s: %v %v, want deleted", tc.body, st, err)
		}
		if !tc.deleted && err == nil {
			t.Errorf("404 %s: %v, want an error (not a WorkOS entity 404)", tc.body, st)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	_, srv := newFake(t, workosfake.Config{APIKey: "sk_test_other_key_entirely"})
	p := newProvider(t, srv.URL, providers.Options{})
	var ae *providers.AuthError
	err := p.List(context.Background(), Users, func(providers.Record) error { return nil })
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), testKeyEnv) || strings.Contains(err.Error(), testKey) {
		t.Errorf("List with a wrong key: %v", err)
	}
	_, _, err = p.Get(context.Background(), Users, "user_1")
	if !errors.As(err, &ae) || strings.Contains(err.Error(), testKey) {
		t.Errorf("Get with a wrong key: %v", err)
	}
	err = p.Events(context.Background(), providers.EventQuery{}, func(providers.Event) error { return nil })
	if !errors.As(err, &ae) {
		t.Errorf("Events with a wrong key: %v", err)
	}
	// The default env var is named when no api_key_env is configured.
	t.Setenv(DefaultKeyEnv, testKey+"x")
	p2, err := New(providers.Options{APIBase: srv.URL, RPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = p2.List(context.Background(), Users, func(providers.Record) error { return nil })
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "WORKOS_API_KEY") || strings.Contains(err.Error(), testKey) {
		t.Errorf("default key env: %v", err)
	}
}

func TestDirectoryUsers(t *testing.T) {
	f, srv := newFake(t, workosfake.Config{DirectoryUsersRPS: DirectoryUsersRPS})
	ids := f.SeedDirectoryUsers(testDir, 250, nil)
	f.SeedDirectoryUsers("directory_01OTHER", 5, nil)

	p := newProvider(t, srv.URL, providers.Options{})
	err := p.List(context.Background(), DirectoryUsers, func(providers.Record) error { return nil })
	if !errors.Is(err, ErrNoDirectory) || !strings.Contains(err.Error(), "workos: {directory_id:") {
		t.Fatalf("directory_users without a directory id: %v", err)
	}
	if slices.Contains(p.DefaultResources(), DirectoryUsers) {
		t.Error("directory_users is a default resource without a directory id")
	}
	// Get needs no directory.
	if _, st, err := p.Get(context.Background(), DirectoryUsers, ids[0]); err != nil || st != providers.StatusPresent {
		t.Errorf("Get(directory user) = %v %v", st, err)
	}

	// Default pacing (RPS 0 → 50 overall, 4 for directory_users): the fake
	// enforcing WorkOS's 4 req/s per directory never throttles us.
	f.ResetStats()
	paced, err := New(providers.Options{APIBase: srv.URL, APIKeyEnv: testKeyEnv, Config: Config{DirectoryID: testDir}}, providertest.FastRetries)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // twice: 6 requests, more than the fake's burst
		var got []string
		start := time.Now()
		if err := paced.List(context.Background(), DirectoryUsers, func(r providers.Record) error {
			got = append(got, r.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ids) {
			t.Fatalf("listed %d directory users, want %d", len(got), len(ids))
		}
		if d := time.Since(start); d < 450*time.Millisecond {
			t.Errorf("3 directory_users pages took %v: not paced at 4 req/s", d)
		}
	}
	if st := f.Stats(); st.RateLimited != 0 {
		t.Errorf("paced listing was throttled %d times", st.RateLimited)
	}
	for _, r := range f.Requests() {
		if r.Path == "/directory_users" && !strings.Contains(r.Query, "directory="+testDir) {
			t.Errorf("directory_users request without the directory: %s", r.Query)
		}
	}
}

func TestFindByEmail(t *testing.T) {
	f, srv := newFake(t, workosfake.Config{})
	f.SeedUsers(30, func(i int) map[string]any { return map[string]any{"email": fmt.Sprintf("u%d@example.com", i)} })
	p := newProvider(t, srv.URL, providers.Options{})
	recs, err := p.FindByEmail(context.Background(), Users, "u7@example.com")
	if err != nil || len(recs) != 1 || recs[0].Data["email"] != "u7@example.com" {
		t.Fatalf("FindByEmail = %+v %v", recs, err)
	}
	reqs := f.Requests()
	if q, _ := url.ParseQuery(reqs[len(reqs)-1].Query); q.Get("email") != "u7@example.com" {
		t.Errorf("query %v", q)
	}
	if _, err := p.FindByEmail(context.Background(), Organizations, "x@example.com"); err == nil {
		t.Error("FindByEmail(organizations) worked")
	}
	var ure *providers.UnknownResourceError
	if _, err := p.FindByEmail(context.Background(), "nope", "x@example.com"); !errors.As(err, &ure) {
		t.Errorf("FindByEmail(nope) = %v", err)
	}
}

func collect(t *testing.T, p *Provider, q providers.EventQuery) []providers.Event {
	t.Helper()
	var evs []providers.Event
	if err := p.Events(context.Background(), q, func(e providers.Event) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return evs
}

func requireSorted(t *testing.T, evs []providers.Event) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		a, b := evs[i-1], evs[i]
		if a.Created.After(b.Created) || a.Created.Equal(b.Created) && a.ID >= b.ID {
			t.Fatalf("events not oldest first at %d: %s %v then %s %v", i, a.ID, a.Created, b.ID, b.Created)
		}
	}
}

func TestEvents(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	f, srv := newFake(t, workosfake.Config{})
	// 250 user events (three per millisecond, so ties are broken by id),
	// some organization and directory events, one out of retention.
	base := now.Add(-10 * time.Hour)
	var userEvents []string
	for i := range 250 {
		typ := []string{"user.created", "user.updated", "user.deleted"}[i%3]
		userEvents = append(userEvents, f.AddEvent(typ, map[string]any{"object": "user", "id": fmt.Sprintf("user_%d", i)},
			base.Add(time.Duration(i/3)*time.Millisecond)))
	}
	f.AddEvent("organization.updated", map[string]any{"id": "org_1", "name": "Acme"}, base.Add(time.Second))
	f.AddEvent("dsync.user.deleted", map[string]any{"id": "directory_user_1"}, base.Add(2*time.Second))
	f.AddEvent("organization_membership.created", map[string]any{"id": "om_1"}, base.Add(3*time.Second))
	f.AddEvent("user.created", map[string]any{"id": "user_old"}, now.Add(-31*24*time.Hour))

	p := newProvider(t, srv.URL, providers.Options{})
	evs := collect(t, p, providers.EventQuery{Since: base.Add(-time.Minute), Until: now})
	// Defaults: users and organizations (no directory configured).
	if len(evs) != 251 {
		t.Fatalf("got %d events, want 251", len(evs))
	}
	requireSorted(t, evs)
	for i, id := range userEvents {
		if evs[i].ID != id {
			t.Fatalf("event %d = %s, want %s", i, evs[i].ID, id)
		}
	}
	e := evs[2]
	if e.Type != "user.deleted" || !e.Deleted || e.Resource != Users || e.ObjectID != "user_2" ||
		e.Object["object"] != "user" || !strings.Contains(string(e.Raw), `"event":"user.deleted"`) {
		t.Errorf("event mapping: %+v", e)
	}
	if o := evs[250]; o.Resource != Organizations || o.Deleted || o.ObjectID != "org_1" {
		t.Errorf("organization event: %+v", o)
	}

	// Requests: events always given as one comma-separated value (the
	// spec's form, explode=false), the range on every page, after from the
	// second page on.
	var evReqs []url.Values
	for _, r := range f.Requests() {
		if r.Path == "/events" {
			q, _ := url.ParseQuery(r.Query)
			evReqs = append(evReqs, q)
		}
	}
	if len(evReqs) != 3 {
		t.Fatalf("%d /events requests, want 3", len(evReqs))
	}
	for i, q := range evReqs {
		if len(q["events"]) != 1 || q.Get("events") != strings.Join(EventTypesFor(Users, Organizations), ",") {
			t.Errorf("request %d events = %v", i, q["events"])
		}
		if q.Get("limit") != "100" {
			t.Errorf("request %d limit = %q", i, q.Get("limit"))
		}
		first := i == 0
		if !q.Has("range_start") || !q.Has("range_end") || first == q.Has("after") {
			t.Errorf("request %d: %v (want range_start/range_end on every page, after only after the first)", i, q)
		}
	}

	// Explicit types; the directory's events only when asked for.
	evs = collect(t, p, providers.EventQuery{Types: []string{"dsync.user.deleted"}})
	if len(evs) != 1 || evs[0].Resource != DirectoryUsers || !evs[0].Deleted || evs[0].ObjectID != "directory_user_1" {
		t.Errorf("dsync events: %+v", evs)
	}
	evs = collect(t, p, providers.EventQuery{Types: []string{"organization_membership.created"}})
	if len(evs) != 1 || evs[0].Resource != "" {
		t.Errorf("unmapped type: %+v", evs)
	}
	// A configured directory adds dsync.user.* to the defaults.
	pd := newProvider(t, srv.URL, providers.Options{Config: Config{DirectoryID: testDir}})
	if evs = collect(t, pd, providers.EventQuery{Since: base.Add(-time.Minute)}); len(evs) != 252 {
		t.Errorf("with a directory: %d events, want 252", len(evs))
	}

	// Another directory's users are not directory_users of this one.
	f.AddEvent("dsync.user.updated", map[string]any{"id": "directory_user_other", "directory_id": "directory_other"}, base.Add(30*time.Millisecond))
	f.AddEvent("dsync.user.updated", map[string]any{"id": "directory_user_own", "directory_id": testDir}, base.Add(30*time.Millisecond))
	for _, ev := range collect(t, pd, providers.EventQuery{Types: []string{"dsync.user.updated"}}) {
		if own := ev.ObjectID != "directory_user_other"; (ev.Resource == DirectoryUsers) != own {
			t.Errorf("event of %s: resource %q", ev.ObjectID, ev.Resource)
		}
	}

	// [Since, Until) is enforced client-side.
	evs = collect(t, p, providers.EventQuery{Since: base.Add(10 * time.Millisecond), Until: base.Add(20 * time.Millisecond)})
	if len(evs) != 30 || !evs[0].Created.Equal(base.Add(10*time.Millisecond)) || !evs[29].Created.Before(base.Add(20*time.Millisecond)) {
		t.Errorf("window: %d events", len(evs))
	}
}

// TestEventsSortedWhateverTheServerOrder: the client asks for order=asc but
// must not depend on it.
func TestEventsSortedWhateverTheServerOrder(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	f := workosfake.New(workosfake.Config{APIKey: testKey})
	var want []string
	for i := range 330 {
		want = append(want, f.AddEvent("user.updated", map[string]any{"id": fmt.Sprintf("user_%d", i)}, now.Add(-time.Hour+time.Duration(i)*time.Second)))
	}
	// Older events outside the window, which a newest-first walk reaches.
	for i := range 150 {
		f.AddEvent("user.updated", map[string]any{"id": "old"}, now.Add(-5*time.Hour+time.Duration(i)*time.Second))
	}
	for _, order := range []string{"desc", "asc"} {
		t.Run(order, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				q.Set("order", order) // the server answers in its own order
				r.URL.RawQuery = q.Encode()
				f.ServeHTTP(w, r)
			}))
			defer srv.Close()
			f.ResetStats()
			p := newProvider(t, srv.URL, providers.Options{})
			evs := collect(t, p, providers.EventQuery{Since: now.Add(-time.Hour), Until: now})
			requireSorted(t, evs)
			if len(evs) != len(want) {
				t.Fatalf("got %d events, want %d", len(evs), len(want))
			}
			for i := range want {
				if evs[i].ID != want[i] {
					t.Fatalf("event %d = %s, want %s", i, evs[i].ID, want[i])
				}
			}
			// Newest first, the walk stops once it has passed range_start
			// instead of reading the older history.
			if n := f.Stats().Requests; n > 5 {
				t.Errorf("%d requests for 4 pages of the window", n)
			}
		})
	}
}

func TestEventsBufferSplit(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	f := workosfake.New(workosfake.Config{APIKey: testKey})
	var want []string
	for i := range 640 {
		want = append(want, f.AddEvent("user.created", map[string]any{"id": fmt.Sprint(i)}, now.Add(-time.Hour+time.Duration(i/2)*time.Second)))
	}
	for _, order := range []string{"asc", "desc"} {
		t.Run(order, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				q.Set("order", order)
				r.URL.RawQuery = q.Encode()
				f.ServeHTTP(w, r)
			}))
			defer srv.Close()
			f.ResetStats()
			p := newProvider(t, srv.URL, providers.Options{})
			p.maxEventBuffer = 150
			evs := collect(t, p, providers.EventQuery{Since: now.Add(-2 * time.Hour)})
			if len(evs) != len(want) {
				t.Fatalf("got %d events, want %d", len(evs), len(want))
			}
			requireSorted(t, evs)
			// Bounded refetching: 7 pages unsplit; each split refetches about one window.
			if n := f.Stats().Requests; n > 30 {
				t.Errorf("%d requests for 640 events", n)
			}
		})
	}
}

func TestEventsErrors(t *testing.T) {
	f, srv := newFake(t, workosfake.Config{})
	// The spec's comma form and workos-go's repeated keys are both
	// accepted, and filter alike.
	now := time.Now().UTC()
	f.AddEvent("user.created", map[string]any{"id": "user_1"}, now.Add(-3*time.Minute))
	f.AddEvent("user.updated", map[string]any{"id": "user_1"}, now.Add(-2*time.Minute))
	f.AddEvent("user.deleted", map[string]any{"id": "user_1"}, now.Add(-time.Minute))
	for _, query := range []string{"events=user.created,user.updated", "events=user.created&events=user.updated"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events?limit=10&"+query, nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Data []struct{ Event string } `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || len(page.Data) != 2 {
			t.Errorf("%s: HTTP %d, %d events, %v; want 200 and 2 events", query, resp.StatusCode, len(page.Data), err)
		}
	}
	// A failing page names the page and the types.
	f.SetFaults(workosfake.Faults{ServerErrorEvery: 1})
	p := newProvider(t, srv.URL, providers.Options{Retries: 1})
	err := p.Events(context.Background(), providers.EventQuery{Types: []string{"user.created"}}, func(providers.Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "page 1") || !strings.Contains(err.Error(), "user.created") {
		t.Errorf("Events under 500s: %v", err)
	}
	if p.EventRetention() != 30*24*time.Hour {
		t.Error("retention")
	}
}

// decodeSettings decodes m as the workos: section of reconctl.yaml.
func decodeSettings(t testing.TB, m map[string]any) (any, error) {
	t.Helper()
	src, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	return decodeConfig(doc.Content[0], "")
}

// TestDeletionEvents: user.deleted, organization.deleted and
// dsync.user.deleted confirm deletions (the fake records them on delete,
// and GET then answers 404), each for its own resource.
func TestDeletionEvents(t *testing.T) {
	f, srv := newFake(t, workosfake.Config{})
	p := newProvider(t, srv.URL, providers.Options{})
	for res, want := range map[string]string{Users: "user", Organizations: "organization", DirectoryUsers: "dsync.user"} {
		gone, created := p.DeletionEvents(res)
		if !slices.Equal(gone, []string{want + ".deleted"}) || !slices.Equal(created, []string{want + ".created"}) {
			t.Errorf("%s: gone %v created %v", res, gone, created)
		}
	}
	if gone, _ := p.DeletionEvents("invoices"); gone != nil {
		t.Errorf("unknown resource: %v", gone)
	}
	if providers.FeaturesOf(p).Deletions == nil {
		t.Error("Features().Deletions is nil")
	}
	u := f.CreateUser(map[string]any{"email": "a@example.com"})
	o := f.CreateOrganization(map[string]any{"name": "Acme"})
	if err := f.DeleteUser(u["id"].(string)); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteOrganization(o["id"].(string)); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ev := range collect(t, p, providers.EventQuery{Types: []string{"user.deleted", "organization.deleted"}}) {
		got[ev.Resource] = ev.ObjectID
	}
	if got[Users] != u["id"] || got[Organizations] != o["id"] {
		t.Errorf("deletion events %v", got)
	}
	if _, st, err := p.Get(context.Background(), Users, u["id"].(string)); err != nil || st != providers.StatusDeleted {
		t.Errorf("deleted user: %v %v", st, err)
	}
}
