// Package restfake is a stateful, in-memory JSON REST API for testing the
// generic rest provider: any number of resources under /{resource} and
// /{resource}/{id}, an /events list, and one pagination style per fake
// (cursor, page, offset, link or none) in the shapes common APIs use.
// Mutations through its Go methods record events ("user.created",
// "user.updated", "user.deleted" for resource "users"); faults (429, 5xx,
// latency, truncated bodies) come from the shared fakefault package.
//
// Shapes, for a fake with the defaults:
//
//	GET /users?cursor=…&limit=N     {"data":[…],"meta":{"next_cursor":"…"|null,"has_more":bool}}
//	GET /users?page=P&per_page=N    {"data":[…],"meta":{"page":P,"per_page":N,"total":T}}
//	GET /users?offset=O&limit=N     {"data":[…],"meta":{"offset":O,"limit":N,"total":T}}
//	GET /users?page=P&per_page=N    {"data":[…]} + Link: <…page=P+1…>; rel="next", <…>; rel="last"   (style link)
//	GET /users?limit=N&skiptoken=…  {"data":[…],"@odata.nextLink":"http://…"}                      (style next_url)
//	GET /users                      {"data":[…all…]}                                              (style none)
//	GET /users/{id}                 the object (or {"data":{…}} with WrapGet); 404 {"error":"not_found",…}
//	GET /events?since=…&until=…&types=a&types=b   events {"id","type","created_at","data":{"object":{…}}}, paged alike
//
// A limit or per_page above MaxLimit is capped silently (a short page, no
// error), as real APIs do. Options: the key in a query parameter
// (AuthQueryParam), since/until as unix seconds or ms (WindowFormat), a
// comma-joined types list (TypesComma), an updated_after list filter
// (UpdatedAfter).
//
// The matching reconctl config for resource users is printed by
// (*Fake).ConfigFor.
package restfake

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/reconctl/reconctl/providers/fakefault"
)

// Faults are the injectable faults (shared by every fake).
type Faults = fakefault.Faults

// Stats are the fake's counters.
type Stats = fakefault.Stats

// Request is one served request.
type Request = fakefault.Request

// Pagination styles.
const (
	Cursor = "cursor"
	Page   = "page"
	Offset = "offset"
	Link   = "link"
	None   = "none"
	// NextURL answers {"data":[…],"@odata.nextLink":"http://…?skiptoken=…"}
	// (OData's shape: a key with dots, an absolute next-page URL, absent
	// on the last page).
	NextURL = "next_url"
)

// Config configures a Fake.
type Config struct {
	// APIKey is the only key accepted; empty means no authentication.
	APIKey string
	// AuthHeader carries the key (default Authorization) after AuthPrefix
	// (default "Bearer " for Authorization, "" for any other header).
	AuthHeader, AuthPrefix string
	// Style is the pagination style (default cursor).
	Style string
	// BareArray answers lists as a bare JSON array (not with cursor style,
	// which needs meta.next_cursor).
	BareArray bool
	// DefaultLimit is the page size when none is asked for (default 20);
	// MaxLimit the largest page served (default 100). A larger limit or
	// per_page is silently capped to it, as many real APIs do (GitHub caps
	// per_page at 100, Stripe-like APIs cap limit): the page comes back
	// shorter than asked for, with no error.
	DefaultLimit, MaxLimit int
	// AuthQueryParam, when set, takes the key from this query parameter
	// instead of a header.
	AuthQueryParam string
	// WindowFormat is how /events reads since/until: "rfc3339" (default),
	// "unix" (seconds) or "unix_ms"; anything else is a 400.
	WindowFormat string
	// TypesComma makes /events read types as one comma-separated value
	// (types=a,b); a repeated types parameter then counts only its first
	// value, as many APIs do silently.
	TypesComma bool
	// UpdatedAfter lets lists filter by updated_after (RFC 3339, or unix
	// seconds with UnixTimes): only records updated at or after it.
	UpdatedAfter bool
	// NoEvents makes ConfigFor describe an API without an events feed:
	// updated_after_param (with UpdatedAfter) instead of events:.
	NoEvents bool
	// LinkAbsolute makes Link URLs absolute (default: relative paths).
	LinkAbsolute bool
	// NumericIDs gives objects JSON-number ids (1, 2, …) instead of strings.
	NumericIDs bool
	// WrapGet answers GET /{resource}/{id} as {"data": object}.
	WrapGet bool
	// SoftDelete answers GET of a deleted object with 200 and the object
	// carrying "deleted": true, instead of 404.
	SoftDelete bool
	// UnixTimes renders created_at/updated_at as unix seconds, not RFC 3339.
	// EmptyPageAfter, when > 0, makes a cursor listing misbehave once that
	// many records were served: the next page comes back with no data yet
	// has_more: true and a next cursor (an API bug a client must not take
	// for the end of the listing).
	EmptyPageAfter int
	UnixTimes      bool
	// Now is the fake's clock. Nil means time.Now.
	Now func() time.Time
}

// Fake is the in-memory API. It is an http.Handler; all methods are safe
// for concurrent use.
type Fake struct {
	*fakefault.Base // clock, Forbid, faults, stats and request log
	cfg             Config

	mu     sync.Mutex
	seq    int
	colls  map[string]*collection
	events *collection
}

type entry struct {
	id      string
	created time.Time
	obj     map[string]any
	raw     []byte
	deleted bool
	etype   string
}

// collection keeps entries ascending by (created, seq).
type collection struct {
	fakefault.Collection[*entry]
}

func newCollection() *collection { return &collection{fakefault.NewCollection(cmpEntry)} }

func cmpEntry(a, b *entry) int {
	if c := a.created.Compare(b.created); c != 0 {
		return c
	}
	if len(a.id) != len(b.id) { // numeric ids: shorter is smaller
		return len(a.id) - len(b.id)
	}
	return strings.Compare(a.id, b.id)
}

func (c *collection) add(e *entry) { c.Add(e.id, e) }

// New returns an empty fake.
func New(cfg Config) *Fake {
	if cfg.Style == "" {
		cfg.Style = Cursor
	}
	switch cfg.Style {
	case Cursor, Page, Offset, Link, NextURL, None:
	default:
		panic("restfake: unknown style " + cfg.Style)
	}
	if cfg.BareArray && cfg.Style == Cursor {
		panic("restfake: cursor style needs an envelope (meta.next_cursor); BareArray is not possible")
	}
	if cfg.AuthHeader == "" && cfg.AuthQueryParam == "" {
		cfg.AuthHeader = "Authorization"
		if cfg.AuthPrefix == "" {
			cfg.AuthPrefix = "Bearer "
		}
	}
	if cfg.DefaultLimit <= 0 {
		cfg.DefaultLimit = 20
	}
	if cfg.MaxLimit <= 0 {
		cfg.MaxLimit = 100
	}
	f := &Fake{cfg: cfg, colls: map[string]*collection{}, events: newCollection()}
	f.Base = fakefault.NewBase(cfg.Now, fakefault.Shapes{
		RateLimited: func() []byte { return []byte(`{"error":"rate_limited","message":"Too many requests"}`) },
		ServerError: func(int) []byte {
			return []byte(`{"error":"server_error","message":"Something went wrong (injected by restfake)"}`)
		},
	})
	return f
}

// NewServer starts an httptest server around a new fake. The caller closes
// the server; its URL is the base_url.
func NewServer(cfg Config) (*Fake, *httptest.Server) {
	f := New(cfg)
	return f, httptest.NewServer(f)
}

// Style is the fake's pagination style.
func (f *Fake) Style() string { return f.cfg.Style }

func render(v any) []byte              { return fakefault.Render("restfake", v) }
func decode(raw []byte) map[string]any { return fakefault.Decode("restfake", raw) }

// singular turns "users" into "user" for ids and event types.
func singular(resource string) string {
	if s, ok := strings.CutSuffix(resource, "ies"); ok {
		return s + "y"
	}
	return strings.TrimSuffix(resource, "s")
}

func (f *Fake) stamp(t time.Time) any {
	if f.cfg.UnixTimes {
		return t.Unix()
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (f *Fake) coll(resource string) *collection {
	c := f.colls[resource]
	if c == nil {
		c = newCollection()
		f.colls[resource] = c
	}
	return c
}

func (f *Fake) create(resource string, fields map[string]any) (*entry, error) {
	if resource == "" || resource == "events" || strings.Contains(resource, "/") {
		return nil, fmt.Errorf("restfake: bad resource name %q", resource)
	}
	created := f.Now().UTC()
	if v, ok := fields["created_at"].(time.Time); ok {
		created = v.UTC()
	}
	if f.cfg.UnixTimes {
		created = created.Truncate(time.Second)
	}
	f.seq++
	var idv any = fmt.Sprintf("%s_%06d", singular(resource), f.seq)
	if f.cfg.NumericIDs {
		idv = f.seq
	}
	if v, ok := fields["id"]; ok {
		idv = v
	}
	id := fmt.Sprint(idv)
	c := f.coll(resource)
	if _, dup := c.ByID[id]; dup {
		return nil, fmt.Errorf("restfake: duplicate %s id %q", resource, id)
	}
	obj := map[string]any{"id": idv, "created_at": f.stamp(created), "updated_at": f.stamp(created)}
	for k, v := range fields {
		if k != "id" && k != "created_at" {
			obj[k] = v
		}
	}
	raw := render(obj)
	e := &entry{id: id, created: created, obj: decode(raw), raw: raw}
	c.add(e)
	return e, nil
}

// Create creates an object of resource from fields ("id" and "created_at"
// (time.Time) may be given), records "<singular>.created" and returns it.
func (f *Fake) Create(resource string, fields map[string]any) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.create(resource, fields)
	if err != nil {
		panic(err)
	}
	f.addEvent(singular(resource)+".created", e.raw, e.created)
	return decode(e.raw)
}

// Seed creates n objects without events, oldest first, one millisecond
// apart and ending now (fields may be nil). It returns their ids as the
// API shows them (numbers as decimal text).
func (f *Fake) Seed(resource string, n int, fields func(i int) map[string]any) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.Now().UTC()
	step := time.Millisecond
	if f.cfg.UnixTimes {
		step = time.Second
	}
	ids := make([]string, 0, n)
	for i := range n {
		fl := map[string]any{}
		if fields != nil {
			maps.Copy(fl, fields(i))
		}
		if _, ok := fl["created_at"]; !ok {
			fl["created_at"] = now.Add(-time.Duration(n-i) * step)
		}
		e, err := f.create(resource, fl)
		if err != nil {
			panic(err)
		}
		ids = append(ids, e.id)
	}
	return ids
}

// Update merges fields, bumps updated_at and records "<singular>.updated".
func (f *Fake) Update(resource, id string, fields map[string]any) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.coll(resource).ByID[id]
	if e == nil || e.deleted {
		return nil, fmt.Errorf("restfake: no such %s %q", resource, id)
	}
	now := f.Now().UTC()
	for k, v := range fields {
		if k != "id" && k != "created_at" {
			e.obj[k] = v
		}
	}
	e.obj["updated_at"] = f.stamp(now)
	e.raw = render(e.obj)
	e.obj = decode(e.raw)
	f.addEvent(singular(resource)+".updated", e.raw, now)
	return decode(e.raw), nil
}

// Delete deletes an object (404, or deleted:true with SoftDelete) and
// records "<singular>.deleted".
func (f *Fake) Delete(resource, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.coll(resource).ByID[id]
	if e == nil || e.deleted {
		return fmt.Errorf("restfake: no such %s %q", resource, id)
	}
	e.deleted = true
	f.addEvent(singular(resource)+".deleted", e.raw, f.Now().UTC())
	return nil
}

// Get returns a live object.
func (f *Fake) Get(resource, id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.coll(resource).ByID[id]
	if e == nil || e.deleted {
		return nil, false
	}
	return decode(e.raw), true
}

func (f *Fake) addEvent(typ string, objRaw []byte, at time.Time) string {
	f.seq++
	id := fmt.Sprintf("evt_%06d", f.seq)
	ev := map[string]any{"id": id, "type": typ, "created_at": f.stamp(at),
		"data": map[string]any{"object": json.RawMessage(objRaw)}}
	f.events.add(&entry{id: id, created: at, raw: render(ev), etype: typ})
	return id
}

// AddEvent records an event of any type with object as data.object.
func (f *Fake) AddEvent(typ string, object map[string]any, at time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cfg.UnixTimes {
		at = at.Truncate(time.Second)
	}
	return f.addEvent(typ, render(object), at.UTC())
}

// Events returns the stored event ids, oldest first.
func (f *Fake) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events.SortIfNeeded()
	var ids []string
	for _, e := range f.events.Sorted {
		ids = append(ids, e.id)
	}
	return ids
}

// ConfigFor returns the rest: settings that read resource from this fake
// (as reconctl.yaml would give them, decoded), with events mapped to it
// (with NoEvents: none, and with UpdatedAfter too updated_after_param).
// keyEnv names the key's environment variable ("" for none).
func (f *Fake) ConfigFor(baseURL, resource, keyEnv string) map[string]any {
	pg := map[string]any{"style": f.cfg.Style}
	switch f.cfg.Style {
	case Cursor:
		pg["param"], pg["next_path"], pg["limit_param"], pg["limit"] = "cursor", "meta.next_cursor", "limit", f.cfg.MaxLimit
	case Page:
		pg["page_param"], pg["per_page_param"], pg["per_page"] = "page", "per_page", f.cfg.MaxLimit
	case Offset:
		pg["offset_param"], pg["limit_param"], pg["limit"] = "offset", "limit", f.cfg.MaxLimit
	case Link:
		pg["limit_param"], pg["limit"] = "per_page", f.cfg.MaxLimit
	case NextURL:
		pg["next_url_path"], pg["limit_param"], pg["limit"] = "@odata.nextLink", "limit", f.cfg.MaxLimit
	}
	if (f.cfg.Style == Page || f.cfg.Style == Offset) && !f.cfg.BareArray {
		pg["total_path"] = "meta.total"
	}
	items := "data"
	if f.cfg.BareArray {
		items = ""
	}
	res := map[string]any{"list_path": "/" + resource, "items_path": items, "id_path": "id",
		"updated_at_path": "updated_at", "get_path": "/" + resource + "/{id}", "pagination": pg,
		"email_param": "email"}
	if f.cfg.WrapGet {
		res["get_item_path"] = "data"
	}
	if f.cfg.SoftDelete {
		res["deleted_path"] = "deleted"
	}
	one := singular(resource)
	cfg := map[string]any{
		"base_url":  baseURL,
		"resources": map[string]any{resource: res},
		"events": map[string]any{"path": "/events", "items_path": items, "id_path": "id", "type_path": "type",
			"time_path": "created_at", "object_path": "data.object", "since_param": "since", "until_param": "until",
			"types_param": "types", "pagination": maps.Clone(pg),
			"types": map[string]any{one + ".created": resource, one + ".updated": resource,
				one + ".deleted": map[string]any{"resource": resource, "delete": true}}},
	}
	ev := cfg["events"].(map[string]any)
	if f.cfg.WindowFormat != "" {
		ev["since_format"] = f.cfg.WindowFormat
	}
	if f.cfg.TypesComma {
		ev["types_style"] = "comma"
	}
	if f.cfg.NoEvents {
		// An API without an events feed: changes by the list's filter
		// when it has one (the config allows one or the other).
		delete(cfg, "events")
		if f.cfg.UpdatedAfter {
			res["updated_after_param"] = "updated_after"
			if f.cfg.UnixTimes {
				res["updated_after_format"] = "unix"
			}
		}
	}
	if keyEnv != "" {
		auth := map[string]any{"env": keyEnv, "header": f.cfg.AuthHeader, "prefix": f.cfg.AuthPrefix}
		if f.cfg.AuthQueryParam != "" {
			auth = map[string]any{"env": keyEnv, "query_param": f.cfg.AuthQueryParam}
		}
		cfg["auth"] = auth
	}
	return cfg
}

// updated is the entry's updated_at (zero when unreadable).
func (e *entry) updated() time.Time {
	switch v := e.obj["updated_at"].(type) {
	case string:
		t, _ := time.Parse(time.RFC3339Nano, v)
		return t
	case int64:
		return time.Unix(v, 0)
	case int:
		return time.Unix(int64(v), 0)
	case json.Number:
		n, _ := v.Int64()
		return time.Unix(n, 0)
	case float64:
		return time.Unix(int64(v), 0)
	}
	return time.Time{}
}
