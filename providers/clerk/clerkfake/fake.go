// Package clerkfake is a stateful, in-memory imitation of the parts of
// Clerk's Backend API reconctl uses (GET /v1/users, /v1/users/count,
// /v1/users/{id}), built from Clerk's documented behaviour (see
// docs/provider-apis.md), not from what our client sends: bare JSON array
// pages, limit 1–500, offset paging (deep offsets time out), starting_after
// cursor paging, order_by ±field, the email_address
// filter, millisecond timestamps, and Clerk's error shape.
//
// Clerk has no events API, so neither has the fake. Seed or mutate users
// through its Go methods, point a client at it, and inject faults (429,
// 5xx, latency, truncated bodies) through the shared fakefault package.
package clerkfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
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

// Config configures a Fake.
type Config struct {
	// APIKey is the only key accepted. Empty accepts any key starting with "sk_".
	APIKey string
	// Now is the fake's clock (timestamps). Nil means time.Now.
	Now func() time.Time
	// MaxOffset is the deepest offset the fake answers; a larger one fails
	// with a 504 timeout, as Clerk's spec (bapi/2021-02-05.yml, GET /users)
	// warns a large offset "gets progressively slower and eventually times
	// out". Zero means DefaultMaxOffset; negative means no limit.
	MaxOffset int
	// DeletedCursorEmpty makes a starting_after naming a deleted (or
	// unknown) user answer 200 [] instead of a 422 on starting_after: the
	// spec does not say which real Clerk does, so the client must handle
	// both.
	DeletedCursorEmpty bool
}

// DefaultMaxOffset is Config.MaxOffset's default: ten pages of 500.
const DefaultMaxOffset = 5000

// Fake is the in-memory Clerk instance. It is an http.Handler; all methods
// are safe for concurrent use.
type Fake struct {
	*fakefault.Base // clock, Forbid, faults, stats and request log
	cfg             Config

	mu    sync.Mutex
	seq   uint64
	users fakefault.Collection[*entry] // live users ascending by (created_at, id)
}

type entry struct {
	id      string
	created int64 // unix ms
	raw     []byte
	decoded map[string]any // raw decoded, on first use (seeding 100k users stays cheap)
}

// obj is the stored user as JSON values (numbers as json.Number). Callers
// hold f.mu; after changing it they call setObj.
func (e *entry) obj() map[string]any {
	if e.decoded == nil {
		e.decoded = decode(e.raw)
	}
	return e.decoded
}

func (e *entry) setObj(m map[string]any) {
	e.raw = render(m)
	e.decoded = decode(e.raw)
}

// New returns an empty fake.
func New(cfg Config) *Fake {
	f := &Fake{cfg: cfg, users: fakefault.NewCollection(cmpEntry)}
	f.Base = fakefault.NewBase(cfg.Now, fakefault.Shapes{
		RateLimited: func() []byte {
			return errBody("too_many_requests", "Too Many Requests", "You have exceeded the rate limit; please retry later.", nil)
		},
		ServerError: func(int) []byte {
			return errBody("internal_clerk_error", "Oops, an unexpected error occurred", "There was an internal error on our servers (injected by clerkfake).", nil)
		},
	})
	return f
}

// NewServer starts an httptest server around a new fake. The caller closes
// the server; its URL is the API base (paths start with /v1).
func NewServer(cfg Config) (*Fake, *httptest.Server) {
	f := New(cfg)
	return f, httptest.NewServer(f)
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID makes KSUID-shaped ids (27 base62 characters) in creation order.
func (f *Fake) newID(prefix string) string {
	f.seq++
	var b [27]byte
	n := f.seq
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	b[0] = '2'
	return prefix + string(b[:])
}

func render(v any) []byte                       { return fakefault.Render("clerkfake", v) }
func decode(raw []byte) map[string]any          { return fakefault.Decode("clerkfake", raw) }
func normalize(v map[string]any) map[string]any { return fakefault.Normalize("clerkfake", v) }

// millis reads a caller's time: time.Time, or unix milliseconds as an
// integer or json.Number.
func millis(v any) (int64, bool) {
	switch t := v.(type) {
	case time.Time:
		return t.UnixMilli(), true
	case int64:
		return t, true
	case int:
		return int64(t), true
	case json.Number:
		n, err := t.Int64()
		return n, err == nil
	}
	return 0, false
}

func (f *Fake) emailObject(addr string, at int64) map[string]any {
	return map[string]any{"id": f.newID("idn_"), "object": "email_address", "email_address": addr,
		"reserved": false, "linked_to": []any{},
		"verification": map[string]any{"status": "verified", "strategy": "email_code", "attempts": nil, "expire_at": nil},
		"created_at":   at, "updated_at": at}
}

func (f *Fake) userDefaults(id string, created int64) map[string]any {
	return map[string]any{
		"id": id, "object": "user", "username": nil, "first_name": nil, "last_name": nil,
		"image_url": "https://img.clerk.com/" + id, "has_image": false,
		"primary_email_address_id": nil, "primary_phone_number_id": nil, "primary_web3_wallet_id": nil,
		"password_enabled": true, "two_factor_enabled": false, "totp_enabled": false, "backup_code_enabled": false,
		"email_addresses": []any{}, "phone_numbers": []any{}, "web3_wallets": []any{}, "passkeys": []any{},
		"external_accounts": []any{}, "saml_accounts": []any{},
		"public_metadata": map[string]any{}, "private_metadata": map[string]any{}, "unsafe_metadata": map[string]any{},
		"external_id": nil, "last_sign_in_at": nil, "banned": false, "locked": false,
		"lockout_expires_in_seconds": nil, "verification_attempts_remaining": 100,
		"created_at": created, "updated_at": created, "delete_self_enabled": true,
		"create_organization_enabled": true, "last_active_at": nil, "mfa_enabled_at": nil,
		"mfa_disabled_at": nil, "legal_accepted_at": nil,
	}
}

// create stores a user. Shortcuts: "email" (one verified address, made
// primary) or "emails" ([]string; the first is primary). "id" and
// "created_at" (time.Time or unix ms) may be given; other fields use
// Clerk's names and replace the defaults.
func (f *Fake) create(fields map[string]any) (*entry, error) {
	created := f.Now().UnixMilli()
	if v, ok := fields["created_at"]; ok {
		ms, ok := millis(v)
		if !ok {
			return nil, fmt.Errorf("clerkfake: created_at %v is not a time.Time or unix milliseconds", v)
		}
		created = ms
	}
	id, _ := fields["id"].(string)
	if id == "" {
		id = f.newID("user_")
	}
	if _, dup := f.users.ByID[id]; dup {
		return nil, fmt.Errorf("clerkfake: duplicate user id %q", id)
	}
	obj := f.userDefaults(id, created)
	var emails []string
	if e, ok := fields["email"].(string); ok && e != "" {
		emails = append(emails, e)
	}
	switch es := fields["emails"].(type) {
	case []string:
		emails = append(emails, es...)
	case []any:
		for _, e := range es {
			if s, ok := e.(string); ok {
				emails = append(emails, s)
			}
		}
	}
	if len(emails) > 0 {
		var list []any
		for _, e := range emails {
			list = append(list, f.emailObject(e, created))
		}
		obj["email_addresses"] = list
		obj["primary_email_address_id"] = list[0].(map[string]any)["id"]
	}
	for k, v := range fields {
		switch k {
		case "id", "object", "created_at", "email", "emails":
			continue
		}
		obj[k] = v
	}
	if _, given := fields["updated_at"]; !given {
		obj["updated_at"] = created
	}
	// Stored rendered: the object never aliases the caller's maps, and
	// reads back with numbers as json.Number.
	e := &entry{id: id, created: created, raw: render(obj)}
	f.users.Add(id, e)
	return e, nil
}

func less(a, b *entry) bool {
	if a.created != b.created {
		return a.created < b.created
	}
	return a.id < b.id
}

func cmpEntry(a, b *entry) int {
	switch {
	case less(a, b):
		return -1
	case less(b, a):
		return 1
	}
	return 0
}

// CreateUser creates a user and returns the stored object (see create for
// the fields: "email" or "emails" are shortcuts for email_addresses).
func (f *Fake) CreateUser(fields map[string]any) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, err := f.create(fields)
	if err != nil {
		panic(err)
	}
	return decode(e.raw)
}

// SeedUsers creates n users, oldest first, one millisecond apart and ending
// now unless fields gives created_at. fields may be nil. It returns the
// ids in creation order.
func (f *Fake) SeedUsers(n int, fields func(i int) map[string]any) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.Now().UnixMilli()
	ids := make([]string, 0, n)
	for i := range n {
		fl := fakefault.FieldsAt(fields, i)
		if _, ok := fl["created_at"]; !ok {
			fl["created_at"] = now - int64(n-i)
		}
		e, err := f.create(fl)
		if err != nil {
			panic(err)
		}
		ids = append(ids, e.id)
	}
	return ids
}

// UpdateUser merges fields (Clerk's names; "email" changes the primary
// address's email_address) and bumps updated_at.
func (f *Fake) UpdateUser(id string, fields map[string]any) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.users.ByID[id]
	if e == nil {
		return nil, fmt.Errorf("clerkfake: no such user %q", id)
	}
	now := f.Now().UnixMilli()
	obj := e.obj()
	for k, v := range normalize(fields) {
		switch k {
		case "id", "object", "created_at", "updated_at":
			continue
		case "email":
			addr, _ := v.(string)
			found := false
			for _, em := range obj["email_addresses"].([]any) {
				m := em.(map[string]any)
				if m["id"] == obj["primary_email_address_id"] {
					m["email_address"], m["updated_at"] = addr, now
					found = true
				}
			}
			if !found {
				ea := normalize(f.emailObject(addr, now))
				obj["email_addresses"] = append(obj["email_addresses"].([]any), ea)
				obj["primary_email_address_id"] = ea["id"]
			}
			continue
		}
		obj[k] = v
	}
	obj["updated_at"] = json.Number(fmt.Sprint(max(now, e.created)))
	e.setObj(obj)
	return decode(e.raw), nil
}

// AddEmailAddress adds an address to a user, as primary when asked, and
// returns its id.
func (f *Fake) AddEmailAddress(userID, addr string, primary bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.users.ByID[userID]
	if e == nil {
		return "", fmt.Errorf("clerkfake: no such user %q", userID)
	}
	now := f.Now().UnixMilli()
	ea := normalize(f.emailObject(addr, now))
	obj := e.obj()
	obj["email_addresses"] = append(obj["email_addresses"].([]any), ea)
	if primary {
		obj["primary_email_address_id"] = ea["id"]
	}
	obj["updated_at"] = json.Number(fmt.Sprint(now))
	e.setObj(obj)
	return ea["id"].(string), nil
}

// DeleteUser deletes a user: it leaves lists and GET answers 404
// resource_not_found, as for an id that never existed.
func (f *Fake) DeleteUser(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.users.ByID[id]
	if e == nil {
		return fmt.Errorf("clerkfake: no such user %q", id)
	}
	delete(f.users.ByID, id)
	f.users.SortIfNeeded()
	if i := slices.Index(f.users.Sorted, e); i >= 0 {
		f.users.Sorted = slices.Delete(f.users.Sorted, i, i+1)
	}
	return nil
}

// User returns a stored user.
func (f *Fake) User(id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.users.ByID[id]
	if e == nil {
		return nil, false
	}
	return decode(e.raw), true
}

// Count is how many users exist.
func (f *Fake) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.users.ByID)
}

// errBody renders Clerk's error shape.
func errBody(code, msg, long string, meta map[string]any) []byte {
	e := map[string]any{"message": msg, "long_message": long, "code": code}
	if meta != nil {
		e["meta"] = meta
	}
	return render(map[string]any{"errors": []any{e}, "clerk_trace_id": fmt.Sprintf("%032x", time.Now().UnixNano())})
}

var _ http.Handler = (*Fake)(nil)
