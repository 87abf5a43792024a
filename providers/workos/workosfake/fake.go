// Package workosfake is a stateful, in-memory imitation of the parts of the
// WorkOS API reconctl uses — users (/user_management/users), organizations,
// Directory Sync users and /events — built from WorkOS's documented
// behaviour (see docs/provider-apis.md), not from what our client sends.
//
// Seed or mutate objects through its Go methods (each Create/Update/Delete
// records the matching event, as WorkOS does; Seed* methods record none, for
// data that predates the event window), point a client at it, and inject
// faults (429, 5xx, latency, truncated bodies) through the shared fakefault
// package.
package workosfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/reconctl/reconctl/providers/fakefault"
)

// Retention is how long events stay listable, like WorkOS's 30 days.
const Retention = 30 * 24 * time.Hour

// TimeFormat is how the fake renders timestamps (ISO-8601, milliseconds, UTC).
const TimeFormat = "2006-01-02T15:04:05.000Z"

// Faults are the injectable faults (shared by every fake).
type Faults = fakefault.Faults

// Stats are the fake's counters.
type Stats = fakefault.Stats

// Request is one served request.
type Request = fakefault.Request

// Config configures a Fake.
type Config struct {
	// APIKey is the only key accepted. Empty accepts any key starting with "sk_".
	APIKey string
	// Now is the fake's clock (timestamps, event retention). Nil means time.Now.
	Now func() time.Time
	// EventsOldestFirst makes /events ignore `order` and always answer oldest
	// first, as the live API has been seen doing. By default `order` is
	// honoured (desc when absent, like the other lists).
	EventsOldestFirst bool
	// DirectoryUsersRPS, when > 0, enforces WorkOS's per-directory limit on
	// /directory_users (4 req/s in production) with 429 and Retry-After.
	DirectoryUsersRPS float64
}

// Resource kinds, as in the objects' "object" field.
const (
	KindUser          = "user"
	KindOrganization  = "organization"
	KindDirectoryUser = "directory_user"
	KindEvent         = "event"
)

var idPrefix = map[string]string{
	KindUser: "user_", KindOrganization: "org_", KindDirectoryUser: "directory_user_", KindEvent: "event_",
}

var eventPrefix = map[string]string{
	KindUser: "user", KindOrganization: "organization", KindDirectoryUser: "dsync.user",
}

// notFoundName is how WorkOS names the kind in its 404 message.
var notFoundName = map[string]string{
	KindUser: "User", KindOrganization: "Organization", KindDirectoryUser: "DirectoryUser", KindEvent: "Event",
}

// Fake is the in-memory WorkOS. It is an http.Handler; all methods are safe
// for concurrent use.
type Fake struct {
	*fakefault.Base // clock, Forbid, faults, stats and request log
	cfg             Config

	mu          sync.Mutex
	seq         uint64
	coll        map[string]*collection
	memberships map[string]map[string]bool // user id → organization ids
	dirLimit    map[string]*rate.Limiter
}

// New returns an empty fake.
func New(cfg Config) *Fake {
	f := &Fake{
		cfg:         cfg,
		coll:        map[string]*collection{},
		memberships: map[string]map[string]bool{},
		dirLimit:    map[string]*rate.Limiter{},
	}
	for _, k := range []string{KindUser, KindOrganization, KindDirectoryUser, KindEvent} {
		f.coll[k] = &collection{Collection: fakefault.NewCollection(cmpEntry), kind: k}
	}
	f.Base = fakefault.NewBase(cfg.Now, fakefault.Shapes{
		RateLimited: func() []byte { return []byte(`{"message":"Too many requests"}`) },
		ServerError: func(st int) []byte {
			return render(map[string]any{"message": "Internal Server Error (injected by workosfake)", "code": "server_error"})
		},
		Header: func(h http.Header, n int) {
			h.Set("X-Request-Id", fmt.Sprintf("req_%014d", n))
		},
	})
	return f
}

// NewServer starts an httptest server around a new fake. The caller closes
// the server; its URL is the API base (http://127.0.0.1:PORT).
func NewServer(cfg Config) (*Fake, *httptest.Server) {
	f := New(cfg)
	return f, httptest.NewServer(f)
}

// entry is one stored object, its JSON rendered once per mutation.
type entry struct {
	id      string
	created time.Time
	obj     map[string]any
	raw     []byte
	deleted bool // kept as a tombstone so a cursor naming it still works
	etype   string
	dir     string // directory users: the directory id
}

// collection keeps entries sorted ascending by (created, id).
type collection struct {
	fakefault.Collection[*entry]
	kind string
}

func cmpEntry(a, b *entry) int {
	if c := a.created.Compare(b.created); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

func (c *collection) add(e *entry) { c.Add(e.id, e) }

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newID makes ULID-shaped ids (26 Crockford base32 characters) that sort in
// creation order.
func (f *Fake) newID(kind string) string {
	f.seq++
	var b [26]byte
	n := f.seq
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = crockford[n%32]
		n /= 32
	}
	b[0] = '0'
	b[1] = '1'
	return idPrefix[kind] + string(b[:])
}

func render(v any) []byte                       { return fakefault.Render("workosfake", v) }
func decode(raw []byte) map[string]any          { return fakefault.Decode("workosfake", raw) }
func normalize(v map[string]any) map[string]any { return fakefault.Normalize("workosfake", v) }

func stamp(t time.Time) string { return t.UTC().Format(TimeFormat) }

// timeFrom reads a caller's time value: time.Time or an ISO-8601 string.
func timeFrom(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC().Truncate(time.Millisecond), true
	case string:
		if p, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return p.UTC().Truncate(time.Millisecond), true
		}
	}
	return time.Time{}, false
}

func defaults(kind, id string, created time.Time, dir string) map[string]any {
	ts := stamp(created)
	switch kind {
	case KindUser:
		return map[string]any{"object": "user", "id": id, "email": strings.ToLower(id) + "@example.com",
			"email_verified": false, "first_name": nil, "last_name": nil, "profile_picture_url": nil,
			"external_id": nil, "metadata": map[string]any{}, "last_sign_in_at": nil,
			"created_at": ts, "updated_at": ts}
	case KindOrganization:
		return map[string]any{"object": "organization", "id": id, "name": "Organization " + id[len(id)-6:],
			"allow_profiles_outside_organization": false, "domains": []any{}, "external_id": nil,
			"metadata": map[string]any{}, "created_at": ts, "updated_at": ts}
	case KindDirectoryUser:
		email := strings.ToLower(id[len(id)-8:]) + "@corp.example.com"
		return map[string]any{"object": "directory_user", "id": id, "directory_id": dir,
			"organization_id": nil, "idp_id": "idp_" + id[len(id)-8:], "email": email,
			"first_name": nil, "last_name": nil,
			"emails":   []any{map[string]any{"primary": true, "type": "work", "value": email}},
			"username": email, "state": "active", "custom_attributes": map[string]any{},
			"groups": []any{}, "created_at": ts, "updated_at": ts}
	}
	panic("workosfake: unknown kind " + kind)
}

// create stores a new object. fields use WorkOS's names; "id" and
// "created_at" (time.Time or ISO-8601) may be given.
func (f *Fake) create(kind, dir string, fields map[string]any) (*entry, error) {
	created := f.Now().UTC().Truncate(time.Millisecond)
	if v, ok := fields["created_at"]; ok {
		t, ok := timeFrom(v)
		if !ok {
			return nil, fmt.Errorf("workosfake: created_at %v is not a time.Time or ISO-8601 string", v)
		}
		created = t
	}
	id, _ := fields["id"].(string)
	if id == "" {
		id = f.newID(kind)
	}
	c := f.coll[kind]
	if _, dup := c.ByID[id]; dup {
		return nil, fmt.Errorf("workosfake: duplicate %s id %q", kind, id)
	}
	obj := defaults(kind, id, created, dir)
	for k, v := range fields {
		if k == "id" || k == "object" || k == "created_at" {
			continue
		}
		obj[k] = v
	}
	if kind == KindDirectoryUser {
		if _, given := fields["emails"]; !given {
			if em, ok := obj["email"].(string); ok && em != "" {
				obj["emails"] = []any{map[string]any{"primary": true, "type": "work", "value": em}}
			}
		}
	}
	if _, given := fields["updated_at"]; !given {
		obj["updated_at"] = stamp(created)
	}
	// One render and one decode: the stored object never aliases the
	// caller's maps and holds numbers as json.Number.
	raw := render(obj)
	e := &entry{id: id, created: created, obj: decode(raw), raw: raw, dir: dir}
	c.add(e)
	return e, nil
}

func (f *Fake) mustCreate(kind, dir string, fields map[string]any, event bool) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.create(kind, dir, fields)
	if err != nil {
		panic(err)
	}
	if event {
		f.addEvent(eventPrefix[kind]+".created", e.raw, e.created)
	}
	return decode(e.raw)
}

func (f *Fake) seed(kind, dir string, n int, fields func(i int) map[string]any) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, n)
	now := f.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		fl := fakefault.FieldsAt(fields, i)
		if _, ok := fl["created_at"]; !ok {
			// Oldest first, one millisecond apart, ending now.
			fl["created_at"] = now.Add(-time.Duration(n-i) * time.Millisecond)
		}
		e, err := f.create(kind, dir, fl)
		if err != nil {
			panic(err)
		}
		ids = append(ids, e.id)
	}
	return ids
}

func (f *Fake) update(kind, id string, fields map[string]any) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.coll[kind].ByID[id]
	if e == nil || e.deleted {
		return nil, fmt.Errorf("workosfake: no such %s %q", kind, id)
	}
	changed := false
	for k, v := range normalize(fields) {
		if k == "id" || k == "object" || k == "created_at" || k == "updated_at" {
			continue
		}
		if old, had := e.obj[k]; !had || !bytes.Equal(render(old), render(v)) {
			e.obj[k] = v
			changed = true
		}
	}
	if !changed {
		return decode(e.raw), nil
	}
	now := f.Now().UTC().Truncate(time.Millisecond)
	e.obj["updated_at"] = stamp(now)
	e.raw = render(e.obj)
	f.addEvent(eventPrefix[kind]+".updated", e.raw, now)
	return decode(e.raw), nil
}

func (f *Fake) delete(kind, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.coll[kind].ByID[id]
	if e == nil || e.deleted {
		return fmt.Errorf("workosfake: no such %s %q", kind, id)
	}
	e.deleted = true
	f.addEvent(eventPrefix[kind]+".deleted", e.raw, f.Now().UTC().Truncate(time.Millisecond))
	return nil
}

func (f *Fake) get(kind, id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.coll[kind].ByID[id]
	if e == nil || e.deleted {
		return nil, false
	}
	return decode(e.raw), true
}

// ---- users ----

// CreateUser creates a user (fields: email, first_name, last_name,
// email_verified, external_id, metadata, …; id and created_at optional),
// records user.created and returns the stored object.
func (f *Fake) CreateUser(fields map[string]any) map[string]any {
	return f.mustCreate(KindUser, "", fields, true)
}

// SeedUsers creates n users without events, oldest first, one millisecond
// apart unless fields gives created_at. It returns the ids in creation order.
func (f *Fake) SeedUsers(n int, fields func(i int) map[string]any) []string {
	return f.seed(KindUser, "", n, fields)
}

// UpdateUser merges fields, bumps updated_at and records user.updated.
func (f *Fake) UpdateUser(id string, fields map[string]any) (map[string]any, error) {
	return f.update(KindUser, id, fields)
}

// DeleteUser deletes a user (GET then answers 404 entity_not_found) and
// records user.deleted.
func (f *Fake) DeleteUser(id string) error { return f.delete(KindUser, id) }

// User returns a live user.
func (f *Fake) User(id string) (map[string]any, bool) { return f.get(KindUser, id) }

// AddMembership makes the user a member of the organization, for the users
// list's organization_id filter.
func (f *Fake) AddMembership(userID, orgID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.memberships[userID] == nil {
		f.memberships[userID] = map[string]bool{}
	}
	f.memberships[userID][orgID] = true
}

// ---- organizations ----

// CreateOrganization creates an organization (fields: name, domains,
// external_id, metadata, …) and records organization.created.
func (f *Fake) CreateOrganization(fields map[string]any) map[string]any {
	return f.mustCreate(KindOrganization, "", fields, true)
}

// SeedOrganizations creates n organizations without events.
func (f *Fake) SeedOrganizations(n int, fields func(i int) map[string]any) []string {
	return f.seed(KindOrganization, "", n, fields)
}

// UpdateOrganization merges fields and records organization.updated.
func (f *Fake) UpdateOrganization(id string, fields map[string]any) (map[string]any, error) {
	return f.update(KindOrganization, id, fields)
}

// DeleteOrganization deletes an organization and records organization.deleted.
func (f *Fake) DeleteOrganization(id string) error { return f.delete(KindOrganization, id) }

// Organization returns a live organization.
func (f *Fake) Organization(id string) (map[string]any, bool) { return f.get(KindOrganization, id) }

// ---- directory users ----

// CreateDirectoryUser creates a user in a directory (fields: email,
// first_name, last_name, state, groups, custom_attributes, organization_id,
// …) and records dsync.user.created.
func (f *Fake) CreateDirectoryUser(directoryID string, fields map[string]any) map[string]any {
	return f.mustCreate(KindDirectoryUser, directoryID, fields, true)
}

// SeedDirectoryUsers creates n users in a directory without events.
func (f *Fake) SeedDirectoryUsers(directoryID string, n int, fields func(i int) map[string]any) []string {
	return f.seed(KindDirectoryUser, directoryID, n, fields)
}

// UpdateDirectoryUser merges fields and records dsync.user.updated.
func (f *Fake) UpdateDirectoryUser(id string, fields map[string]any) (map[string]any, error) {
	return f.update(KindDirectoryUser, id, fields)
}

// DeleteDirectoryUser deletes a directory user and records dsync.user.deleted.
func (f *Fake) DeleteDirectoryUser(id string) error { return f.delete(KindDirectoryUser, id) }

// DirectoryUser returns a live directory user.
func (f *Fake) DirectoryUser(id string) (map[string]any, bool) { return f.get(KindDirectoryUser, id) }

// ---- events ----

func (f *Fake) addEvent(typ string, objRaw []byte, created time.Time) *entry {
	id := f.newID(KindEvent)
	ev := map[string]any{"object": "event", "id": id, "event": typ, "data": json.RawMessage(objRaw),
		"created_at": stamp(created), "context": map[string]any{}}
	e := &entry{id: id, created: created, raw: render(ev), etype: typ}
	f.coll[KindEvent].add(e)
	return e
}

// AddEvent records an arbitrary event with data at the given time and
// returns its id.
func (f *Fake) AddEvent(typ string, data map[string]any, created time.Time) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addEvent(typ, render(normalize(data)), created.UTC().Truncate(time.Millisecond)).id
}

// Events returns the ids of all stored events, oldest first (retention ignored).
func (f *Fake) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.coll[KindEvent]
	c.SortIfNeeded()
	ids := make([]string, len(c.Sorted))
	for i, e := range c.Sorted {
		ids[i] = e.id
	}
	return ids
}
