package workosfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/workos/workosfake"
)

const key = "sk_test_fakeKey1234"

type client struct {
	t    *testing.T
	base string
}

type listResp struct {
	Object       string           `json:"object"`
	Data         []map[string]any `json:"data"`
	ListMetadata struct {
		Before *string `json:"before"`
		After  *string `json:"after"`
	} `json:"list_metadata"`
}

func setup(t *testing.T, cfg workosfake.Config) (*workosfake.Fake, *client) {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = key
	}
	f, srv := workosfake.NewServer(cfg)
	t.Cleanup(srv.Close)
	return f, &client{t: t, base: srv.URL}
}

func (c *client) do(path, auth string) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		c.t.Errorf("GET %s: no X-Request-Id", path)
	}
	return resp.StatusCode, b
}

func (c *client) get(path string) (int, []byte) { c.t.Helper(); return c.do(path, "Bearer "+key) }

func (c *client) list(path string) listResp {
	c.t.Helper()
	st, b := c.get(path)
	if st != 200 {
		c.t.Fatalf("GET %s: %d %s", path, st, b)
	}
	var l listResp
	if err := json.Unmarshal(b, &l); err != nil || l.Object != "list" {
		c.t.Fatalf("GET %s: %v %s", path, err, b)
	}
	return l
}

func ids(l listResp) []string {
	var out []string
	for _, o := range l.Data {
		out = append(out, o["id"].(string))
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestAuth(t *testing.T) {
	_, c := setup(t, workosfake.Config{})
	for _, auth := range []string{"", "Bearer ", "Bearer sk_test_wrong", "Basic " + key} {
		if st, b := c.do("/organizations", auth); st != 401 || !strings.Contains(string(b), "message") {
			t.Errorf("auth %q: %d %s", auth, st, b)
		}
	}
	// Without a configured key any secret-key-shaped key is accepted.
	_, srv := workosfake.NewServer(workosfake.Config{})
	defer srv.Close()
	open := &client{t: t, base: srv.URL}
	if st, _ := open.do("/organizations", "Bearer sk_live_anything"); st != 200 {
		t.Errorf("any sk_ key: %d", st)
	}
	if st, _ := open.do("/organizations", "Bearer pk_live_anything"); st != 401 {
		t.Errorf("a non-secret key: %d", st)
	}
}

func TestListPaging(t *testing.T) {
	f, c := setup(t, workosfake.Config{})
	all := f.SeedUsers(25, nil) // oldest first
	newest := slices.Clone(all)
	slices.Reverse(newest)

	l := c.list("/user_management/users")
	if got := ids(l); !slices.Equal(got, newest[:10]) || l.ListMetadata.Before != nil || str(l.ListMetadata.After) != newest[9] {
		t.Fatalf("first page (default limit 10, newest first): %v before=%s after=%s", got, str(l.ListMetadata.Before), str(l.ListMetadata.After))
	}
	var walked []string
	after := ""
	for {
		l = c.list("/user_management/users?limit=7&after=" + after)
		walked = append(walked, ids(l)...)
		if l.ListMetadata.After == nil {
			break
		}
		after = *l.ListMetadata.After
	}
	if !slices.Equal(walked, newest) {
		t.Errorf("desc walk = %v", walked)
	}
	l = c.list("/user_management/users?order=asc&limit=100")
	if !slices.Equal(ids(l), all) || l.ListMetadata.After != nil || l.ListMetadata.Before != nil {
		t.Errorf("asc = %v", ids(l))
	}
	// before pages back toward the start, in list order.
	l = c.list("/user_management/users?order=asc&limit=5&before=" + all[12])
	if !slices.Equal(ids(l), all[7:12]) || str(l.ListMetadata.Before) != all[7] || str(l.ListMetadata.After) != all[11] {
		t.Errorf("before page = %v before=%s after=%s", ids(l), str(l.ListMetadata.Before), str(l.ListMetadata.After))
	}
	// A deleted cursor still works; deleted users are not listed.
	if err := f.DeleteUser(all[10]); err != nil {
		t.Fatal(err)
	}
	l = c.list("/user_management/users?order=asc&limit=3&after=" + all[10])
	if !slices.Equal(ids(l), all[11:14]) {
		t.Errorf("after a deleted cursor = %v", ids(l))
	}
	l = c.list("/user_management/users?limit=100")
	if len(l.Data) != 24 || slices.Contains(ids(l), all[10]) {
		t.Errorf("deleted user listed: %d", len(l.Data))
	}
	for _, bad := range []string{"limit=0", "limit=101", "limit=x", "order=up", "before=a&after=b", "after=user_UNKNOWN", "starting_after=x"} {
		if st, b := c.get("/user_management/users?" + bad); st != 422 || !strings.Contains(string(b), "Validation failed.") {
			t.Errorf("%s: %d %s", bad, st, b)
		}
	}
}

func TestFilters(t *testing.T) {
	f, c := setup(t, workosfake.Config{})
	u := f.CreateUser(map[string]any{"email": "Ann@Example.com"})
	f.CreateUser(map[string]any{"email": "bob@example.com"})
	org := f.CreateOrganization(map[string]any{"name": "Acme", "domains": []any{map[string]any{"domain": "acme.com"}}})
	f.AddMembership(u["id"].(string), org["id"].(string))
	if l := c.list("/user_management/users?email=ann%40example.com"); len(l.Data) != 1 || l.Data[0]["id"] != u["id"] {
		t.Errorf("email filter: %v", ids(l))
	}
	if l := c.list("/user_management/users?organization_id=" + org["id"].(string)); len(l.Data) != 1 {
		t.Errorf("organization filter: %v", ids(l))
	}
	if l := c.list("/organizations?domains=acme.com"); len(l.Data) != 1 {
		t.Errorf("domains filter: %v", ids(l))
	}
	f.SeedDirectoryUsers("directory_A", 3, nil)
	f.CreateDirectoryUser("directory_B", map[string]any{"email": "x@b.com", "groups": []any{map[string]any{"id": "directory_group_1"}}})
	if st, b := c.get("/directory_users"); st != 422 || !strings.Contains(string(b), "directory") {
		t.Errorf("directory_users without directory: %d %s", st, b)
	}
	if l := c.list("/directory_users?directory=directory_A"); len(l.Data) != 3 || l.Data[0]["directory_id"] != "directory_A" {
		t.Errorf("directory filter: %v", l.Data)
	}
	if l := c.list("/directory_users?group=directory_group_1"); len(l.Data) != 1 || l.Data[0]["email"] != "x@b.com" {
		t.Errorf("group filter: %v", l.Data)
	}
}

func TestRetrieve(t *testing.T) {
	f, c := setup(t, workosfake.Config{})
	u := f.CreateUser(map[string]any{"email": "a@b.c", "created_at": time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)})
	id := u["id"].(string)
	if !strings.HasPrefix(id, "user_01") || len(id) != len("user_")+26 {
		t.Errorf("id %s is not ULID-shaped", id)
	}
	if u["created_at"] != "2026-01-02T03:04:05.006Z" || u["updated_at"] != u["created_at"] || u["object"] != "user" {
		t.Errorf("user %v", u)
	}
	st, b := c.get("/user_management/users/" + id)
	if st != 200 || !strings.Contains(string(b), `"email":"a@b.c"`) {
		t.Errorf("GET user: %d %s", st, b)
	}
	f.Forbid(id)
	if st, _ := c.get("/user_management/users/" + id); st != 403 {
		t.Errorf("forbidden: %d", st)
	}
	want := `{"code":"entity_not_found","entity_id":"user_X","message":"User not found: 'user_X'."}`
	if st, b := c.get("/user_management/users/user_X"); st != 404 || string(b) != want {
		t.Errorf("unknown user: %d %s", st, b)
	}
	o := f.CreateOrganization(nil)
	if err := f.DeleteOrganization(o["id"].(string)); err != nil {
		t.Fatal(err)
	}
	if st, b := c.get("/organizations/" + o["id"].(string)); st != 404 || !strings.Contains(string(b), "Organization not found") {
		t.Errorf("deleted organization: %d %s", st, b)
	}
	if st, b := c.get("/nope"); st != 404 || strings.Contains(string(b), "entity_not_found") {
		t.Errorf("unknown route: %d %s", st, b)
	}
}

func TestEvents(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f, c := setup(t, workosfake.Config{Now: func() time.Time { return now }})
	u := f.CreateUser(map[string]any{"email": "a@b.c"})
	now = now.Add(time.Second)
	if _, err := f.UpdateUser(u["id"].(string), map[string]any{"first_name": "Ann"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if err := f.DeleteUser(u["id"].(string)); err != nil {
		t.Fatal(err)
	}
	f.CreateOrganization(map[string]any{"name": "Acme"})
	f.AddEvent("user.created", map[string]any{"id": "user_old"}, now.Add(-31*24*time.Hour))

	types := func(l listResp) []string {
		var out []string
		for _, e := range l.Data {
			out = append(out, e["event"].(string))
		}
		return out
	}
	want := []string{"user.created", "user.updated", "user.deleted"}
	if l := c.list("/events?order=asc&events=user.created,user.updated,user.deleted"); !slices.Equal(types(l), want) {
		t.Errorf("comma-separated events: %v", types(l))
	}
	// workos-go sends repeated keys (go-querystring): accepted like the
	// spec's comma form, alone or mixed. events[] is no parameter of the spec.
	for _, enc := range []string{
		"events=user.created&events=user.updated&events=user.deleted",
		"events=user.created,user.updated&events=user.deleted",
	} {
		if l := c.list("/events?order=asc&" + enc); !slices.Equal(types(l), want) {
			t.Errorf("%s: %v", enc, types(l))
		}
	}
	if st, b := c.get("/events?order=asc&events[]=user.created"); st != 422 {
		t.Errorf("events[]: %d %s, want 422", st, b)
	}
	// events is optional: no filter lists every type (the organization event too).
	if l := c.list("/events?order=asc"); !slices.Equal(types(l), append(slices.Clone(want), "organization.created")) {
		t.Errorf("no events filter: %v", types(l))
	}
	// Default order is newest first; the organization event is filtered out.
	if l := c.list("/events?events=user.created,user.updated,user.deleted"); !slices.Equal(types(l), []string{"user.deleted", "user.updated", "user.created"}) {
		t.Errorf("desc: %v", types(l))
	}
	ev := c.list("/events?order=asc&events=user.updated").Data[0]
	data := ev["data"].(map[string]any)
	if ev["object"] != "event" || !strings.HasPrefix(ev["id"].(string), "event_") || data["first_name"] != "Ann" || ev["created_at"] != "2026-03-01T12:00:01.000Z" {
		t.Errorf("event shape %v", ev)
	}
	// Ranges are inclusive; retention hides the 31-day-old event.
	l := c.list("/events?order=asc&events=user.created,user.updated,user.deleted&range_start=2026-03-01T12:00:01.000Z&range_end=2026-03-01T12:00:02Z")
	if !slices.Equal(types(l), want[1:]) {
		t.Errorf("range: %v", types(l))
	}
	if l := c.list("/events?events=user.created&range_start=2026-01-01T00:00:00Z"); len(l.Data) != 1 {
		t.Errorf("retention: %d events", len(l.Data))
	}
	if len(f.Events()) != 5 {
		t.Errorf("stored events %d", len(f.Events()))
	}
	// after together with a range, as the spec allows: the range still filters.
	first := c.list("/events?order=asc&limit=1&events=user.created,user.updated,user.deleted")
	after := url.QueryEscape(*first.ListMetadata.After)
	if l := c.list("/events?order=asc&events=user.created,user.updated,user.deleted&after=" + after + "&range_end=2026-03-01T12:00:01.000Z"); !slices.Equal(types(l), want[1:2]) {
		t.Errorf("after+range_end: %v", types(l))
	}
	if l := c.list("/events?order=asc&events=user.created,user.updated,user.deleted&after=" + after); !slices.Equal(types(l), want[1:]) {
		t.Errorf("after alone: %v", types(l))
	}
	if st, _ := c.get("/events?events=user.created&before=x"); st != 422 {
		t.Errorf("before on events: %d", st)
	}
	if st, _ := c.get("/events?events=user.created&range_start=yesterday"); st != 422 {
		t.Errorf("bad range_start: %d", st)
	}

}

func TestEventsOldestFirstIgnoresOrder(t *testing.T) {
	f, c := setup(t, workosfake.Config{EventsOldestFirst: true})
	t0 := time.Now().Add(-time.Hour)
	a := f.AddEvent("user.created", map[string]any{"id": "1"}, t0)
	b := f.AddEvent("user.created", map[string]any{"id": "2"}, t0.Add(time.Second))
	if got := ids(c.list("/events?events=user.created&order=desc")); !slices.Equal(got, []string{a, b}) {
		t.Errorf("got %v", got)
	}
}

func TestDirectoryRateLimit(t *testing.T) {
	f, c := setup(t, workosfake.Config{DirectoryUsersRPS: 4})
	f.SeedDirectoryUsers("directory_A", 1, nil)
	throttled := 0
	for range 8 {
		if st, _ := c.get("/directory_users?directory=directory_A"); st == 429 {
			throttled++
		}
	}
	if throttled == 0 {
		t.Error("8 immediate requests were not throttled at 4 req/s")
	}
	if st, _ := c.get("/directory_users?directory=directory_B"); st != 200 {
		t.Errorf("another directory has its own budget: %d", st)
	}
}

func TestFaults(t *testing.T) {
	f, c := setup(t, workosfake.Config{})
	f.SeedUsers(3, nil)
	f.SetFaults(workosfake.Faults{RateLimitEvery: 2, RetryAfter: 3})
	c.get("/user_management/users")
	st, b := c.get("/user_management/users")
	if st != 429 || !strings.Contains(string(b), "message") {
		t.Errorf("429: %d %s", st, b)
	}
	f.SetFaults(workosfake.Faults{ServerErrorEvery: 1, ServerErrorStatus: 503})
	if st, _ := c.get("/user_management/users"); st != 503 {
		t.Errorf("503: %d", st)
	}
	f.SetFaults(workosfake.Faults{})
	s := f.Stats()
	if s.RateLimited != 1 || s.ServerErrors != 1 || s.Faulted() != 2 {
		t.Errorf("stats %+v", s)
	}
	if n := len(f.Requests()); n != 3 {
		t.Errorf("request log %d", n)
	}
}
