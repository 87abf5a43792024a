// Stripe Connect (issue #17): connected accounts, each with its own data.
// A request with the Stripe-Account header acts for that account (its own
// customers, subscriptions and events); GET /v1/accounts on the platform
// lists the connected accounts, newest first, paged like any Stripe list.

package stripefake

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// connected holds a platform fake's connected accounts.
type connected struct {
	mu    sync.Mutex
	order []string // creation order
	byID  map[string]*Fake
	when  map[string]int64
}

// Account returns the fake of the connected account id, creating it (and
// listing it under /v1/accounts) the first time. Seed and mutate it like
// the platform's fake; requests with "Stripe-Account: id" are served by it.
// Faults set on it apply to that account's requests only.
func (f *Fake) Account(id string) *Fake {
	c := f.connect()
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.byID[id]; ok {
		return a
	}
	// The account's clock is the platform's, wherever it is moved.
	a := New(Config{APIKey: f.apiKey, AcceptDeletedCursor: !f.rejectDeleted, Now: func() time.Time { return f.Now() }})
	a.accountID = id
	// Ids stay unique across accounts, as Stripe's are: each account's
	// sequence starts in its own range.
	a.seq = uint64(len(c.order)+1) << 40
	c.byID[id] = a
	c.order = append(c.order, id)
	c.when[id] = f.Now().Unix()
	return a
}

// Accounts returns the connected accounts' ids in creation order.
func (f *Fake) Accounts() []string {
	c := f.connect()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

func (f *Fake) connect() *connected {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.connected == nil {
		f.connected = &connected{byID: map[string]*Fake{}, when: map[string]int64{}}
	}
	return f.connected
}

// serveConnect answers what Connect changes: a request for a connected
// account goes to its fake, GET /v1/accounts lists them. It reports false
// for every other request (the platform's own).
func (f *Fake) serveConnect(w http.ResponseWriter, r *http.Request) bool {
	if f.accountID != "" {
		return false // a connected account serves its own requests
	}
	if acct := r.Header.Get("Stripe-Account"); acct != "" {
		c := f.connect()
		c.mu.Lock()
		a := c.byID[acct]
		c.mu.Unlock()
		if a != nil {
			a.ServeHTTP(w, r)
			return true
		}
		f.Serve(w, r, func(r *http.Request) response {
			if resp, ok := f.authenticate(r); !ok {
				return resp
			}
			return errResp(http.StatusForbidden, "invalid_request_error", "account_invalid",
				fmt.Sprintf("The provided key does not have access to account '%s' (or that account does not exist). Application access may have been revoked.", acct), "")
		})
		return true
	}
	if r.Method == http.MethodGet && (r.URL.Path == "/v1/accounts" || r.URL.Path == "/v1/accounts/") {
		f.Serve(w, r, f.listAccounts)
		return true
	}
	return false
}

// listAccounts is GET /v1/accounts: limit, starting_after, ending_before.
func (f *Fake) listAccounts(r *http.Request) response {
	if resp, ok := f.authenticate(r); !ok {
		return resp
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("Invalid query string: "+err.Error(), "")
	}
	for k := range q {
		if k != "limit" && k != "starting_after" && k != "ending_before" {
			return unknownParam(k)
		}
	}
	limit := 10
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return badRequest("Invalid limit: must be an integer between 1 and 100", "limit")
		}
		limit = n
	}
	after, before := q.Get("starting_after"), q.Get("ending_before")
	if after != "" && before != "" {
		return badRequest("You may only specify one of these parameters: ending_before, starting_after.", "ending_before")
	}
	c := f.connect()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Newest first.
	ids := make([]string, len(c.order))
	for i, id := range c.order {
		ids[len(ids)-1-i] = id
	}
	lo, hi := 0, len(ids)
	pos := func(id, param string) (int, *response) {
		for i, x := range ids {
			if x == id {
				return i, nil
			}
		}
		resp := errResp(http.StatusBadRequest, "invalid_request_error", "resource_missing", "No such account: '"+id+"'", param)
		return 0, &resp
	}
	switch {
	case after != "":
		i, bad := pos(after, "starting_after")
		if bad != nil {
			return *bad
		}
		lo = i + 1
		hi = min(lo+limit, len(ids))
	case before != "":
		i, bad := pos(before, "ending_before")
		if bad != nil {
			return *bad
		}
		hi = i
		lo = max(hi-limit, 0)
	default:
		hi = min(limit, len(ids))
	}
	data := make([]any, 0, hi-lo)
	for _, id := range ids[lo:hi] {
		data = append(data, map[string]any{"id": id, "object": "account", "created": c.when[id], "type": "standard",
			"charges_enabled": true, "payouts_enabled": true, "details_submitted": true})
	}
	more := hi < len(ids)
	if before != "" {
		more = lo > 0
	}
	return response{Status: http.StatusOK, Body: render(map[string]any{"object": "list", "data": data, "has_more": more, "url": "/v1/accounts"})}
}
