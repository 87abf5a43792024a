// Package stripefake is a stateful, in-memory imitation of the parts of the
// Stripe API reconctl uses (customers, subscriptions, events), built from
// Stripe's documented behaviour rather than from what our client sends. It
// serves tests and `reconctl demo`: seed or mutate objects through its Go
// methods (each mutation records an event, as Stripe does), point a client at
// it, and inject faults (429, 5xx, latency, truncated bodies).
package stripefake

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/reconctl/reconctl/providers/fakefault"
)

// APIVersion is what the fake reports in events and the Stripe-Version
// header: the version stripe-go v84.4.1 pins.
const APIVersion = "2026-02-25.clover"

// Retention is how long events stay listable, like Stripe's 30 days.
const Retention = 30 * 24 * time.Hour

// Config configures a Fake.
type Config struct {
	// APIKey is the only key accepted. Empty accepts any key that looks like
	// a Stripe secret or restricted key (sk_test_…, sk_live_…, rk_…).
	APIKey string
	// AcceptDeletedCursor keeps accepting a deleted customer as
	// starting_after or ending_before. By default the fake rejects it the
	// way Stripe does: 400 with error.code resource_missing and error.param
	// naming the cursor parameter — a 400, not a 404 (stripe-go issue
	// #1030; stripe-node issue #258 shows the same body with param
	// starting_after).
	AcceptDeletedCursor bool
	// Now is the fake's clock (object and event timestamps, event
	// retention). Nil means time.Now.
	Now func() time.Time
}

// Faults are injected into responses. Counting is over every request the
// fake serves (the N-th request overall), so parallel clients see them too.
// They are fakefault.Faults plus Stripe's Stripe-Should-Retry header.
type Faults struct {
	// RateLimitEvery makes every N-th request a 429 with error.code rate_limit.
	RateLimitEvery int
	// RateLimitShouldRetry, when "true" or "false", is sent as
	// Stripe-Should-Retry on those 429s.
	RateLimitShouldRetry string
	// RetryAfter, when > 0, is sent as Retry-After (seconds) on those 429s.
	RetryAfter int
	// ServerErrorEvery makes every M-th request a 5xx (ServerErrorStatus,
	// default 500) with an api_error body.
	ServerErrorEvery int
	// ServerErrorStatus is the status used by ServerErrorEvery.
	ServerErrorStatus int
	// TruncateEvery cuts every K-th successful response body in half and
	// drops the connection (the client sees an unexpected EOF).
	TruncateEvery int
	// Latency is added before every response.
	Latency time.Duration
	// LimitRPS, when > 0, enforces Stripe's rate limit server-side: a
	// token bucket of LimitRPS a second holding at most LimitBurst
	// (default 1); a request arriving with the bucket empty is answered
	// 429 rate_limit (see fakefault.Faults.LimitRPS). Stats().RateLimited
	// counts them.
	LimitRPS   float64
	LimitBurst int
	// ServerErrorFrom, when > 0, makes the N-th request after SetFaults and
	// every later one a 5xx (ServerErrorStatus, default 500). Tests use it
	// to fail a given page by request number, which does not race with a
	// client that prefetches.
	ServerErrorFrom int
	// ServerErrorPath, when set, limits ServerErrorFrom to requests for
	// that URL path: only they are counted and failed, so a client's
	// requests beside the listing (a test-mode listing's test clocks) do
	// not move which page fails.
	ServerErrorPath string
	// EmptyPageWithMore, when true, answers every list request with no
	// data and has_more: true (a broken page a client must not take for
	// the end of the listing).
	EmptyPageWithMore bool
}

// Stats counts what the fake served.
type Stats = fakefault.Stats

// Request is one served request, for assertions in tests.
type Request = fakefault.Request

// Fake is the in-memory Stripe. It is an http.Handler; all methods are safe
// for concurrent use.
type Fake struct {
	*fakefault.Base // clock, Forbid, stats and request log

	mu            sync.Mutex
	apiKey        string
	rejectDeleted bool
	seq           uint64

	customers     *collection
	subscriptions *collection
	events        *collection
	testClocks    *collection

	// eventVersion, when set, is the api_version new events are rendered
	// in (see SetEventAPIVersion).
	eventVersion string

	// ServerErrorFrom / EmptyPageWithMore state (see Faults).
	errFrom, errStatus, served int
	errPath                    string
	emptyMore                  bool

	// testClocksDenied: the test clock list answers 403, as it does for a
	// restricted key without test clock read access (SetTestClocksDenied).
	testClocksDenied bool

	// listHook runs between list pages (SetListHook); listPages counts them.
	listHook  func(resource string, page int)
	listPages map[string]int

	// Stripe Connect (connect.go): a platform's connected accounts, or,
	// for one of them, its id.
	connected *connected
	accountID string
}

// SetTestClocksDenied makes GET /v1/test_helpers/test_clocks answer 403
// (a restricted key without read access to test clocks).
func (f *Fake) SetTestClocksDenied(denied bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.testClocksDenied = denied
}

// New returns an empty fake.
func New(cfg Config) *Fake {
	f := &Fake{
		apiKey:        cfg.APIKey,
		rejectDeleted: !cfg.AcceptDeletedCursor,
		customers:     newCollection("customer"),
		subscriptions: newCollection("subscription"),
		events:        newCollection("event"),
		testClocks:    newCollection("test_helpers.test_clock"),
	}
	f.Base = fakefault.NewBase(cfg.Now, fakefault.Shapes{
		RateLimited: func() []byte {
			return errResp(http.StatusTooManyRequests, "invalid_request_error", "rate_limit",
				"Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.", "").Body
		},
		ServerError: func(int) []byte {
			return errResp(http.StatusInternalServerError, "api_error", "", "An unknown error occurred (injected by stripefake).", "").Body
		},
		Header: func(h http.Header, n int) {
			h.Set("Content-Type", "application/json")
			h.Set("Request-Id", fmt.Sprintf("req_%014d", n))
			h.Set("Stripe-Version", APIVersion)
		},
	})
	return f
}

// NewServer starts an httptest server around a new fake. The caller closes
// the server; its URL is the api base (http://127.0.0.1:PORT).
func NewServer(cfg Config) (*Fake, *httptest.Server) {
	f := New(cfg)
	return f, httptest.NewServer(f)
}

// SetFaults replaces the injected faults and restarts their counting.
func (f *Fake) SetFaults(fl Faults) {
	var h http.Header
	if fl.RateLimitShouldRetry != "" {
		h = http.Header{"Stripe-Should-Retry": {fl.RateLimitShouldRetry}}
	}
	f.mu.Lock()
	f.errFrom, f.errStatus, f.emptyMore, f.served = fl.ServerErrorFrom, cmp.Or(fl.ServerErrorStatus, http.StatusInternalServerError), fl.EmptyPageWithMore, 0
	f.errPath = fl.ServerErrorPath
	f.mu.Unlock()
	f.Base.SetFaults(fakefault.Faults{RateLimitEvery: fl.RateLimitEvery, RetryAfter: fl.RetryAfter,
		RateLimitHeader: h, ServerErrorEvery: fl.ServerErrorEvery, ServerErrorStatus: fl.ServerErrorStatus,
		TruncateEvery: fl.TruncateEvery, Latency: fl.Latency, LimitRPS: fl.LimitRPS, LimitBurst: fl.LimitBurst})
}

// entry is one stored object with its JSON rendered once per mutation, so
// listing 100k objects costs copies, not re-encoding.
type entry struct {
	id      string
	created int64
	seq     uint64 // insertion order: Stripe's order within a second
	obj     map[string]any
	raw     []byte
	deleted bool // customers: deleted (absent from lists, GET says deleted:true)
	etype   string
}

// collection keeps objects sorted ascending by (created, insertion order);
// lists walk it backwards for Stripe's newest-first order. Ids play no part
// in the order: Stripe's are opaque.
type collection struct {
	fakefault.Collection[*entry]
	kind string
	seq  uint64
}

func newCollection(kind string) *collection {
	return &collection{Collection: fakefault.NewCollection(cmpEntry), kind: kind}
}

func less(a, b *entry) bool {
	if a.created != b.created {
		return a.created < b.created
	}
	return a.seq < b.seq
}

func cmpEntry(a, b *entry) int {
	if less(a, b) {
		return -1
	}
	if less(b, a) {
		return 1
	}
	return 0
}

// add stores e with the next insertion sequence number.
func (c *collection) add(e *entry) {
	c.seq++
	e.seq = c.seq
	c.Add(e.id, e)
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID makes unique ids that do not sort in creation order: like Stripe's,
// they are opaque (Stripe documents ids only as unique strings), so a client
// that orders by id is caught. The sequence number is scrambled by a
// multiplication by an odd constant, a bijection on uint64.
func (f *Fake) newID(prefix string) string {
	f.seq++
	var b [14]byte
	n := f.seq * 0x9E3779B97F4A7C15
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return prefix + string(b[:])
}

func render(obj map[string]any) []byte { return fakefault.Render("stripefake", obj) }

// clone returns a deep copy of a stored object, numbers as json.Number.
func clone(raw []byte) map[string]any { return fakefault.Decode("stripefake", raw) }

// normalize turns caller values (ints, structs, nested maps) into the JSON
// model the fake stores, so stored objects never alias caller maps.
func normalize(v map[string]any) map[string]any { return fakefault.Normalize("stripefake", v) }

func (f *Fake) createdFrom(fields map[string]any) int64 {
	if v, ok := fields["created"]; ok {
		switch c := v.(type) {
		case int64:
			return c
		case int:
			return int64(c)
		case json.Number:
			if n, err := c.Int64(); err == nil {
				return n
			}
		case time.Time:
			return c.Unix()
		}
	}
	return f.Now().Unix()
}

// ---- customers ----

func customerDefaults(id string, created int64) map[string]any {
	return map[string]any{
		"id": id, "object": "customer", "address": nil, "balance": 0, "created": created,
		"currency": nil, "default_source": nil, "delinquent": false, "description": nil,
		"discount": nil, "email": nil, "invoice_prefix": strings.ToUpper(id[max(len(id)-8, 0):]),
		"invoice_settings": map[string]any{"custom_fields": nil, "default_payment_method": nil,
			"footer": nil, "rendering_options": nil},
		"livemode": false, "metadata": map[string]any{}, "name": nil, "next_invoice_sequence": 1,
		"phone": nil, "preferred_locales": []any{}, "shipping": nil, "tax_exempt": "none", "test_clock": nil,
	}
}

// CreateCustomer creates a customer from fields (Stripe's field names:
// "email", "name", "metadata", …; "id" and "created" (unix seconds or
// time.Time) may be given) and records customer.created. It returns the
// stored object.
func (f *Fake) CreateCustomer(fields map[string]any) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.createCustomer(fields)
	f.addEvent("customer.created", e.raw, nil, e.created)
	return clone(e.raw)
}

func (f *Fake) createCustomer(fields map[string]any) *entry {
	created := f.createdFrom(fields)
	id, _ := fields["id"].(string)
	if id == "" {
		id = f.newID("cus_")
	}
	if _, dup := f.customers.ByID[id]; dup {
		panic("stripefake: duplicate customer id " + id)
	}
	obj := customerDefaults(id, created)
	for k, v := range normalize(fields) {
		if k != "id" && k != "created" && k != "object" {
			obj[k] = v
		}
	}
	obj = normalize(obj)
	e := &entry{id: id, created: created, obj: obj, raw: render(obj)}
	f.customers.add(e)
	return e
}

// SeedCustomers creates n customers without events (data that predates the
// event window), created evenly over [from, to). fields, when not nil, gives
// each one's fields. It returns the ids in creation order.
func (f *Fake) SeedCustomers(n int, from, to time.Time, fields func(i int) map[string]any) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, n)
	span := to.Unix() - from.Unix()
	for i := range n {
		fl := fakefault.FieldsAt(fields, i)
		if _, ok := fl["created"]; !ok {
			fl["created"] = from.Unix() + int64(i)*span/int64(max(n, 1))
		}
		ids = append(ids, f.createCustomer(fl).id)
	}
	return ids
}

// UpdateCustomer merges fields into a customer (metadata key by key; an
// empty string removes a metadata key, as in Stripe) and records
// customer.updated with previous_attributes.
func (f *Fake) UpdateCustomer(id string, fields map[string]any) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.customers.ByID[id]
	if e == nil || e.deleted {
		return nil, fmt.Errorf("no such customer: %q", id)
	}
	prev := update(e, fields)
	if len(prev) == 0 {
		return clone(e.raw), nil
	}
	f.addEvent("customer.updated", e.raw, prev, f.Now().Unix())
	return clone(e.raw), nil
}

// update applies fields to e and returns the previous values of what changed.
func update(e *entry, fields map[string]any) map[string]any {
	prev := map[string]any{}
	for k, v := range normalize(fields) {
		if k == "id" || k == "object" || k == "created" {
			continue
		}
		if k == "metadata" {
			nm, _ := v.(map[string]any)
			om, _ := e.obj["metadata"].(map[string]any)
			if om == nil {
				om = map[string]any{}
			}
			pm := map[string]any{}
			for mk, mv := range nm {
				old, had := om[mk]
				if s, _ := mv.(string); s == "" {
					if had {
						pm[mk] = old
						delete(om, mk)
					}
					continue
				}
				if !had || !jsonEqual(old, mv) {
					if had {
						pm[mk] = old
					} else {
						pm[mk] = nil
					}
					om[mk] = mv
				}
			}
			if len(pm) > 0 {
				prev["metadata"] = pm
			}
			e.obj["metadata"] = om
			continue
		}
		if old, had := e.obj[k]; !had || !jsonEqual(old, v) {
			prev[k] = old
			e.obj[k] = v
		}
	}
	e.raw = render(e.obj)
	return prev
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// DeleteCustomer deletes a customer: it leaves lists, GET answers
// deleted:true, its open subscriptions are canceled (as Stripe does), and
// customer.deleted is recorded.
func (f *Fake) DeleteCustomer(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.customers.ByID[id]
	if e == nil || e.deleted {
		return fmt.Errorf("no such customer: %q", id)
	}
	for _, s := range f.subscriptions.Sorted {
		if s.obj["customer"] == id && s.obj["status"] != "canceled" {
			f.cancel(s)
		}
	}
	e.deleted = true
	f.addEvent("customer.deleted", e.raw, nil, f.Now().Unix())
	return nil
}

// Customer returns a stored customer (deleted ones too, with ok=true and
// deleted=true).
func (f *Fake) Customer(id string) (obj map[string]any, deleted, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.customers.ByID[id]
	if e == nil {
		return nil, false, false
	}
	return clone(e.raw), e.deleted, true
}

// ---- subscriptions ----

// CreateSubscription creates a subscription for fields["customer"] and
// records customer.subscription.created. fields["price"] (a price id) is a
// shortcut for one subscription item with that price; "status" defaults to
// "active"; "id" and "created" may be given.
func (f *Fake) CreateSubscription(fields map[string]any) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.createSubscription(fields)
	if err != nil {
		return nil, err
	}
	f.addEvent("customer.subscription.created", e.raw, nil, e.created)
	return clone(e.raw), nil
}

func (f *Fake) createSubscription(fields map[string]any) (*entry, error) {
	cus, _ := fields["customer"].(string)
	if c := f.customers.ByID[cus]; c == nil || c.deleted {
		return nil, fmt.Errorf("no such customer: %q", cus)
	}
	created := f.createdFrom(fields)
	id, _ := fields["id"].(string)
	if id == "" {
		id = f.newID("sub_")
	}
	if _, dup := f.subscriptions.ByID[id]; dup {
		return nil, fmt.Errorf("duplicate subscription id %q", id)
	}
	price, _ := fields["price"].(string)
	if price == "" {
		price = "price_default"
	}
	// A subscription belongs to its customer's test clock.
	clock := f.customers.ByID[cus].obj["test_clock"]
	itemID := "si_" + id[len("sub_"):]
	// In the pinned API version current_period_start/end live on each
	// subscription item, not on the subscription (stripe-go v84.4.1:
	// SubscriptionItem.CurrentPeriodEnd exists, Subscription has none).
	obj := map[string]any{
		"id": id, "object": "subscription", "customer": cus, "status": "active", "created": created,
		"start_date": created, "billing_cycle_anchor": created, "cancel_at": nil, "cancel_at_period_end": false,
		"canceled_at": nil, "ended_at": nil, "collection_method": "charge_automatically", "currency": "usd",
		"livemode": false, "metadata": map[string]any{}, "test_clock": clock, "trial_end": nil, "trial_start": nil,
		"items": map[string]any{
			"object": "list", "has_more": false, "url": "/v1/subscription_items?subscription=" + id,
			"data": []any{map[string]any{
				"id": itemID, "object": "subscription_item", "created": created, "quantity": 1, "subscription": id,
				"current_period_start": created, "current_period_end": created + 30*24*3600, "metadata": map[string]any{},
				"price": map[string]any{"id": price, "object": "price", "active": true, "currency": "usd",
					"type": "recurring", "unit_amount": 1000, "recurring": map[string]any{"interval": "month", "interval_count": 1}},
			}},
		},
	}
	for k, v := range normalize(fields) {
		if k != "id" && k != "created" && k != "object" && k != "price" && k != "customer" {
			obj[k] = v
		}
	}
	obj = normalize(obj)
	e := &entry{id: id, created: created, obj: obj, raw: render(obj)}
	f.subscriptions.add(e)
	return e, nil
}

// SeedSubscriptions creates one subscription per customer id, without
// events, created one second after its customer (fields may be nil).
func (f *Fake) SeedSubscriptions(customerIDs []string, fields func(i int) map[string]any) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for i, cus := range customerIDs {
		fl := map[string]any{}
		if fields != nil {
			maps.Copy(fl, fields(i))
		}
		fl["customer"] = cus
		if _, ok := fl["created"]; !ok {
			if c := f.customers.ByID[cus]; c != nil {
				fl["created"] = c.created + 1
			}
		}
		e, err := f.createSubscription(fl)
		if err != nil {
			return ids, err
		}
		ids = append(ids, e.id)
	}
	return ids, nil
}

// UpdateSubscription merges fields and records customer.subscription.updated.
func (f *Fake) UpdateSubscription(id string, fields map[string]any) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.subscriptions.ByID[id]
	if e == nil {
		return nil, fmt.Errorf("no such subscription: %q", id)
	}
	prev := update(e, fields)
	if len(prev) > 0 {
		f.addEvent("customer.subscription.updated", e.raw, prev, f.Now().Unix())
	}
	return clone(e.raw), nil
}

// CancelSubscription sets status canceled and records
// customer.subscription.deleted. The subscription stays retrievable and is
// listed only with status=all or status=canceled.
func (f *Fake) CancelSubscription(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.subscriptions.ByID[id]
	if e == nil {
		return fmt.Errorf("no such subscription: %q", id)
	}
	if e.obj["status"] == "canceled" {
		return nil
	}
	f.cancel(e)
	return nil
}

func (f *Fake) cancel(e *entry) {
	now := f.Now().Unix()
	e.obj["status"] = "canceled"
	e.obj["canceled_at"] = json.Number(fmt.Sprint(now))
	e.obj["ended_at"] = json.Number(fmt.Sprint(now))
	e.raw = render(e.obj)
	f.addEvent("customer.subscription.deleted", e.raw, nil, now)
}

// Subscription returns a stored subscription.
func (f *Fake) Subscription(id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.subscriptions.ByID[id]
	if e == nil {
		return nil, false
	}
	return clone(e.raw), true
}

// ---- test clocks ----

// CreateTestClock creates a test clock (fields may set "name",
// "frozen_time", "id", "created") and returns its id. Customers created with
// "test_clock": id, and their subscriptions, are then hidden from lists
// that do not name the clock, as in Stripe (see handler.go).
func (f *Fake) CreateTestClock(fields map[string]any) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	created := f.createdFrom(fields)
	id, _ := fields["id"].(string)
	if id == "" {
		id = f.newID("clock_")
	}
	obj := map[string]any{"id": id, "object": "test_helpers.test_clock", "created": created,
		"deletes_after": created + 30*24*3600, "frozen_time": created, "livemode": false, "name": nil, "status": "ready"}
	for k, v := range normalize(fields) {
		if k != "id" && k != "created" && k != "object" {
			obj[k] = v
		}
	}
	obj = normalize(obj)
	f.testClocks.add(&entry{id: id, created: created, obj: obj, raw: render(obj)})
	return id
}

// ---- events ----

// OldAPIVersion is a version before 2025-03-31.basil, the release whose
// changelog moved a subscription's current_period_start/end onto its items
// (stripe-go v84.4.1 has them on SubscriptionItem only).
const OldAPIVersion = "2025-02-24.acacia"

// SetEventAPIVersion makes the events recorded from now on carry
// api_version v and their data.object rendered in it, as Stripe renders an
// event in the account's default version at the time, not in the version a
// client pins. For OldAPIVersion a subscription's current_period_start/end
// sit at the top level, not on its items. "" restores APIVersion.
func (f *Fake) SetEventAPIVersion(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventVersion = v
}

// renderIn renders a stored object as of API version v.
func renderIn(v string, objRaw []byte) []byte {
	if v != OldAPIVersion {
		return objRaw
	}
	obj := clone(objRaw)
	if obj["object"] != "subscription" {
		return objRaw
	}
	items, _ := obj["items"].(map[string]any)
	data, _ := items["data"].([]any)
	for i, it := range data {
		m, _ := it.(map[string]any)
		if m == nil {
			continue
		}
		for _, k := range []string{"current_period_start", "current_period_end"} {
			if val, ok := m[k]; ok {
				if i == 0 {
					obj[k] = val
				}
				delete(m, k)
			}
		}
	}
	return render(obj)
}

func (f *Fake) addEvent(typ string, objRaw []byte, prev map[string]any, created int64) *entry {
	id := f.newID("evt_")
	version := cmp.Or(f.eventVersion, APIVersion)
	objRaw = renderIn(version, objRaw)
	data := map[string]any{"object": json.RawMessage(objRaw)}
	if prev != nil {
		data["previous_attributes"] = prev
	}
	ev := map[string]any{
		"id": id, "object": "event", "api_version": version, "created": created, "type": typ,
		"livemode": false, "pending_webhooks": 0,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"data":    data,
	}
	raw := render(ev)
	e := &entry{id: id, created: created, raw: raw, etype: typ}
	f.events.add(e)
	return e
}

// AddEvent records an arbitrary event (for types the fake does not produce
// itself) with object as data.object, at the given time.
func (f *Fake) AddEvent(typ string, object map[string]any, created time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addEvent(typ, render(normalize(object)), nil, created.Unix()).id
}

// Events returns the ids of all stored events, oldest first (retention ignored).
func (f *Fake) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events.SortIfNeeded()
	ids := make([]string, len(f.events.Sorted))
	for i, e := range f.events.Sorted {
		ids[i] = e.id
	}
	return ids
}

// handlerFunc adapts for tests that want to wrap the fake.
var _ http.Handler = (*Fake)(nil)
