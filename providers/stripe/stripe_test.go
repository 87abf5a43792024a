package stripe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/providertest"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// testKeyEnv holds the key tests use; set once in TestMain because
// t.Setenv cannot be used by parallel tests.
const (
	testKeyEnv = "RECONCTL_TEST_STRIPE_KEY"
	testKey    = "sk_test_reconctl0123456789abcdefWXYZ"
)

func TestMain(m *testing.M) {
	os.Setenv(testKeyEnv, testKey)
	os.Exit(m.Run())
}

func newFake(t testing.TB) (*stripefake.Fake, *httptest.Server) {
	t.Helper()
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: testKey})
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

// seedTimes spreads n objects over the last two years with three objects
// per creation second, so cursor ties inside a second are exercised.
func seedCustomers(f *stripefake.Fake, n int) []string {
	now := time.Now()
	return f.SeedCustomers(n, now.Add(-2*365*24*time.Hour), now.Add(-time.Hour), func(i int) map[string]any {
		return map[string]any{
			"email":    fmt.Sprintf("user%d@example.com", i),
			"name":     fmt.Sprintf("User %d", i),
			"metadata": map[string]any{"plan": []string{"free", "pro", "team"}[i%3]},
			"created":  now.Add(-2*365*24*time.Hour).Unix() + int64(i/3)*3600,
		}
	})
}

// stripeFixture adapts the fake to the conformance suite.
type stripeFixture struct {
	f   *stripefake.Fake
	srv *httptest.Server
}

func (x *stripeFixture) Seed(t *testing.T, resource string, n int) []string {
	ids := seedCustomers(x.f, n)
	if resource == Subscriptions {
		subs, err := x.f.SeedSubscriptions(ids, nil)
		if err != nil {
			t.Fatal(err)
		}
		return subs
	}
	return ids
}

func (x *stripeFixture) Delete(t *testing.T, resource, id string) {
	if resource != Customers {
		t.Fatalf("stripe %s cannot be deleted", resource)
	}
	if err := x.f.DeleteCustomer(id); err != nil {
		t.Fatal(err)
	}
}

func (x *stripeFixture) NeverExisted(resource string) string {
	if resource == Subscriptions {
		return "sub_neverexisted"
	}
	return "cus_neverexisted"
}

func (x *stripeFixture) SetFaults(fl providertest.Faults) {
	x.f.SetFaults(stripefake.Faults{
		RateLimitEvery:   fl.RateLimitEvery,
		ServerErrorEvery: fl.ServerErrorEvery,
		TruncateEvery:    fl.TruncateEvery,
		Latency:          fl.Latency,
	})
}

func (x *stripeFixture) Faulted() int {
	s := x.f.Stats()
	return s.RateLimited + s.ServerErrors + s.Truncated
}

func (x *stripeFixture) Provider(t *testing.T, cfg providertest.Config) providers.Provider {
	return newProvider(t, x.srv.URL, providers.Options{Concurrency: cfg.Concurrency, Retries: cfg.Retries})
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		Resource:      Customers,
		Concurrencies: []int{1, 4, 8},
		New: func(t *testing.T) providertest.Fixture {
			f, srv := newFake(t)
			return &stripeFixture{f: f, srv: srv}
		},
	})
}

func TestRegisteredAndMissingKey(t *testing.T) {
	if !slices.Contains(providers.Names(), "stripe") {
		t.Fatal(`"stripe" is not registered`)
	}
	_, err := providers.Open(providers.Options{Spec: "stripe", APIKeyEnv: "RECONCTL_TEST_UNSET_KEY"})
	if err == nil || err.Error() != "RECONCTL_TEST_UNSET_KEY is not set; export it or set api_key_env in reconctl.yaml" {
		t.Fatalf("missing custom key env: %v", err)
	}
	if os.Getenv("STRIPE_API_KEY") == "" {
		_, err = providers.Open(providers.Options{Spec: "stripe"})
		if err == nil || err.Error() != "STRIPE_API_KEY is not set; export it or set api_key_env in reconctl.yaml" {
			t.Fatalf("missing STRIPE_API_KEY: %v", err)
		}
	}
}

func TestAPIBaseMustBeHTTPSUnlessLoopback(t *testing.T) {
	for base, ok := range map[string]bool{
		"http://api.example.com":     false,
		"http://10.0.0.5:12111":      false,
		"ftp://127.0.0.1":            false,
		"http://127.0.0.1:12111":     true,
		"http://127.1.2.3:1":         true,
		"http://localhost:12111/":    true,
		"http://[::1]:12111":         true,
		"https://api.stripe.com":     true,
		"https://proxy.internal/api": true,
	} {
		_, err := New(providers.Options{APIBase: base, APIKeyEnv: testKeyEnv})
		if (err == nil) != ok {
			t.Errorf("New(api base %q) error = %v, want ok=%v", base, err, ok)
		}
		if err != nil && strings.HasPrefix(base, "http://") && !strings.Contains(err.Error(), "https://") {
			t.Errorf("error for %q does not tell to use https: %v", base, err)
		}
	}
}

func TestRecordFieldPaths(t *testing.T) {
	f, srv := newFake(t)
	c := f.CreateCustomer(map[string]any{"email": "ann@example.com", "name": "Ann",
		"metadata": map[string]any{"plan": "pro"}, "balance": 1234})
	if _, err := f.CreateSubscription(map[string]any{"customer": c["id"], "price": "price_pro"}); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, srv.URL, providers.Options{})
	var cus, sub providers.Record
	mustList(t, p, Customers, func(r providers.Record) { cus = r })
	mustList(t, p, Subscriptions, func(r providers.Record) { sub = r })
	if cus.Data["email"] != "ann@example.com" || cus.Data["metadata"].(map[string]any)["plan"] != "pro" {
		t.Errorf("customer record = %v", cus.Data)
	}
	if n, ok := cus.Data["balance"].(json.Number); !ok || n.String() != "1234" {
		t.Errorf("balance = %#v, want json.Number 1234", cus.Data["balance"])
	}
	if !cus.UpdatedAt.IsZero() {
		t.Errorf("UpdatedAt = %v, want zero (Stripe has no updated time)", cus.UpdatedAt)
	}
	items := sub.Data["items"].(map[string]any)["data"].([]any)
	if got := items[0].(map[string]any)["price"].(map[string]any)["id"]; got != "price_pro" {
		t.Errorf("items.data.0.price.id = %v", got)
	}
	if sub.Data["customer"] != c["id"] {
		t.Errorf("subscription customer = %v, want the id string", sub.Data["customer"])
	}
}

func mustList(t *testing.T, p *Provider, resource string, fn func(providers.Record)) {
	t.Helper()
	if err := p.List(context.Background(), resource, func(r providers.Record) error { fn(r); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestSubscriptionsAlwaysStatusAll(t *testing.T) {
	f, srv := newFake(t)
	cus := seedCustomers(f, 250)
	subs, err := f.SeedSubscriptions(cus, nil)
	if err != nil {
		t.Fatal(err)
	}
	canceled := map[string]bool{}
	for _, id := range subs[:40] {
		if err := f.CancelSubscription(id); err != nil {
			t.Fatal(err)
		}
		canceled[id] = true
	}
	for _, conc := range []int{1, 4} {
		f.ResetStats()
		p := newProvider(t, srv.URL, providers.Options{Concurrency: conc})
		var got []string
		mustList(t, p, Subscriptions, func(r providers.Record) {
			got = append(got, r.ID)
			if canceled[r.ID] && r.Data["status"] != "canceled" {
				t.Errorf("%s status = %v", r.ID, r.Data["status"])
			}
		})
		if len(got) != len(subs) {
			t.Errorf("concurrency %d: listed %d subscriptions, want %d (canceled ones included)", conc, len(got), len(subs))
		}
		for _, r := range f.Requests() {
			if r.Path == "/v1/subscriptions" && !strings.Contains(r.Query, "status=all") {
				t.Errorf("subscriptions request without status=all: %s", r.Query)
			}
		}
	}

	// A canceled subscription is present, not deleted.
	p := newProvider(t, srv.URL, providers.Options{})
	rec, st, err := p.Get(context.Background(), Subscriptions, subs[0])
	if err != nil || st != providers.StatusPresent || rec.Data["status"] != "canceled" {
		t.Errorf("Get(canceled subscription) = %v %v %v", rec.Data["status"], st, err)
	}
}

func TestRelatedAndEmail(t *testing.T) {
	f, srv := newFake(t)
	a := f.CreateCustomer(map[string]any{"email": "Ann@Example.com"})
	b := f.CreateCustomer(map[string]any{"email": "bob@example.com"})
	f.CreateCustomer(map[string]any{"email": "bob@example.com"})
	var aSubs []string
	for i := range 3 {
		s, err := f.CreateSubscription(map[string]any{"customer": a["id"], "price": fmt.Sprintf("price_%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		aSubs = append(aSubs, s["id"].(string))
	}
	if _, err := f.CreateSubscription(map[string]any{"customer": b["id"]}); err != nil {
		t.Fatal(err)
	}
	if err := f.CancelSubscription(aSubs[1]); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, srv.URL, providers.Options{})
	ctx := context.Background()

	if got := p.RelatedResources(Customers); !slices.Equal(got, []string{Subscriptions}) {
		t.Errorf("RelatedResources(customers) = %v", got)
	}
	if got := p.ParentPath(Subscriptions, Customers); got != "customer" {
		t.Errorf("ParentPath = %q", got)
	}
	var got []string
	err := p.ListRelated(ctx, Subscriptions, Customers, a["id"].(string), func(r providers.Record) error {
		got = append(got, r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, aSubs) {
		t.Errorf("ListRelated = %v, want %v (canceled included)", got, aSubs)
	}

	recs, err := p.FindByEmail(ctx, Customers, "bob@example.com")
	if err != nil || len(recs) != 2 {
		t.Errorf("FindByEmail(bob) = %d records, %v; want 2", len(recs), err)
	}
	recs, err = p.FindByEmail(ctx, Customers, "ann@example.com")
	if err != nil || len(recs) != 0 {
		t.Errorf("FindByEmail is case-sensitive at Stripe: got %d records, %v", len(recs), err)
	}
	if _, err := p.FindByEmail(ctx, "invoices", "x"); !errors.As(err, new(*providers.UnknownResourceError)) {
		t.Errorf("FindByEmail(invoices) = %v", err)
	}
}

func TestUnauthorizedFailsTheRun(t *testing.T) {
	_, srv := newFake(t)
	const wrongEnv = "RECONCTL_TEST_WRONG_STRIPE_KEY"
	const wrong = "sk_test_thisKeyIsWrong000000000QRST"
	os.Setenv(wrongEnv, wrong)
	defer os.Unsetenv(wrongEnv)
	p := newProvider(t, srv.URL, providers.Options{APIKeyEnv: wrongEnv})
	ctx := context.Background()

	check := func(what string, err error) {
		t.Helper()
		var ae *providers.AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("%s: error %v, want *providers.AuthError", what, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, wrongEnv) {
			t.Errorf("%s: message %q does not name %s", what, msg, wrongEnv)
		}
		if strings.Contains(msg, wrong) || strings.Contains(msg, "QRST") || strings.Contains(msg, "sk_test_") {
			t.Errorf("%s: message %q shows (part of) the key", what, msg)
		}
	}
	check("List", p.List(ctx, Customers, func(providers.Record) error { return nil }))
	_, st, err := p.Get(ctx, Customers, "cus_1")
	if st == providers.StatusInaccessible {
		t.Error("a 401 on Get must fail the run, not report the object inaccessible")
	}
	check("Get", err)
	check("Events", p.Events(ctx, providers.EventQuery{}, func(providers.Event) error { return nil }))
	_, err = p.FindByEmail(ctx, Customers, "a@b.c")
	check("FindByEmail", err)
	if n := p.HTTPStats().Retries; n != 0 {
		t.Errorf("a 401 was retried %d times", n)
	}
}

func TestForbiddenIsInaccessible(t *testing.T) {
	f, srv := newFake(t)
	c := f.CreateCustomer(map[string]any{"email": "x@example.com"})
	f.Forbid(c["id"].(string))
	p := newProvider(t, srv.URL, providers.Options{})
	_, st, err := p.Get(context.Background(), Customers, c["id"].(string))
	if err != nil || st != providers.StatusInaccessible {
		t.Fatalf("Get(forbidden) = %v, %v; want inaccessible", st, err)
	}
}

func TestNotFoundWithoutResourceMissingIsAnError(t *testing.T) {
	// A wrong api base path answers 404 "Unrecognized request URL": that is
	// a failed check, not a deleted object.
	_, srv := newFake(t)
	p := newProvider(t, srv.URL+"/wrong-prefix", providers.Options{})
	_, st, err := p.Get(context.Background(), Customers, "cus_1")
	if err == nil {
		t.Fatalf("Get through a wrong base = %v, nil error", st)
	}
}

func TestListErrorNamesResourceAndPage(t *testing.T) {
	f, srv := newFake(t)
	seedCustomers(f, 350)
	p := newProvider(t, srv.URL, providers.Options{Concurrency: 1, Retries: 1})
	// Request 3 (page 3) and every later one fail: by request number, so
	// the lister's prefetch of the next page cannot race the injection;
	// only customer list requests count, so the test clocks read beside
	// the listing cannot either.
	f.SetFaults(stripefake.Faults{ServerErrorFrom: 3, ServerErrorStatus: 503, ServerErrorPath: "/v1/customers"})
	err := p.List(context.Background(), Customers, func(providers.Record) error { return nil })
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{"listing stripe customers failed at page 3", "starting_after=cus_", "503"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
}

// TestEmptyPageWithMoreIsAnError: a page with has_more true and no data
// cannot be the end of a listing (there is no cursor to go on from).
func TestEmptyPageWithMoreIsAnError(t *testing.T) {
	for _, conc := range []int{1, 4} {
		f, srv := newFake(t)
		seedCustomers(f, 5)
		f.SetFaults(stripefake.Faults{EmptyPageWithMore: true})
		p := newProvider(t, srv.URL, providers.Options{Concurrency: conc})
		err := p.List(context.Background(), Customers, func(providers.Record) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "has_more") || !strings.Contains(err.Error(), "page 1") {
			t.Errorf("concurrency %d: List = %v, want an error about has_more without data at page 1", conc, err)
		}
		if conc == 1 {
			err := p.Events(context.Background(), providers.EventQuery{}, func(providers.Event) error { return nil })
			if err == nil || !strings.Contains(err.Error(), "has_more") {
				t.Errorf("Events = %v, want an error about has_more without data", err)
			}
		}
	}
}

func TestShouldRetryFalseIsNotRetried(t *testing.T) {
	f, srv := newFake(t)
	seedCustomers(f, 5)
	f.SetFaults(stripefake.Faults{RateLimitEvery: 1, RateLimitShouldRetry: "false"})
	p := newProvider(t, srv.URL, providers.Options{})
	err := p.List(context.Background(), Customers, func(providers.Record) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "rate_limit") {
		t.Fatalf("List = %v, want a rate_limit error", err)
	}
	if s := f.Stats(); s.Requests != 1 {
		t.Errorf("Stripe-Should-Retry: false was retried: %d requests", s.Requests)
	}
}

func TestSequentialIsAPlainCursorWalk(t *testing.T) {
	f, srv := newFake(t)
	seedCustomers(f, 530)
	p := newProvider(t, srv.URL, providers.Options{Concurrency: 1})
	mustList(t, p, Customers, func(providers.Record) {})
	var reqs []stripefake.Request
	for _, r := range f.Requests() {
		if r.Path == "/v1/customers" { // not the test clock listing
			reqs = append(reqs, r)
		}
	}
	if len(reqs) != 6 {
		t.Errorf("%d requests for 530 records at 100 a page, want 6", len(reqs))
	}
	for i, r := range reqs {
		q, _ := url.ParseQuery(r.Query)
		if len(q) != map[bool]int{true: 1, false: 2}[i == 0] || q.Get("limit") != "100" || (i > 0 && q.Get("starting_after") == "") {
			t.Errorf("request %d query %q: want only limit and starting_after", i, r.Query)
		}
	}
}

// TestParallelListingWithConcurrentWrites lists while objects are created,
// updated and deleted: every object that existed at the start and was not
// deleted must be listed exactly once, and nothing twice.
func TestParallelListingWithConcurrentWrites(t *testing.T) {
	for _, reject := range []bool{false, true} {
		t.Run(fmt.Sprintf("rejectDeletedCursor=%v", reject), func(t *testing.T) {
			t.Parallel()
			parallelListingWithConcurrentWrites(t, reject)
		})
	}
}

func parallelListingWithConcurrentWrites(t *testing.T, rejectDeletedCursor bool) {
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: testKey, AcceptDeletedCursor: !rejectDeletedCursor})
	t.Cleanup(srv.Close)
	initial := seedCustomers(f, 3000)
	f.SetFaults(stripefake.Faults{Latency: time.Millisecond})
	p := newProvider(t, srv.URL, providers.Options{Concurrency: 8})

	var stopWriting atomic.Bool
	var wg sync.WaitGroup
	deleted := map[string]bool{}
	var created []string
	wg.Go(func() {
		for i := 0; !stopWriting.Load(); i++ {
			c := f.CreateCustomer(map[string]any{"email": fmt.Sprintf("new%d@example.com", i)})
			created = append(created, c["id"].(string))
			if i%5 == 0 && i/5 < len(initial) {
				id := initial[len(initial)-1-i/5*7%len(initial)]
				if !deleted[id] {
					if err := f.DeleteCustomer(id); err != nil {
						t.Error(err)
					}
					deleted[id] = true
				}
			}
			if _, err := f.UpdateCustomer(initial[i%len(initial)], map[string]any{"name": fmt.Sprintf("renamed %d", i)}); err != nil && !deleted[initial[i%len(initial)]] {
				t.Error(err)
			}
			time.Sleep(200 * time.Microsecond)
		}
	})
	count := map[string]int{}
	err := p.List(context.Background(), Customers, func(r providers.Record) error {
		count[r.ID]++
		return nil
	})
	stopWriting.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
	missing := 0
	for _, id := range initial {
		if count[id] == 0 && !deleted[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d pre-existing customers were not listed", missing)
	}
	if len(created) == 0 || len(deleted) == 0 {
		t.Errorf("writer made %d creates, %d deletes: the test did not race", len(created), len(deleted))
	}
	split := 0
	for _, r := range f.Requests() {
		if strings.Contains(r.Query, "created") {
			split++
		}
	}
	if split == 0 {
		t.Error("concurrency 8 never split the listing by created")
	}
	t.Logf("listed %d (initial %d, created during run %d, deleted %d) in %d requests, %d with created filters",
		len(count), len(initial), len(created), len(deleted), len(f.Requests()), split)
}

// TestCursorDeletedMidListing deletes the object a listing is about to use
// as starting_after, with a fake that then rejects it: the listing restarts
// from that object's creation second and still lists everything once.
func TestCursorDeletedMidListing(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency=%d", conc), func(t *testing.T) {
			f := stripefake.New(stripefake.Config{APIKey: testKey})
			ids := seedCustomers(f, 450)
			var once sync.Once
			var deleted string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c := r.URL.Query().Get("starting_after"); c != "" {
					once.Do(func() {
						deleted = c
						if err := f.DeleteCustomer(c); err != nil {
							t.Error(err)
						}
					})
				}
				f.ServeHTTP(w, r)
			}))
			defer srv.Close()
			p := newProvider(t, srv.URL, providers.Options{Concurrency: conc})
			var got []string
			mustList(t, p, Customers, func(r providers.Record) { got = append(got, r.ID) })
			if deleted == "" {
				t.Fatal("no cursor was deleted")
			}
			// The deleted cursor was listed before it was deleted.
			requireSameIDs(t, ids, got)
			sawRestart := false
			for _, r := range f.Requests() {
				sawRestart = sawRestart || r.Status == 400
			}
			if !sawRestart {
				t.Error("the fake never rejected the deleted cursor")
			}
		})
	}
}

func requireSameIDs(t *testing.T, want, got []string) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
	for _, id := range want {
		if seen[id] == 0 {
			t.Errorf("%s not listed", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("listed %d, want %d", len(got), len(want))
	}
}

func TestEvents(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clock := now.Add(-40 * 24 * time.Hour)
	var clockMu sync.Mutex
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: testKey, Now: func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return clock
	}})
	t.Cleanup(srv.Close)
	tick := func(d time.Duration) {
		clockMu.Lock()
		clock = clock.Add(d)
		clockMu.Unlock()
	}

	old := f.CreateCustomer(map[string]any{"email": "old@example.com"}) // 40 days ago: past retention
	tick(15 * 24 * time.Hour)                                           // now-25d
	var ids []string
	for i := range 120 {
		c := f.CreateCustomer(map[string]any{"email": fmt.Sprintf("c%d@example.com", i)})
		ids = append(ids, c["id"].(string))
		if i%2 == 0 {
			tick(time.Second) // pairs share a second: their order is the API's
		}
	}
	sub, err := f.CreateSubscription(map[string]any{"customer": ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	tick(time.Hour)
	mid := clock
	if _, err := f.UpdateCustomer(ids[1], map[string]any{"metadata": map[string]any{"plan": "pro"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.CancelSubscription(sub["id"].(string)); err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteCustomer(ids[2]); err != nil {
		t.Fatal(err)
	}
	f.AddEvent("invoice.paid", map[string]any{"id": "in_1", "object": "invoice"}, clock)
	f.SetClock(func() time.Time { return now })
	_ = old

	p := newProvider(t, srv.URL, providers.Options{})
	collect := func(q providers.EventQuery) []providers.Event {
		t.Helper()
		var evs []providers.Event
		if err := p.Events(context.Background(), q, func(e providers.Event) error {
			evs = append(evs, e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return evs
	}
	all := collect(providers.EventQuery{})
	if len(all) != 120+1+4 {
		t.Fatalf("got %d events, want 125 (the 40-day-old one is past retention)", len(all))
	}
	// The fake's ids are opaque (not in creation order); events must come in
	// the order they happened, same-second ones included.
	rank := map[string]int{}
	for i, id := range f.Events() {
		rank[id] = i
	}
	byID := 0
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.Created.After(b.Created) || rank[a.ID] > rank[b.ID] {
			t.Fatalf("events out of order at %d: %s %v then %s %v", i, a.ID, a.Created, b.ID, b.Created)
		}
		if a.Created.Equal(b.Created) && a.ID > b.ID {
			byID++
		}
	}
	if byID == 0 {
		t.Fatal("no same-second pair has ids against creation order: the test would not catch an order by id")
	}
	byType := map[string]providers.Event{}
	for _, e := range all {
		byType[e.Type] = e
		var raw map[string]any
		if err := json.Unmarshal(e.Raw, &raw); err != nil || raw["id"] != e.ID {
			t.Errorf("event %s Raw does not hold the event: %s", e.ID, e.Raw)
		}
	}
	for typ, want := range map[string]struct {
		res     string
		deleted bool
		obj     string
	}{
		"customer.created":              {Customers, false, ids[119]},
		"customer.updated":              {Customers, false, ids[1]},
		"customer.deleted":              {Customers, true, ids[2]},
		"customer.subscription.created": {Subscriptions, false, sub["id"].(string)},
		"customer.subscription.deleted": {Subscriptions, false, sub["id"].(string)},
		"invoice.paid":                  {"", false, "in_1"},
	} {
		e := byType[typ]
		if e.Resource != want.res || e.Deleted != want.deleted || e.ObjectID != want.obj {
			t.Errorf("%s: resource %q deleted %v object %q; want %q %v %q", typ, e.Resource, e.Deleted, e.ObjectID, want.res, want.deleted, want.obj)
		}
		if e.Object["id"] != want.obj {
			t.Errorf("%s: Object = %v", typ, e.Object)
		}
	}
	if st := byType["customer.subscription.deleted"].Object["status"]; st != "canceled" {
		t.Errorf("customer.subscription.deleted object status = %v", st)
	}

	// Since is inclusive, Until exclusive.
	late := collect(providers.EventQuery{Since: mid})
	if len(late) != 4 {
		t.Errorf("since mid: %d events, want 4", len(late))
	}
	early := collect(providers.EventQuery{Until: mid})
	if len(early) != 121 {
		t.Errorf("until mid: %d events, want 121", len(early))
	}

	// Types: a wildcard goes as type=, names as types[] in groups of ≤ 20.
	f.ResetStats()
	types := []string{"customer.updated", "customer.deleted"}
	for i := range 25 {
		types = append(types, fmt.Sprintf("made.up.type%d", i))
	}
	got := collect(providers.EventQuery{Types: append(types, "customer.subscription.*")})
	if len(got) != 4 {
		t.Errorf("typed query: %d events, want 4", len(got))
	}
	var typedReqs, wildcardReqs int
	for _, r := range f.Requests() {
		q, _ := url.ParseQuery(r.Query)
		n := 0
		for k := range q {
			if strings.HasPrefix(k, "types[") {
				n++
			}
		}
		if n > 20 {
			t.Errorf("request with %d types", n)
		}
		if n > 0 {
			typedReqs++
		}
		if q.Get("type") == "customer.subscription.*" {
			wildcardReqs++
		}
	}
	if typedReqs != 2 || wildcardReqs != 1 {
		t.Errorf("%d types[] requests and %d type= requests, want 2 and 1", typedReqs, wildcardReqs)
	}

	// A tiny buffer forces the window-splitting path: same events, same order.
	p.maxEventBuffer = 7
	small := collect(providers.EventQuery{})
	if len(small) != len(all) {
		t.Fatalf("bounded buffer: %d events, want %d", len(small), len(all))
	}
	for i := range all {
		if small[i].ID != all[i].ID {
			t.Fatalf("bounded buffer: event %d is %s, want %s", i, small[i].ID, all[i].ID)
		}
	}
	if p.EventRetention() != 30*24*time.Hour {
		t.Error("EventRetention")
	}
}

// TestSearchByEmail: the Search API finds an email in any case, pages by
// next_page, and keeps only addresses equal to the query ignoring case
// (email~ is a substring match).
func TestSearchByEmail(t *testing.T) {
	f, srv := newFake(t)
	for i := range 130 {
		f.CreateCustomer(map[string]any{"email": []string{"Ann@Example.com", "ann@example.com", "ANN@EXAMPLE.COM"}[i%3]})
	}
	f.CreateCustomer(map[string]any{"email": "joann@example.com"})
	p := newProvider(t, srv.URL, providers.Options{})
	exact, err := p.FindByEmail(context.Background(), Customers, "ann@example.com")
	if err != nil || len(exact) != 43 {
		t.Fatalf("FindByEmail = %d records, %v; want the 43 exact spellings only", len(exact), err)
	}
	f.ResetStats()
	got, err := p.SearchByEmail(context.Background(), Customers, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 130 {
		t.Errorf("SearchByEmail = %d records, want 130 (every case, not joann@)", len(got))
	}
	reqs := f.Requests()
	if len(reqs) != 2 || !strings.Contains(reqs[0].Path, "/v1/customers/search") || !strings.Contains(reqs[1].Query, "page=") {
		t.Errorf("requests %+v: want two /v1/customers/search pages, the second by page=", reqs)
	}
	if q, _ := url.ParseQuery(reqs[0].Query); q.Get("query") != `email~"ann@example.com"` {
		t.Errorf("query = %q", q.Get("query"))
	}
	if _, err := p.SearchByEmail(context.Background(), Subscriptions, "ann@example.com"); err == nil {
		t.Error("searching subscriptions by email should be an error")
	}
}

// TestHighConcurrencyFewRecords: --concurrency far above what the data
// needs must not cut the listing into hundreds of mostly empty partitions,
// each a request: never more partitions than about the record estimate
// over the page size.
func TestHighConcurrencyFewRecords(t *testing.T) {
	for _, spread := range []string{"two years", "one day"} {
		t.Run(spread, func(t *testing.T) {
			f, srv := newFake(t)
			now := time.Now()
			from := now.Add(-2 * 365 * 24 * time.Hour)
			if spread == "one day" {
				from = now.Add(-24 * time.Hour)
			}
			ids := f.SeedCustomers(500, from, now.Add(-time.Minute), nil)
			p := newProvider(t, srv.URL, providers.Options{Concurrency: 500})
			var got []string
			mustList(t, p, Customers, func(r providers.Record) { got = append(got, r.ID) })
			requireSameIDs(t, ids, got)
			// 5 full pages are the minimum. The open-ended oldest range is
			// probed with pieces doubling in width back to 2010 (a few
			// dozen at most, whatever the concurrency); the old client
			// sent 500-650 requests here.
			if n := len(f.Requests()); n > 25 {
				t.Errorf("%d requests to list 500 records with concurrency 500, want at most 25", n)
			}
		})
	}
}

// TestTestClockObjectsAreListed: in test mode, customers and subscriptions
// on a test clock are left out of Stripe's lists unless test_clock names
// the clock; List must list each clock's objects too, or they become
// permanent unresolved drift (GET returns them).
func TestTestClockObjectsAreListed(t *testing.T) {
	f, srv := newFake(t)
	plain := f.CreateCustomer(map[string]any{"email": "plain@example.com"})["id"].(string)
	clock := f.CreateTestClock(map[string]any{"name": "renewals"})
	var onClock, subs []string
	for i := range 3 {
		c := f.CreateCustomer(map[string]any{"email": fmt.Sprintf("clock%d@example.com", i), "test_clock": clock})
		onClock = append(onClock, c["id"].(string))
		s, err := f.CreateSubscription(map[string]any{"customer": c["id"]})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s["id"].(string))
	}
	p := newProvider(t, srv.URL, providers.Options{Concurrency: 2})
	var cus, sub []string
	mustList(t, p, Customers, func(r providers.Record) { cus = append(cus, r.ID) })
	mustList(t, p, Subscriptions, func(r providers.Record) { sub = append(sub, r.ID) })
	requireSameIDs(t, append([]string{plain}, onClock...), cus)
	requireSameIDs(t, subs, sub)
	// The fake hides them like Stripe: a list without test_clock lacks them.
	f.ResetStats()
	n := 0
	s, _ := p.spec(Customers)
	if err := p.newLister(s, 1).run(context.Background(), func(providers.Record) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("a plain customer list gave %d records (%v); want 1: the fake must hide test clock customers", n, err)
	}
	if recs, err := p.FindByEmail(context.Background(), Customers, "clock1@example.com"); err != nil || len(recs) != 1 || recs[0].ID != onClock[1] {
		t.Errorf("FindByEmail of a test clock customer = %d records, %v; want %s", len(recs), err, onClock[1])
	}
	if _, st, err := p.Get(context.Background(), Customers, onClock[0]); err != nil || st != providers.StatusPresent {
		t.Errorf("Get of a test clock customer = %v, %v; want present", st, err)
	}
}

// TestTestClocksDeniedFallsBack: a restricted test-mode key without read
// access to test clocks (403 on /v1/test_helpers/test_clocks) still lists
// the objects not on a clock, with a warning that test clock objects could
// not be listed.
func TestTestClocksDeniedFallsBack(t *testing.T) {
	f, srv := newFake(t)
	plain := f.CreateCustomer(map[string]any{"email": "plain@example.com"})["id"].(string)
	clock := f.CreateTestClock(map[string]any{"name": "renewals"})
	f.CreateCustomer(map[string]any{"email": "clock@example.com", "test_clock": clock})
	f.SetTestClocksDenied(true)
	var logs strings.Builder
	p := newProvider(t, srv.URL, providers.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	var cus []string
	mustList(t, p, Customers, func(r providers.Record) { cus = append(cus, r.ID) })
	requireSameIDs(t, []string{plain}, cus)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "test clock") {
		t.Errorf("no warning about test clocks: %q", logs.String())
	}
	if strings.Contains(logs.String(), testKey) {
		t.Error("the key in the log")
	}
}

// TestLiveModeListsNoTestClocks: live mode has no test clocks; the lister
// does not ask for them.
func TestLiveModeListsNoTestClocks(t *testing.T) {
	const liveKey = "sk_live_reconctl0123456789abcdefWXYZ"
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: liveKey})
	t.Cleanup(srv.Close)
	f.CreateCustomer(map[string]any{"email": "a@example.com"})
	t.Setenv("RECONCTL_TEST_STRIPE_LIVE_KEY", liveKey)
	p, err := New(providertest.Options(providers.Options{}, srv.URL, "RECONCTL_TEST_STRIPE_LIVE_KEY"), providertest.FastRetries)
	if err != nil {
		t.Fatal(err)
	}
	mustList(t, p, Customers, func(providers.Record) {})
	for _, r := range f.Requests() {
		if strings.Contains(r.Path, "test_clocks") {
			t.Errorf("live mode asked for test clocks: %s", r.Path)
		}
	}
}

// TestEventInOtherAPIVersion: an event rendered in another api_version than
// the client's is marked, and the fake moves the field like Stripe did.
func TestEventInOtherAPIVersion(t *testing.T) {
	f, srv := newFake(t)
	c := f.CreateCustomer(map[string]any{"email": "a@example.com"})
	f.SetEventAPIVersion(stripefake.OldAPIVersion)
	sub, err := f.CreateSubscription(map[string]any{"customer": c["id"]})
	if err != nil {
		t.Fatal(err)
	}
	f.SetEventAPIVersion("")
	p := newProvider(t, srv.URL, providers.Options{})
	var evs []providers.Event
	if err := p.Events(context.Background(), providers.EventQuery{}, func(e providers.Event) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].ForeignVersion != "" || evs[1].ForeignVersion != stripefake.OldAPIVersion {
		t.Fatalf("events %+v: want the second marked as %s", evs, stripefake.OldAPIVersion)
	}
	if _, ok := evs[1].Object["current_period_end"]; !ok {
		t.Error("old-version subscription payload lacks top-level current_period_end")
	}
	items := evs[1].Object["items"].(map[string]any)["data"].([]any)
	if _, ok := items[0].(map[string]any)["current_period_end"]; ok {
		t.Error("old-version subscription payload still has items.data.0.current_period_end")
	}
	// GET renders the pinned version.
	rec, _, err := p.Get(context.Background(), Subscriptions, sub["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.Data["current_period_end"]; ok {
		t.Error("GET (pinned version) has a top-level current_period_end")
	}
}

// TestDeletionEvents: customer.deleted (recorded by the fake's
// DeleteCustomer) is the one event that confirms a deletion; a canceled
// subscription's customer.subscription.deleted confirms nothing, because the
// subscription still exists.
func TestDeletionEvents(t *testing.T) {
	f, srv := newFake(t)
	p := newProvider(t, srv.URL, providers.Options{})
	gone, created := p.DeletionEvents(Customers)
	if !slices.Equal(gone, []string{"customer.deleted"}) || !slices.Equal(created, []string{"customer.created"}) {
		t.Errorf("customers: gone %v created %v", gone, created)
	}
	if gone, _ := p.DeletionEvents(Subscriptions); len(gone) != 0 {
		t.Errorf("subscriptions: gone %v, want none (customer.subscription.deleted is a cancel)", gone)
	}
	if providers.FeaturesOf(p).Deletions == nil {
		t.Error("Features().Deletions is nil")
	}
	c := f.CreateCustomer(map[string]any{"email": "a@example.com"})
	id := c["id"].(string)
	sub, err := f.CreateSubscription(map[string]any{"customer": id})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.DeleteCustomer(id); err != nil { // cancels the subscription too
		t.Fatal(err)
	}
	byType := map[string]string{}
	if err := p.Events(context.Background(), providers.EventQuery{Types: []string{"customer.deleted", "customer.subscription.deleted"}}, func(ev providers.Event) error {
		byType[ev.Type] = ev.Resource + "/" + ev.ObjectID
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if byType["customer.deleted"] != Customers+"/"+id || byType["customer.subscription.deleted"] != Subscriptions+"/"+sub["id"].(string) {
		t.Errorf("events %v", byType)
	}
	if _, st, err := p.Get(context.Background(), Subscriptions, sub["id"].(string)); err != nil || st != providers.StatusPresent {
		t.Errorf("the canceled subscription: %v %v, want present", st, err)
	}
}

// TestEventsKeepingPaths: with EventQuery.Paths, each event is the same
// event (id, type, time, resource, object id, deletion, API version) and
// its object answers every asked path as the whole object does, while the
// rest of the object is not decoded.
func TestEventsKeepingPaths(t *testing.T) {
	f, srv := newFake(t)
	c := f.CreateCustomer(map[string]any{"email": "a@example.com", "name": "A", "metadata": map[string]any{"plan": "pro", "note": "x"}})
	f.SetEventAPIVersion(stripefake.OldAPIVersion)
	if _, err := f.UpdateCustomer(c["id"].(string), map[string]any{"metadata": map[string]any{"plan": "free"}}); err != nil {
		t.Fatal(err)
	}
	f.SetEventAPIVersion("")
	if err := f.DeleteCustomer(c["id"].(string)); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, srv.URL, providers.Options{})
	collect := func(q providers.EventQuery) []providers.Event {
		t.Helper()
		var evs []providers.Event
		if err := p.Events(context.Background(), q, func(e providers.Event) error { evs = append(evs, e); return nil }); err != nil {
			t.Fatal(err)
		}
		return evs
	}
	paths := [][]string{{"email"}, {"metadata", "plan"}, {"absent"}}
	whole := collect(providers.EventQuery{})
	kept := collect(providers.EventQuery{Paths: map[string][][]string{Customers: paths}})
	if len(whole) != 3 || len(kept) != len(whole) {
		t.Fatalf("%d and %d events, want 3 each", len(whole), len(kept))
	}
	for i, w := range whole {
		k := kept[i]
		if k.ID != w.ID || k.Type != w.Type || !k.Created.Equal(w.Created) || k.Resource != w.Resource || k.ObjectID != w.ObjectID || k.Deleted != w.Deleted || k.ForeignVersion != w.ForeignVersion || !bytes.Equal(k.Raw, w.Raw) {
			t.Errorf("event %d: kept %+v, whole %+v", i, k, w)
		}
		for _, path := range paths {
			wv, wok := providers.ValueAt(w.Object, path)
			kv, kok := providers.ValueAt(k.Object, path)
			if wok != kok || !reflect.DeepEqual(wv, kv) {
				t.Errorf("event %d %v: kept (%v, %v), whole (%v, %v)", i, path, kv, kok, wv, wok)
			}
		}
		if _, ok := k.Object["name"]; ok {
			t.Errorf("event %d: an unasked field was decoded", i)
		}
	}
	if kept[1].ForeignVersion == "" || !kept[2].Deleted {
		t.Errorf("events %+v: want the update in another version, then a deletion", kept)
	}
}
