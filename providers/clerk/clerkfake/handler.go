package clerkfake

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/reconctl/reconctl/providers/fakefault"
)

type response = fakefault.Response

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Serve(w, r, f.answer)
}

func errResp(status int, code, msg, long string, meta map[string]any) response {
	return response{Status: status, Body: errBody(code, msg, long, meta)}
}

func invalidParam(name, long string) response {
	return errResp(http.StatusUnprocessableEntity, "form_param_value_invalid", "is invalid", long,
		map[string]any{"param_name": name})
}

func (f *Fake) answer(r *http.Request) response {
	if resp, ok := f.authenticate(r); !ok {
		return resp
	}
	path := strings.TrimSuffix(r.URL.EscapedPath(), "/")
	if r.Method != http.MethodGet {
		return errResp(http.StatusMethodNotAllowed, "request_method_not_allowed", "method not allowed",
			"The method "+r.Method+" is not allowed here.", nil)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errResp(http.StatusBadRequest, "malformed_request_parameters", "malformed request",
			"The query string could not be parsed.", nil)
	}
	switch {
	case path == "/v1/users":
		return f.list(q, false)
	case path == "/v1/users/count":
		return f.list(q, true)
	case strings.HasPrefix(path, "/v1/users/"):
		seg := strings.TrimPrefix(path, "/v1/users/")
		id, err := url.PathUnescape(seg)
		if err != nil || strings.Contains(seg, "/") {
			return f.routeNotFound(r)
		}
		return f.retrieve(id)
	}
	return f.routeNotFound(r)
}

func (f *Fake) maxOffset() int {
	if f.cfg.MaxOffset == 0 {
		return DefaultMaxOffset
	}
	return f.cfg.MaxOffset
}

// routeNotFound is an unknown path: a 404 WITHOUT resource_not_found, so a
// client pointed at the wrong base cannot take it for a deleted user.
func (f *Fake) routeNotFound(r *http.Request) response {
	return errResp(http.StatusNotFound, "request_path_not_found", "not found",
		"The requested path "+r.URL.Path+" does not exist.", nil)
}

func (f *Fake) authenticate(r *http.Request) (response, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return errResp(http.StatusUnauthorized, "authorization_header_missing", "Authorization header missing",
			"You need to send an Authorization header with the Bearer scheme and your Secret Key.", nil), false
	}
	if key, ok := fakefault.BearerKey(r); !ok || !fakefault.KeyAccepted(key, f.cfg.APIKey, "sk_") {
		return errResp(http.StatusUnauthorized, "authentication_invalid", "Invalid authentication",
			"The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.", nil), false
	}
	return response{}, true
}

func (f *Fake) retrieve(id string) response {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Forbidden(id) {
		return errResp(http.StatusForbidden, "authorization_invalid", "Unauthorized request",
			"You are not authorized to perform this request", nil)
	}
	e := f.users.ByID[id]
	if e == nil {
		return errResp(http.StatusNotFound, "resource_not_found", "not found",
			"No user was found with id "+id, nil)
	}
	return response{Status: http.StatusOK, Body: e.raw}
}

var listParams = []string{"limit", "offset", "order_by", "email_address", "user_id", "external_id", "username",
	"query", "banned", "created_at_before", "created_at_after", "last_active_at_before", "last_active_at_after",
	"starting_after"}

var orderFields = []string{"created_at", "updated_at", "email_address", "web3wallet", "first_name", "last_name",
	"phone_number", "username", "last_active_at", "last_sign_in_at"}

func intParam(q url.Values, name string, lo, hi int64) (int64, bool, *response) {
	s := q.Get(name)
	if !q.Has(name) {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		r := invalidParam(name, fmt.Sprintf("%s must be an integer between %d and %d", name, lo, hi))
		return 0, true, &r
	}
	return n, true, nil
}

func num(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		x, err := n.Int64()
		return x, err == nil
	}
	return 0, false
}

func primaryEmail(obj map[string]any) string {
	list, _ := obj["email_addresses"].([]any)
	for _, em := range list {
		m, _ := em.(map[string]any)
		if m["id"] == obj["primary_email_address_id"] {
			s, _ := m["email_address"].(string)
			return s
		}
	}
	return ""
}

func (f *Fake) list(q url.Values, count bool) response {
	for k := range q {
		if !slices.Contains(listParams, k) {
			return errResp(http.StatusUnprocessableEntity, "form_param_unknown", "is unknown",
				k+" is not a valid parameter for this request.", map[string]any{"param_name": k})
		}
	}
	limit, _, bad := intParam(q, "limit", 1, 500)
	if bad != nil {
		return *bad
	}
	if limit == 0 {
		limit = 10
	}
	offset, hasOffset, bad := intParam(q, "offset", 0, 1<<40)
	if bad != nil {
		return *bad
	}
	if maxOff := f.maxOffset(); maxOff >= 0 && offset > int64(maxOff) {
		return errResp(http.StatusGatewayTimeout, "request_timeout", "request timed out",
			"The request took too long; paginate with starting_after instead of a large offset.", nil)
	}
	orderBy := q.Get("order_by")
	if orderBy == "" {
		orderBy = "-created_at"
	}
	field, desc := strings.TrimPrefix(orderBy, "+"), false
	if rest, ok := strings.CutPrefix(orderBy, "-"); ok {
		field, desc = rest, true
	}
	if !slices.Contains(orderFields, field) {
		return invalidParam("order_by", "order_by must be one of "+strings.Join(orderFields, ", ")+", optionally prefixed with + or -")
	}
	after := q.Get("starting_after")
	if after != "" && (field != "created_at" || hasOffset && offset != 0) {
		return invalidParam("starting_after", "starting_after can be used only when ordering by created_at and without offset")
	}
	var ranges [4]int64
	for i, name := range []string{"created_at_before", "created_at_after", "last_active_at_before", "last_active_at_after"} {
		if v, ok, bad := intParam(q, name, 0, 1<<62); bad != nil {
			return *bad
		} else if ok {
			ranges[i] = v
		}
	}
	lower := func(vs []string) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = strings.ToLower(v)
		}
		return out
	}
	emails, ids, extIDs, usernames := lower(q["email_address"]), q["user_id"], q["external_id"], lower(q["username"])
	query := strings.ToLower(q.Get("query"))
	banned := q.Get("banned")
	if banned != "" && banned != "true" && banned != "false" {
		return invalidParam("banned", "banned must be true or false")
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	needObj := len(emails) > 0 || len(extIDs) > 0 || len(usernames) > 0 || query != "" || banned != "" || ranges[2] != 0 || ranges[3] != 0
	match := func(e *entry) bool {
		if len(ids) > 0 && !slices.Contains(ids, e.id) {
			return false
		}
		if ranges[0] != 0 && e.created >= ranges[0] || ranges[1] != 0 && e.created <= ranges[1] {
			return false
		}
		if !needObj {
			return true
		}
		o := e.obj()
		if len(emails) > 0 {
			ok := false
			for _, em := range o["email_addresses"].([]any) {
				s, _ := em.(map[string]any)["email_address"].(string)
				ok = ok || slices.Contains(emails, strings.ToLower(s))
			}
			if !ok {
				return false
			}
		}
		if s, _ := o["external_id"].(string); len(extIDs) > 0 && !slices.Contains(extIDs, s) {
			return false
		}
		if s, _ := o["username"].(string); len(usernames) > 0 && !slices.Contains(usernames, strings.ToLower(s)) {
			return false
		}
		if query != "" {
			hay := strings.ToLower(fmt.Sprint(e.id, " ", o["first_name"], " ", o["last_name"], " ", o["username"], " ", primaryEmail(o)))
			if !strings.Contains(hay, query) {
				return false
			}
		}
		if banned != "" && fmt.Sprint(o["banned"]) != banned {
			return false
		}
		la, hasLA := num(o["last_active_at"])
		if ranges[2] != 0 && (!hasLA || la >= ranges[2]) || ranges[3] != 0 && (!hasLA || la <= ranges[3]) {
			return false
		}
		return true
	}
	f.users.SortIfNeeded()
	var hits []*entry
	for _, e := range f.users.Sorted {
		if match(e) {
			hits = append(hits, e)
		}
	}
	if count {
		return response{Status: http.StatusOK, Body: render(map[string]any{"object": "total_count", "total_count": len(hits)})}
	}
	if field != "created_at" {
		key := func(e *entry) any {
			if field == "email_address" {
				return primaryEmail(e.obj())
			}
			return e.obj()[field]
		}
		// Stable on the (created_at, id) order, nulls last.
		slices.SortStableFunc(hits, func(a, b *entry) int { return compareValues(key(a), key(b)) })
	}
	if desc {
		slices.Reverse(hits)
	}
	start := int(min(offset, int64(len(hits))))
	if after != "" {
		start = len(hits)
		if e := f.users.ByID[after]; e != nil {
			for i, h := range hits {
				if desc && less(h, e) || !desc && less(e, h) {
					start = i
					break
				}
			}
		} else if !f.cfg.DeletedCursorEmpty {
			return invalidParam("starting_after", "starting_after must be the id of an existing user")
		}
	}
	page := fakefault.CursorPage(len(hits), func(k int) *entry { return hits[k] }, func(*entry) bool { return true }, start, int(limit), true).Items
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.raw)
	}
	b.WriteByte(']')
	return response{Status: http.StatusOK, Body: b.Bytes()}
}

// compareValues orders JSON values of one field: nulls last, numbers
// numerically, strings case-insensitively.
func compareValues(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if x, ok := num(a); ok {
		if y, ok := num(b); ok {
			return cmp.Compare(x, y)
		}
	}
	return strings.Compare(strings.ToLower(fmt.Sprint(a)), strings.ToLower(fmt.Sprint(b)))
}
