package clerkfake_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/clerk/clerkfake"
)

const key = "sk_test_fakeKey1234"

type client struct {
	t    *testing.T
	base string
}

func setup(t *testing.T) (*clerkfake.Fake, *client) {
	t.Helper()
	f, srv := clerkfake.NewServer(clerkfake.Config{APIKey: key})
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
	return resp.StatusCode, b
}

func (c *client) get(path string) (int, []byte) { c.t.Helper(); return c.do(path, "Bearer "+key) }

func (c *client) users(path string) []map[string]any {
	c.t.Helper()
	st, b := c.get(path)
	if st != 200 {
		c.t.Fatalf("GET %s: %d %s", path, st, b)
	}
	if !strings.HasPrefix(string(b), "[") {
		c.t.Fatalf("GET %s: not a bare array: %s", path, b)
	}
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		c.t.Fatal(err)
	}
	return out
}

func ids(us []map[string]any) []string {
	var out []string
	for _, u := range us {
		out = append(out, u["id"].(string))
	}
	return out
}

type clerkErr struct {
	Errors []struct {
		Message     string `json:"message"`
		LongMessage string `json:"long_message"`
		Code        string `json:"code"`
	} `json:"errors"`
	TraceID string `json:"clerk_trace_id"`
}

func errCode(t *testing.T, b []byte) string {
	t.Helper()
	var e clerkErr
	if err := json.Unmarshal(b, &e); err != nil || len(e.Errors) == 0 || e.TraceID == "" || e.Errors[0].LongMessage == "" {
		t.Fatalf("not Clerk's error shape: %s", b)
	}
	return e.Errors[0].Code
}

func TestAuth(t *testing.T) {
	_, c := setup(t)
	if st, b := c.do("/v1/users", ""); st != 401 || errCode(t, b) != "authorization_header_missing" {
		t.Errorf("no auth: %d %s", st, b)
	}
	if st, b := c.do("/v1/users", "Bearer sk_test_other"); st != 401 || errCode(t, b) != "authentication_invalid" {
		t.Errorf("wrong key: %d %s", st, b)
	}
}

func TestListParams(t *testing.T) {
	f, c := setup(t)
	all := f.SeedUsers(30, func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("u%02d@example.com", 29-i), "first_name": fmt.Sprint(i % 3)}
	})
	newest := slices.Clone(all)
	slices.Reverse(newest)
	if got := ids(c.users("/v1/users")); !slices.Equal(got, newest[:10]) {
		t.Errorf("default: limit 10, -created_at: %v", got)
	}
	if got := ids(c.users("/v1/users?limit=7&offset=20&order_by=%2Bcreated_at")); !slices.Equal(got, all[20:27]) {
		t.Errorf("offset asc: %v", got)
	}
	if got := ids(c.users("/v1/users?limit=500&offset=28&order_by=created_at")); !slices.Equal(got, all[28:]) {
		t.Errorf("short last page: %v", got)
	}
	if got := c.users("/v1/users?offset=100"); len(got) != 0 {
		t.Errorf("past the end: %v", got)
	}
	if got := ids(c.users("/v1/users?limit=3&order_by=email_address")); !slices.Equal(got, []string{all[29], all[28], all[27]}) {
		t.Errorf("by email: %v", got)
	}
	if got := ids(c.users("/v1/users?limit=3&order_by=-updated_at")); len(got) != 3 {
		t.Errorf("by updated_at: %v", got)
	}
	if got := ids(c.users("/v1/users?limit=2&order_by=created_at&starting_after=" + all[3])); !slices.Equal(got, all[4:6]) {
		t.Errorf("starting_after: %v", got)
	}
	if got := ids(c.users("/v1/users?email_address=U05@EXAMPLE.com&email_address=u07@example.com&order_by=created_at")); !slices.Equal(got, []string{all[22], all[24]}) {
		t.Errorf("email filter: %v", got)
	}
	if got := ids(c.users("/v1/users?user_id=" + all[1] + "&user_id=" + all[2])); len(got) != 2 {
		t.Errorf("user_id filter: %v", got)
	}
	if got := c.users("/v1/users?query=u05"); len(got) != 1 {
		t.Errorf("query: %v", got)
	}
	for _, bad := range []string{"limit=0", "limit=501", "limit=x", "offset=-1", "order_by=+color",
		"starting_after=" + all[1] + "&order_by=updated_at", "starting_after=" + all[1] + "&offset=5", "nope=1"} {
		if st, b := c.get("/v1/users?" + bad); st != 422 {
			t.Errorf("%s: %d %s", bad, st, b)
		} else {
			errCode(t, b)
		}
	}
	st, b := c.get("/v1/users/count?email_address=u05@example.com")
	if st != 200 || string(b) != `{"object":"total_count","total_count":1}` {
		t.Errorf("count: %d %s", st, b)
	}
	if _, b := c.get("/v1/users/count"); string(b) != `{"object":"total_count","total_count":30}` {
		t.Errorf("count all: %s", b)
	}
}

func TestUsers(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	f, c := setup(t)
	f.SetClock(func() time.Time { return now })
	u := f.CreateUser(map[string]any{"email": "a@example.com", "first_name": "Ann"})
	id := u["id"].(string)
	if !strings.HasPrefix(id, "user_") || len(id) != len("user_")+27 {
		t.Errorf("id %s", id)
	}
	if fmt.Sprint(u["created_at"]) != fmt.Sprint(now.UnixMilli()) || fmt.Sprint(u["updated_at"]) != fmt.Sprint(now.UnixMilli()) {
		t.Errorf("timestamps in ms: %v %v", u["created_at"], u["updated_at"])
	}
	emails := u["email_addresses"].([]any)
	if len(emails) != 1 || u["primary_email_address_id"] != emails[0].(map[string]any)["id"] {
		t.Errorf("primary email: %v", u)
	}
	now = now.Add(time.Minute)
	eid, err := f.AddEmailAddress(id, "b@example.com", true)
	if err != nil {
		t.Fatal(err)
	}
	st, b := c.get("/v1/users/" + id)
	var got map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	_ = d.Decode(&got)
	if st != 200 || got["primary_email_address_id"] != eid || len(got["email_addresses"].([]any)) != 2 ||
		fmt.Sprint(got["updated_at"]) != fmt.Sprint(now.UnixMilli()) {
		t.Errorf("after AddEmailAddress: %d %v", st, got)
	}
	now = now.Add(time.Minute)
	upd, err := f.UpdateUser(id, map[string]any{"email": "c@example.com", "last_name": "Lee"})
	if err != nil || upd["last_name"] != "Lee" {
		t.Fatal(upd, err)
	}
	if got := c.users("/v1/users?email_address=c@example.com"); len(got) != 1 {
		t.Errorf("updated primary email not found")
	}
	f.Forbid(id)
	if st, b := c.get("/v1/users/" + id); st != 403 {
		t.Errorf("forbidden: %d %s", st, b)
	}
	v := f.CreateUser(nil)
	if err := f.DeleteUser(v["id"].(string)); err != nil {
		t.Fatal(err)
	}
	for _, missing := range []string{v["id"].(string), "user_never"} {
		if st, b := c.get("/v1/users/" + missing); st != 404 || errCode(t, b) != "resource_not_found" {
			t.Errorf("%s: %d %s", missing, st, b)
		}
	}
	if st, b := c.get("/v1/nope"); st != 404 || errCode(t, b) == "resource_not_found" {
		t.Errorf("unknown path: %d %s", st, b)
	}
	if f.Count() != 1 {
		t.Errorf("count %d", f.Count())
	}
}

func TestFaults(t *testing.T) {
	f, c := setup(t)
	f.SetFaults(clerkfake.Faults{RateLimitEvery: 1, RetryAfter: 2})
	st, b := c.get("/v1/users")
	if st != 429 || errCode(t, b) != "too_many_requests" {
		t.Errorf("429: %d %s", st, b)
	}
	f.SetFaults(clerkfake.Faults{})
	if s := f.Stats(); s.RateLimited != 1 || len(f.Requests()) != 1 {
		t.Errorf("stats %+v", s)
	}
}
