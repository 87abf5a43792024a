package workosfake

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/reconctl/reconctl/providers/fakefault"
)

type response = fakefault.Response

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Serve(w, r, f.answer)
}

func jsonResp(status int, v any) response {
	return response{Status: status, Body: render(v)}
}

// validation is WorkOS's 422 shape.
func validation(field, code, msg string) response {
	e := map[string]any{"code": code, "field": field}
	if msg != "" {
		e["message"] = msg
	}
	return jsonResp(http.StatusUnprocessableEntity, map[string]any{"message": "Validation failed.", "errors": []any{e}})
}

func (f *Fake) answer(r *http.Request) response {
	if resp, ok := f.authenticate(r); !ok {
		return resp
	}
	path := strings.TrimSuffix(r.URL.EscapedPath(), "/")
	notFound := jsonResp(http.StatusNotFound, map[string]any{"message": fmt.Sprintf("Cannot %s %s", r.Method, r.URL.Path),
		"error": "Not Found", "statusCode": 404})
	if r.Method != http.MethodGet {
		return notFound
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return jsonResp(http.StatusBadRequest, map[string]any{"message": "Invalid query string"})
	}
	var kind, id string
	for _, route := range []struct{ prefix, kind string }{
		{"/user_management/users", KindUser},
		{"/organizations", KindOrganization},
		{"/directory_users", KindDirectoryUser},
		{"/events", KindEvent},
	} {
		if path == route.prefix {
			kind = route.kind
			break
		}
		if rest, ok := strings.CutPrefix(path, route.prefix+"/"); ok && rest != "" && !strings.Contains(rest, "/") {
			if u, err := url.PathUnescape(rest); err == nil {
				kind, id = route.kind, u
			}
			break
		}
	}
	switch {
	case kind == "":
		return notFound
	case kind == KindEvent && id != "":
		return notFound // WorkOS documents no single-event endpoint
	case id != "":
		return f.retrieve(kind, id)
	}
	return f.list(kind, q)
}

func (f *Fake) authenticate(r *http.Request) (response, bool) {
	unauthorized := jsonResp(http.StatusUnauthorized, map[string]any{
		"message": "Could not authorize the request. Maybe your API key is invalid?"})
	if key, ok := fakefault.BearerKey(r); !ok || !fakefault.KeyAccepted(key, f.cfg.APIKey, "sk_") {
		return unauthorized, false
	}
	return response{}, true
}

func (f *Fake) retrieve(kind, id string) response {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Forbidden(id) {
		return jsonResp(http.StatusForbidden, map[string]any{"code": "forbidden",
			"message": "You do not have permission to access this resource."})
	}
	e := f.coll[kind].ByID[id]
	if e == nil || e.deleted {
		return jsonResp(http.StatusNotFound, map[string]any{"code": "entity_not_found",
			"message": fmt.Sprintf("%s not found: '%s'.", notFoundName[kind], id), "entity_id": id})
	}
	return response{Status: http.StatusOK, Body: e.raw}
}

// allowed query parameters per list.
var listParams = map[string][]string{
	KindUser:          {"limit", "before", "after", "order", "email", "organization_id"},
	KindOrganization:  {"limit", "before", "after", "order", "domains"},
	KindDirectoryUser: {"limit", "before", "after", "order", "directory", "group"},
	KindEvent:         {"limit", "after", "order", "events", "range_start", "range_end", "organization_id"},
}

// eventTypes reads the events filter. WorkOS's OpenAPI spec
// (github.com/workos/openapi-spec spec/open-api-spec.yaml v0.61.0, GET
// /events) marks it optional, `style: form, explode: false`: one parameter
// holding a comma-separated list (events=a,b), which our client sends. The
// official Go SDK (github.com/workos/workos-go pkg/events, ListEventsOpts
// Events []string with tag url:"events,omitempty", encoded by
// google/go-querystring) sends the key repeated (events=a&events=b), and
// real WorkOS accepts that too, so the fake accepts both encodings, alone or
// mixed. No filter means every event type.
func eventTypes(q url.Values) ([]string, *response) {
	var out []string
	for _, v := range q["events"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" && !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

func parseTime(field, v string) (time.Time, *response) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		r := validation(field, "invalid", field+" must be an ISO-8601 date")
		return time.Time{}, &r
	}
	return t, nil
}

func (f *Fake) list(kind string, q url.Values) response {
	for k := range q {
		if !slices.Contains(listParams[kind], k) {
			return validation(k, "unknown_parameter", "Unknown query parameter "+k)
		}
	}
	limit := 10
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return validation("limit", "invalid", "limit must be between 1 and 100")
		}
		limit = n
	}
	before, after := q.Get("before"), q.Get("after")
	if before != "" && after != "" {
		return validation("before", "invalid", "before and after cannot be combined")
	}
	desc := true
	switch q.Get("order") {
	case "", "desc", "normal":
	case "asc":
		desc = false
	default:
		return validation("order", "invalid", "order must be one of asc, desc, normal")
	}

	var match func(*entry) bool
	switch kind {
	case KindUser:
		email, byEmail := strings.ToLower(q.Get("email")), q.Has("email")
		org, byOrg := q.Get("organization_id"), q.Has("organization_id")
		match = func(e *entry) bool {
			if byEmail {
				if s, _ := e.obj["email"].(string); strings.ToLower(s) != email {
					return false
				}
			}
			return !byOrg || f.memberships[e.id][org]
		}
	case KindOrganization:
		domains := q["domains"]
		match = func(e *entry) bool {
			if len(domains) == 0 {
				return true
			}
			ds, _ := e.obj["domains"].([]any)
			for _, d := range ds {
				var name string
				switch x := d.(type) {
				case string:
					name = x
				case map[string]any:
					name, _ = x["domain"].(string)
				}
				if slices.Contains(domains, name) {
					return true
				}
			}
			return false
		}
	case KindDirectoryUser:
		dir, group := q.Get("directory"), q.Get("group")
		if dir == "" && group == "" {
			return validation("directory", "required", "Either directory or group is required")
		}
		if f.cfg.DirectoryUsersRPS > 0 && dir != "" && !f.allowDirectory(dir) {
			resp := jsonResp(http.StatusTooManyRequests, map[string]any{"message": "Too many requests"})
			resp.Header = http.Header{"Retry-After": []string{"1"}}
			return resp
		}
		match = func(e *entry) bool {
			if dir != "" && e.dir != dir {
				return false
			}
			if group != "" {
				gs, _ := e.obj["groups"].([]any)
				found := false
				for _, g := range gs {
					switch x := g.(type) {
					case string:
						found = found || x == group
					case map[string]any:
						found = found || x["id"] == group
					}
				}
				return found
			}
			return true
		}
	case KindEvent:
		// The spec allows after together with range_start/range_end (the
		// Go SDK sends the range on every page), and the range keeps
		// filtering the pages after the first.
		types, bad := eventTypes(q)
		if bad != nil {
			return *bad
		}
		var from, to time.Time
		if s := q.Get("range_start"); s != "" {
			t, bad := parseTime("range_start", s)
			if bad != nil {
				return *bad
			}
			from = t
		}
		if s := q.Get("range_end"); s != "" {
			t, bad := parseTime("range_end", s)
			if bad != nil {
				return *bad
			}
			to = t
		}
		if f.cfg.EventsOldestFirst {
			desc = false
		}
		f.mu.Lock()
		oldest := f.Now().Add(-Retention)
		f.mu.Unlock()
		match = func(e *entry) bool {
			// range_start and range_end are both inclusive.
			return !e.created.Before(oldest) && (len(types) == 0 || slices.Contains(types, e.etype)) &&
				(from.IsZero() || !e.created.Before(from)) && (to.IsZero() || !e.created.After(to))
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.coll[kind]
	c.SortIfNeeded()
	s := c.Sorted
	n := len(s)
	at := func(k int) *entry { // k-th entry in list order
		if desc {
			return s[n-1-k]
		}
		return s[k]
	}
	ok := func(e *entry) bool { return !e.deleted && match(e) }
	// comesAfter: e lies after x in list order.
	comesAfter := func(e, x *entry) bool {
		if desc {
			return cmpEntry(e, x) < 0
		}
		return cmpEntry(e, x) > 0
	}
	cursor := func(id, field string) (*entry, *response) {
		e := c.ByID[id]
		if e == nil {
			r := validation(field, "invalid", fmt.Sprintf("%s is not a valid cursor", field))
			return nil, &r
		}
		return e, nil
	}
	bound, forward := 0, true
	switch {
	case before != "":
		cx, bad := cursor(before, "before")
		if bad != nil {
			return *bad
		}
		bound = sort.Search(n, func(k int) bool { return !comesAfter(cx, at(k)) })
		forward = false
	case after != "":
		cx, bad := cursor(after, "after")
		if bad != nil {
			return *bad
		}
		bound = sort.Search(n, func(k int) bool { return comesAfter(at(k), cx) })
	}
	pg := fakefault.CursorPage(n, at, ok, bound, limit, forward)
	page := pg.Items
	var mdBefore, mdAfter any
	if pg.MoreBefore {
		mdBefore = page[0].id
	}
	if pg.MoreAfter {
		mdAfter = page[len(page)-1].id
	}
	var b bytes.Buffer
	b.WriteString(`{"object":"list","data":[`)
	for i, e := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.raw)
	}
	b.WriteString(`],"list_metadata":`)
	b.Write(render(map[string]any{"before": mdBefore, "after": mdAfter}))
	b.WriteString(`}`)
	return response{Status: http.StatusOK, Body: b.Bytes()}
}

// allowDirectory takes a token from the directory's bucket.
func (f *Fake) allowDirectory(dir string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.dirLimit[dir]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(f.cfg.DirectoryUsersRPS), max(int(f.cfg.DirectoryUsersRPS), 1))
		f.dirLimit[dir] = l
	}
	return l.Allow()
}
