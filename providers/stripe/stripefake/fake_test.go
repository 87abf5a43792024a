package stripefake_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

const key = "sk_test_fakeKey1234"

type client struct {
	t    *testing.T
	base string
}

type listResp struct {
	Object  string            `json:"object"`
	URL     string            `json:"url"`
	HasMore bool              `json:"has_more"`
	Data    []json.RawMessage `json:"data"`
}

type apiErr struct {
	Error struct {
		Type, Code, Message, Param string
		DocURL                     string `json:"doc_url"`
	} `json:"error"`
}

func setup(t *testing.T, cfg stripefake.Config) (*stripefake.Fake, *client) {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = key
	}
	f, srv := stripefake.NewServer(cfg)
	t.Cleanup(srv.Close)
	return f, &client{t: t, base: srv.URL}
}

func (c *client) do(path string, auth string) (*http.Response, []byte) {
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
		c.t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp, b
}

func (c *client) get(path string) (int, []byte) {
	c.t.Helper()
	resp, b := c.do(path, "Bearer "+key)
	if resp.Header.Get("Request-Id") == "" {
		c.t.Errorf("GET %s: no Request-Id", path)
	}
	return resp.StatusCode, b
}

func (c *client) list(path string) listResp {
	c.t.Helper()
	st, b := c.get(path)
	if st != 200 {
		c.t.Fatalf("GET %s = %d %s", path, st, b)
	}
	var l listResp
	if err := json.Unmarshal(b, &l); err != nil {
		c.t.Fatal(err)
	}
	if l.Object != "list" || l.URL == "" {
		c.t.Errorf("envelope %s", b)
	}
	return l
}

func ids(l listResp) []string {
	var out []string
	for _, raw := range l.Data {
		var o struct{ ID string }
		json.Unmarshal(raw, &o)
		out = append(out, o.ID)
	}
	return out
}

func (c *client) wantErr(path string, status int, param string) apiErr {
	c.t.Helper()
	st, b := c.get(path)
	var e apiErr
	json.Unmarshal(b, &e)
	if st != status || e.Error.Type == "" || e.Error.Message == "" || (param != "" && e.Error.Param != param) {
		c.t.Errorf("GET %s = %d %s; want %d with param %q", path, st, b, status, param)
	}
	return e
}

func TestAuth(t *testing.T) {
	_, c := setup(t, stripefake.Config{})
	if resp, _ := c.do("/v1/customers", ""); resp.StatusCode != 401 {
		t.Errorf("no key: %d", resp.StatusCode)
	}
	resp, b := c.do("/v1/customers", "Bearer sk_test_wrongwrongwrong")
	if resp.StatusCode != 401 || strings.Contains(string(b), "sk_test_wrongwrongwrong") {
		t.Errorf("wrong key: %d %s", resp.StatusCode, b)
	}
	if resp, _ := c.do("/v1/customers", "Basic "+base64.StdEncoding.EncodeToString([]byte(key+":"))); resp.StatusCode != 200 {
		t.Errorf("basic auth: %d", resp.StatusCode)
	}
	// Without a configured key, anything shaped like a Stripe secret key passes.
	_, srv := stripefake.NewServer(stripefake.Config{})
	defer srv.Close()
	anyKey := &client{t: t, base: srv.URL}
	if resp, _ := anyKey.do("/v1/customers", "Bearer sk_test_whatever"); resp.StatusCode != 200 {
		t.Errorf("any sk_test_ key: %d", resp.StatusCode)
	}
	if resp, _ := anyKey.do("/v1/customers", "Bearer pk_test_whatever"); resp.StatusCode != 401 {
		t.Errorf("publishable key: %d", resp.StatusCode)
	}
}

func TestListPagingAndFilters(t *testing.T) {
	f, c := setup(t, stripefake.Config{})
	base := time.Unix(1_700_000_000, 0)
	var all []string
	for i := range 25 {
		// Two customers per second: ties are ordered by id, newest first.
		cus := f.CreateCustomer(map[string]any{"email": fmt.Sprintf("u%d@example.com", i%5), "created": base.Unix() + int64(i/2)})
		all = append(all, cus["id"].(string))
	}
	newestFirst := make([]string, len(all))
	for i, id := range all {
		newestFirst[len(all)-1-i] = id
	}

	l := c.list("/v1/customers")
	if got := ids(l); len(got) != 10 || !l.HasMore || strings.Join(got, ",") != strings.Join(newestFirst[:10], ",") {
		t.Errorf("default page = %v has_more %v", got, l.HasMore)
	}
	l = c.list("/v1/customers?limit=10&starting_after=" + newestFirst[19])
	if got := ids(l); strings.Join(got, ",") != strings.Join(newestFirst[20:], ",") || l.HasMore {
		t.Errorf("last page = %v has_more %v", got, l.HasMore)
	}
	// ending_before gives the page just newer than the cursor, newest first.
	l = c.list("/v1/customers?limit=3&ending_before=" + newestFirst[10])
	if got := ids(l); strings.Join(got, ",") != strings.Join(newestFirst[7:10], ",") || !l.HasMore {
		t.Errorf("ending_before page = %v has_more %v", got, l.HasMore)
	}
	l = c.list("/v1/customers?limit=100&ending_before=" + newestFirst[2])
	if got := ids(l); strings.Join(got, ",") != strings.Join(newestFirst[:2], ",") || l.HasMore {
		t.Errorf("ending_before first page = %v has_more %v", got, l.HasMore)
	}

	// created: 25 customers over seconds 0..12 (two per second, one in 12).
	for q, want := range map[string]int{
		fmt.Sprintf("created=%d", base.Unix()+3):                                    2,
		fmt.Sprintf("created[gte]=%d", base.Unix()+10):                              5,
		fmt.Sprintf("created[gt]=%d", base.Unix()+10):                               3,
		fmt.Sprintf("created[lt]=%d", base.Unix()+2):                                4,
		fmt.Sprintf("created[lte]=%d", base.Unix()+2):                               6,
		fmt.Sprintf("created[gte]=%d&created[lt]=%d", base.Unix()+2, base.Unix()+4): 4,
	} {
		if got := len(c.list("/v1/customers?limit=100&" + q).Data); got != want {
			t.Errorf("%s: %d customers, want %d", q, got, want)
		}
	}
	if got := len(c.list("/v1/customers?limit=100&email=u1@example.com").Data); got != 5 {
		t.Errorf("email filter: %d", got)
	}
	if got := len(c.list("/v1/customers?limit=100&email=U1@example.com").Data); got != 0 {
		t.Errorf("email filter must be case-sensitive: %d", got)
	}

	c.wantErr("/v1/customers?limit=0", 400, "limit")
	c.wantErr("/v1/customers?limit=101", 400, "limit")
	c.wantErr("/v1/customers?limit=ten", 400, "limit")
	c.wantErr("/v1/customers?starting_after="+all[0]+"&ending_before="+all[1], 400, "")
	c.wantErr("/v1/customers?foo=1", 400, "foo")
	c.wantErr("/v1/customers?created[since]=1", 400, "created[since]")
	c.wantErr("/v1/customers?created[gte]=yesterday", 400, "created[gte]")
	c.wantErr("/v1/customers?status=all", 400, "status")
	c.wantErr("/v1/customers?starting_after=cus_nope", 400, "starting_after")
	c.wantErr("/v1/nothing", 404, "")
}

func TestDeletedAndMissing(t *testing.T) {
	f, c := setup(t, stripefake.Config{})
	a := f.CreateCustomer(map[string]any{"email": "a@example.com"})["id"].(string)
	b := f.CreateCustomer(map[string]any{"email": "b@example.com"})["id"].(string)
	if err := f.DeleteCustomer(a); err != nil {
		t.Fatal(err)
	}
	if got := ids(c.list("/v1/customers")); len(got) != 1 || got[0] != b {
		t.Errorf("list after delete = %v", got)
	}
	st, body := c.get("/v1/customers/" + a)
	if st != 200 || string(body) != fmt.Sprintf(`{"deleted":true,"id":"%s","object":"customer"}`, a) {
		t.Errorf("GET deleted = %d %s", st, body)
	}
	// A deleted customer is refused as a cursor, like Stripe: 400
	// resource_missing naming the parameter (stripe-go issue #1030)...
	if e := c.wantErr("/v1/customers?starting_after="+a, 400, "starting_after"); e.Error.Code != "resource_missing" {
		t.Errorf("deleted cursor: %+v", e)
	}
	// ...unless the fake is told to accept it.
	f2, c2 := setup(t, stripefake.Config{AcceptDeletedCursor: true})
	a2 := f2.CreateCustomer(map[string]any{"email": "a@example.com"})["id"].(string)
	f2.CreateCustomer(map[string]any{"email": "b@example.com"})
	if err := f2.DeleteCustomer(a2); err != nil {
		t.Fatal(err)
	}
	if got := ids(c2.list("/v1/customers?ending_before=" + a2)); len(got) != 1 {
		t.Errorf("cursor on deleted = %v", got)
	}
	e := c.wantErr("/v1/customers/cus_X", 404, "id")
	if e.Error.Code != "resource_missing" || e.Error.Message != "No such customer: 'cus_X'" ||
		e.Error.Type != "invalid_request_error" || e.Error.DocURL == "" {
		t.Errorf("404 body %+v", e)
	}
	f.Forbid(b)
	c.wantErr("/v1/customers/"+b, 403, "")
}

func TestSubscriptions(t *testing.T) {
	f, c := setup(t, stripefake.Config{})
	a := f.CreateCustomer(nil)["id"].(string)
	b := f.CreateCustomer(nil)["id"].(string)
	s1, _ := f.CreateSubscription(map[string]any{"customer": a, "price": "price_A"})
	s2, _ := f.CreateSubscription(map[string]any{"customer": b})
	s3, _ := f.CreateSubscription(map[string]any{"customer": b, "status": "past_due"})
	if _, err := f.CreateSubscription(map[string]any{"customer": "cus_none"}); err == nil {
		t.Error("subscription for a missing customer")
	}
	f.CancelSubscription(s2["id"].(string))
	for q, want := range map[string]int{
		"":                          2,
		"?status=all":               3,
		"?status=canceled":          1,
		"?status=ended":             1,
		"?status=past_due":          1,
		"?status=all&customer=" + b: 2,
		"?customer=" + b:            1,
		"?price=price_A":            1,
	} {
		if got := len(c.list("/v1/subscriptions" + q).Data); got != want {
			t.Errorf("subscriptions%s: %d, want %d", q, got, want)
		}
	}
	c.wantErr("/v1/subscriptions?status=gone", 400, "status")
	st, body := c.get("/v1/subscriptions/" + s2["id"].(string))
	if st != 200 || !strings.Contains(string(body), `"status":"canceled"`) {
		t.Errorf("GET canceled = %d %s", st, body)
	}
	// Deleting a customer cancels its subscriptions, as Stripe does.
	f.DeleteCustomer(a)
	if sub, _ := f.Subscription(s1["id"].(string)); sub["status"] != "canceled" {
		t.Errorf("subscription of deleted customer: %v", sub["status"])
	}
	_ = s3
}

func TestEvents(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := now.Add(-31 * 24 * time.Hour)
	f, c := setup(t, stripefake.Config{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	set := func(t time.Time) { mu.Lock(); clock = t; mu.Unlock() }

	f.CreateCustomer(map[string]any{"email": "old@example.com"}) // will fall out of retention
	set(now.Add(-time.Hour))
	cus := f.CreateCustomer(map[string]any{"email": "a@example.com", "metadata": map[string]any{"plan": "free"}})
	id := cus["id"].(string)
	f.UpdateCustomer(id, map[string]any{"metadata": map[string]any{"plan": "pro"}, "name": "Ann"})
	sub, _ := f.CreateSubscription(map[string]any{"customer": id})
	f.DeleteCustomer(id) // cancels sub, then deletes
	set(now)

	l := c.list("/v1/events?limit=100")
	var types []string
	for _, raw := range l.Data {
		var full map[string]any
		json.Unmarshal(raw, &full)
		types = append(types, full["type"].(string))
		if full["object"] != "event" || full["api_version"] == nil || full["data"].(map[string]any)["object"] == nil {
			t.Errorf("event shape %s", raw)
		}
		if full["type"] == "customer.updated" {
			prev := full["data"].(map[string]any)["previous_attributes"].(map[string]any)
			if prev["metadata"].(map[string]any)["plan"] != "free" || prev["name"] != nil {
				t.Errorf("previous_attributes = %v", prev)
			}
		}
	}
	want := "customer.deleted,customer.subscription.deleted,customer.subscription.created,customer.updated,customer.created"
	if strings.Join(types, ",") != want {
		t.Errorf("events newest first = %v, want %s (the 31-day-old one dropped)", types, want)
	}
	for q, n := range map[string]int{
		"?type=customer.*":                                         5,
		"?type=customer.subscription.*":                            2,
		"?type=customer.created":                                   1,
		"?types[0]=customer.created&types[1]=customer.deleted":     2,
		"?types[]=customer.created&types[]=customer.updated":       2,
		"?" + url.Values{"types[]": {"customer.deleted"}}.Encode(): 1,
		"?delivery_success=false":                                  0,
	} {
		if got := len(c.list("/v1/events" + q).Data); got != n {
			t.Errorf("events%s: %d, want %d", q, got, n)
		}
	}
	c.wantErr("/v1/events?type=a&types[0]=b", 400, "")
	var many []string
	for i := range 21 {
		many = append(many, fmt.Sprintf("types[%d]=t%d", i, i))
	}
	c.wantErr("/v1/events?"+strings.Join(many, "&"), 400, "types")
	c.wantErr("/v1/events?types=customer.created", 400, "types")
	if st, _ := c.get("/v1/subscriptions/" + sub["id"].(string)); st != 200 {
		t.Errorf("subscription gone after customer delete: %d", st)
	}
	if len(f.Events()) != 6 {
		t.Errorf("stored events %d", len(f.Events()))
	}
}

func TestFaults(t *testing.T) {
	f, c := setup(t, stripefake.Config{})
	f.CreateCustomer(nil)
	f.SetFaults(stripefake.Faults{RateLimitEvery: 2, RateLimitShouldRetry: "true", RetryAfter: 1})
	c.get("/v1/customers")
	resp, body := c.do("/v1/customers", "Bearer "+key)
	var e apiErr
	json.Unmarshal(body, &e)
	if resp.StatusCode != 429 || e.Error.Code != "rate_limit" || resp.Header.Get("Stripe-Should-Retry") != "true" || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("429: %d %s %v", resp.StatusCode, body, resp.Header)
	}
	f.SetFaults(stripefake.Faults{ServerErrorEvery: 3, ServerErrorStatus: 503})
	var codes []int
	for range 6 {
		st, _ := c.get("/v1/customers")
		codes = append(codes, st)
	}
	if fmt.Sprint(codes) != "[200 200 503 200 200 503]" {
		t.Errorf("5xx every 3rd: %v", codes)
	}
	f.SetFaults(stripefake.Faults{TruncateEvery: 1})
	// Only successful bodies are cut: this 401 (no key) arrives whole.
	resp2, err := http.Get(c.base + "/v1/customers")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp2.Body); err != nil || resp2.StatusCode != 401 {
		t.Errorf("401 under TruncateEvery: %d %v", resp2.StatusCode, err)
	}
	resp2.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, c.base+"/v1/customers", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp3, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp3.Body)
		resp3.Body.Close()
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated body read err = %v", err)
	}
	f.SetFaults(stripefake.Faults{Latency: 50 * time.Millisecond})
	start := time.Now()
	c.get("/v1/customers")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("latency %v", d)
	}
	s := f.Stats()
	if s.RateLimited != 1 || s.ServerErrors != 2 || s.Truncated != 1 || s.Requests != 11 || s.Unauthorized != 1 {
		t.Errorf("stats %+v", s)
	}
	if len(f.Requests()) != 11 {
		t.Errorf("request log %d", len(f.Requests()))
	}
}

// TestServerSideRateLimit: with LimitRPS the fake answers a burst above its
// bucket 429 rate_limit, as Stripe does, and counts it. The rate is so low
// that no token comes back during the test.
func TestServerSideRateLimit(t *testing.T) {
	f, c := setup(t, stripefake.Config{})
	f.SetFaults(stripefake.Faults{LimitRPS: 0.0001, LimitBurst: 2})
	var codes []int
	var last []byte
	for range 3 {
		st, b := c.get("/v1/customers")
		codes = append(codes, st)
		last = b
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 || !strings.Contains(string(last), `"code":"rate_limit"`) {
		t.Fatalf("codes %v, last body %s", codes, last)
	}
	if s := f.Stats(); s.RateLimited != 1 {
		t.Errorf("stats %+v, want 1 rate limited", s)
	}
}
