package stripefake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/reconctl/reconctl/providers/fakefault"
)

type response = fakefault.Response

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.serveConnect(w, r) {
		return
	}
	f.Serve(w, r, f.answer)
}

func (f *Fake) answer(r *http.Request) response {
	if resp, ok := f.authenticate(r); !ok {
		return resp
	}
	f.mu.Lock()
	failing := false
	if f.errPath == "" || r.URL.Path == f.errPath {
		f.served++
		failing = f.errFrom > 0 && f.served >= f.errFrom
	}
	status := f.errStatus
	f.mu.Unlock()
	if failing {
		return errResp(status, "api_error", "", "An unknown error occurred (injected by stripefake).", "")
	}
	resp := f.route(r)
	f.afterList(r, resp)
	return resp
}

func errResp(status int, typ, code, msg, param string) response {
	e := map[string]any{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
		e["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(code, "_", "-")
	}
	if param != "" {
		e["param"] = param
	}
	return response{Status: status, Body: render(map[string]any{"error": e})}
}

func badRequest(msg, param string) response {
	return errResp(http.StatusBadRequest, "invalid_request_error", "", msg, param)
}

func unknownParam(name string) response {
	return errResp(http.StatusBadRequest, "invalid_request_error", "parameter_unknown",
		"Received unknown parameter: "+name, name)
}

// authenticate accepts "Bearer KEY" and Basic "KEY:" like Stripe.
func (f *Fake) authenticate(r *http.Request) (response, bool) {
	h := r.Header.Get("Authorization")
	var key string
	switch {
	case strings.HasPrefix(h, "Bearer "):
		key = strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	case strings.HasPrefix(h, "Basic "):
		if b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic ")); err == nil {
			key, _, _ = strings.Cut(string(b), ":")
		}
	}
	if key == "" {
		return errResp(http.StatusUnauthorized, "invalid_request_error", "",
			"You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", ""), false
	}
	ok := key == f.apiKey
	if f.apiKey == "" {
		ok = strings.HasPrefix(key, "sk_test_") || strings.HasPrefix(key, "sk_live_") ||
			strings.HasPrefix(key, "rk_test_") || strings.HasPrefix(key, "rk_live_")
	}
	if !ok {
		return errResp(http.StatusUnauthorized, "invalid_request_error", "api_key_invalid",
			"Invalid API Key provided: "+redactKey(key), ""), false
	}
	return response{}, true
}

// redactKey shows what Stripe shows: the prefix and the last four characters.
func redactKey(k string) string {
	if len(k) <= 12 {
		return strings.Repeat("*", len(k))
	}
	return k[:8] + strings.Repeat("*", len(k)-12) + k[len(k)-4:]
}

func (f *Fake) route(r *http.Request) response {
	path := strings.TrimSuffix(r.URL.Path, "/")
	unrecognized := errResp(http.StatusNotFound, "invalid_request_error", "",
		fmt.Sprintf("Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", r.Method, r.URL.Path), "")
	if r.Method != http.MethodGet {
		return unrecognized
	}
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return unrecognized
	}
	res, id, hasID := strings.Cut(rest, "/")
	if strings.Contains(id, "/") || (hasID && id == "") {
		return unrecognized
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("Invalid query string: "+err.Error(), "")
	}
	if res == "test_helpers" && id == "test_clocks" {
		res, hasID = "test_clocks", false
	}
	var c *collection
	switch res {
	case "customers":
		c = f.customers
	case "subscriptions":
		c = f.subscriptions
	case "events":
		c = f.events
	case "test_clocks":
		c = f.testClocks
	default:
		return unrecognized
	}
	if res == "customers" && id == "search" {
		return f.search(q)
	}
	if hasID {
		return f.retrieve(c, id, q)
	}
	return f.list(res, c, q)
}

// ---- parameters ----

type paramKind int

const (
	scalar paramKind = iota
	rangeParam
	arrayParam
)

var listParamSpecs = map[string]map[string]paramKind{
	"customers": {
		"limit": scalar, "starting_after": scalar, "ending_before": scalar, "created": rangeParam,
		"email": scalar, "test_clock": scalar, "expand": arrayParam,
	},
	"subscriptions": {
		"limit": scalar, "starting_after": scalar, "ending_before": scalar, "created": rangeParam,
		"customer": scalar, "customer_account": scalar, "price": scalar, "plan": scalar, "status": scalar,
		"collection_method": scalar, "test_clock": scalar, "current_period_start": rangeParam,
		"current_period_end": rangeParam, "expand": arrayParam,
	},
	"events": {
		"limit": scalar, "starting_after": scalar, "ending_before": scalar, "created": rangeParam,
		"type": scalar, "types": arrayParam, "delivery_success": scalar, "expand": arrayParam,
	},
	"test_clocks": {"limit": scalar, "starting_after": scalar, "ending_before": scalar, "expand": arrayParam},
}

// params is a validated query.
type params struct {
	scalars map[string]string
	arrays  map[string][]string
	ranges  map[string]map[string]int64 // name → op ("eq", "gt", "gte", "lt", "lte") → value
}

// parseParams checks every key against spec the way Stripe does: unknown
// names, wrong shapes and bad integers are 400s.
func parseParams(q url.Values, spec map[string]paramKind) (*params, *response) {
	p := &params{scalars: map[string]string{}, arrays: map[string][]string{}, ranges: map[string]map[string]int64{}}
	type idxVal struct {
		idx int
		val string
	}
	arrays := map[string][]idxVal{}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := q[k]
		base, sub, bracket := k, "", false
		if i := strings.IndexByte(k, '['); i >= 0 {
			if !strings.HasSuffix(k, "]") || strings.Count(k, "[") != 1 {
				r := unknownParam(k)
				return nil, &r
			}
			base, sub, bracket = k[:i], k[i+1:len(k)-1], true
		}
		kind, ok := spec[base]
		if !ok {
			r := unknownParam(k)
			return nil, &r
		}
		switch kind {
		case scalar:
			if bracket {
				r := unknownParam(k)
				return nil, &r
			}
			p.scalars[base] = vals[len(vals)-1]
		case rangeParam:
			op := "eq"
			if bracket {
				switch sub {
				case "gt", "gte", "lt", "lte":
					op = sub
				default:
					r := unknownParam(k)
					return nil, &r
				}
			}
			v, err := strconv.ParseInt(vals[len(vals)-1], 10, 64)
			if err != nil {
				r := badRequest("Invalid integer: "+vals[len(vals)-1], k)
				return nil, &r
			}
			if p.ranges[base] == nil {
				p.ranges[base] = map[string]int64{}
			}
			p.ranges[base][op] = v
		case arrayParam:
			if !bracket {
				r := badRequest("Invalid array", k)
				return nil, &r
			}
			if sub == "" { // types[]=a&types[]=b: in order of appearance
				for _, v := range vals {
					arrays[base] = append(arrays[base], idxVal{idx: 1 << 30, val: v})
				}
				continue
			}
			i, err := strconv.Atoi(sub)
			if err != nil || i < 0 {
				r := unknownParam(k)
				return nil, &r
			}
			arrays[base] = append(arrays[base], idxVal{idx: i, val: vals[len(vals)-1]})
		}
	}
	for name, iv := range arrays {
		sort.SliceStable(iv, func(a, b int) bool { return iv[a].idx < iv[b].idx })
		for _, x := range iv {
			p.arrays[name] = append(p.arrays[name], x.val)
		}
	}
	return p, nil
}

// ---- list ----

var subscriptionStatuses = map[string]bool{
	"active": true, "all": true, "canceled": true, "ended": true, "incomplete": true,
	"incomplete_expired": true, "past_due": true, "paused": true, "trialing": true, "unpaid": true,
}

func (f *Fake) list(res string, c *collection, q url.Values) response {
	p, bad := parseParams(q, listParamSpecs[res])
	if bad != nil {
		return *bad
	}
	limit := 10
	if s, ok := p.scalars["limit"]; ok {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			return badRequest("Invalid integer: "+s, "limit")
		case n < 1:
			return badRequest("This value must be greater than or equal to 1.", "limit")
		case n > 100:
			return badRequest("This value must be less than or equal to 100.", "limit")
		}
		limit = n
	}
	after, hasAfter := p.scalars["starting_after"]
	before, hasBefore := p.scalars["ending_before"]
	if hasAfter && hasBefore {
		return badRequest("You may only specify one of these parameters: ending_before, starting_after.", "ending_before")
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.emptyMore {
		return response{Status: http.StatusOK, Body: fmt.Appendf(nil, `{"object":"list","data":[],"has_more":true,"url":"/v1/%s"}`, res)}
	}
	now := f.Now()
	var match func(*entry) bool
	switch res {
	case "test_clocks":
		if f.testClocksDenied {
			return errResp(http.StatusForbidden, "invalid_request_error", "",
				"The provided key does not have the required permissions for this endpoint. Having the 'rak_test_clock_read' permission would allow this request to continue.", "")
		}
		match = func(*entry) bool { return true }
	case "customers":
		email, byEmail := p.scalars["email"]
		// Customers on a test clock are listed only when test_clock names
		// their clock ("The response will not include customers with test
		// clocks if this parameter is not set": stripe-go v84.4.1
		// CustomerListParams.TestClock).
		clock := p.scalars["test_clock"]
		match = func(e *entry) bool {
			if e.deleted {
				return false
			}
			if c, _ := e.obj["test_clock"].(string); c != clock {
				return false
			}
			if byEmail {
				s, _ := e.obj["email"].(string)
				return s == email
			}
			return true
		}
	case "subscriptions":
		status, hasStatus := p.scalars["status"]
		if hasStatus && !subscriptionStatuses[status] {
			return badRequest("Invalid status: must be one of active, all, canceled, ended, incomplete, incomplete_expired, past_due, paused, trialing, or unpaid", "status")
		}
		cus, byCus := p.scalars["customer"]
		price, byPrice := p.scalars["price"]
		// "The response will not include subscriptions with test clocks if
		// this and the customer parameter is not set" (stripe-go v84.4.1
		// SubscriptionListParams.TestClock).
		clock, byClock := p.scalars["test_clock"]
		match = func(e *entry) bool {
			c, _ := e.obj["test_clock"].(string)
			if byClock && c != clock || !byClock && !byCus && c != "" {
				return false
			}
			st, _ := e.obj["status"].(string)
			switch {
			case !hasStatus:
				if st == "canceled" { // Stripe leaves canceled out unless asked
					return false
				}
			case status == "all":
			case status == "ended":
				if st != "canceled" && st != "incomplete_expired" {
					return false
				}
			default:
				if st != status {
					return false
				}
			}
			if byCus && e.obj["customer"] != cus {
				return false
			}
			if byPrice && !hasPrice(e.obj, price) {
				return false
			}
			return true
		}
	case "events":
		typ, hasType := p.scalars["type"]
		types, hasTypes := p.arrays["types"]
		if hasType && hasTypes {
			return badRequest("You may only specify one of these parameters: type, types.", "types")
		}
		if len(types) > 20 {
			return badRequest("You may specify at most 20 event types.", "types")
		}
		set := map[string]bool{}
		for _, t := range types {
			set[t] = true
		}
		ds, hasDS := p.scalars["delivery_success"]
		if hasDS && ds != "true" && ds != "false" {
			return badRequest("Invalid boolean: "+ds, "delivery_success")
		}
		oldest := now.Add(-Retention).Unix()
		match = func(e *entry) bool {
			if e.created < oldest {
				return false
			}
			if hasDS && ds == "false" { // every fake delivery succeeded
				return false
			}
			if hasType && !typeMatches(typ, e.etype) {
				return false
			}
			if hasTypes && !set[e.etype] {
				return false
			}
			return true
		}
	}

	c.SortIfNeeded()
	s := c.Sorted
	lo, hi := 0, len(s)
	first := func(pred func(*entry) bool) int { return sort.Search(len(s), func(i int) bool { return pred(s[i]) }) }
	for op, v := range p.ranges["created"] {
		switch op {
		case "eq":
			lo = max(lo, first(func(e *entry) bool { return e.created >= v }))
			hi = min(hi, first(func(e *entry) bool { return e.created > v }))
		case "gt":
			lo = max(lo, first(func(e *entry) bool { return e.created > v }))
		case "gte":
			lo = max(lo, first(func(e *entry) bool { return e.created >= v }))
		case "lt":
			hi = min(hi, first(func(e *entry) bool { return e.created >= v }))
		case "lte":
			hi = min(hi, first(func(e *entry) bool { return e.created > v }))
		}
	}
	cursorPos := func(id, param string) (int, *response) {
		e := c.ByID[id]
		if e == nil || (e.deleted && f.rejectDeleted) {
			// Stripe answers an unknown or forgotten cursor with 400, not
			// 404 (stripe-go issue #1030).
			r := errResp(http.StatusBadRequest, "invalid_request_error", "resource_missing",
				fmt.Sprintf("No such %s: '%s'", c.kind, id), param)
			return 0, &r
		}
		return first(func(x *entry) bool { return !less(x, e) }), nil
	}
	// List order is newest first over s[lo:hi]; the cursor bounds it.
	bound, forward := 0, true
	if hasBefore {
		pos, bad := cursorPos(before, "ending_before")
		if bad != nil {
			return *bad
		}
		bound, forward = hi-max(lo, pos+1), false
	} else if hasAfter {
		pos, bad := cursorPos(after, "starting_after")
		if bad != nil {
			return *bad
		}
		hi = min(hi, pos)
	}
	pg := fakefault.CursorPage(max(hi-lo, 0), func(k int) *entry { return s[hi-1-k] }, match, bound, limit, forward)
	items, hasMore := pg.Items, pg.MoreAfter
	if !forward {
		hasMore = pg.MoreBefore
	}

	var b bytes.Buffer
	size := 100
	for _, e := range items {
		size += len(e.raw) + 1
	}
	b.Grow(size)
	b.WriteString(`{"object":"list","data":[`)
	for i, e := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.raw)
	}
	urlPath := "/v1/" + res
	if res == "test_clocks" {
		urlPath = "/v1/test_helpers/test_clocks"
	}
	fmt.Fprintf(&b, `],"has_more":%t,"url":%q}`, hasMore, urlPath)
	return response{Status: http.StatusOK, Body: b.Bytes()}
}

func typeMatches(pattern, typ string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(typ, prefix)
	}
	return pattern == typ
}

func hasPrice(sub map[string]any, price string) bool {
	items, _ := sub["items"].(map[string]any)
	data, _ := items["data"].([]any)
	for _, it := range data {
		m, _ := it.(map[string]any)
		pr, _ := m["price"].(map[string]any)
		if pr["id"] == price {
			return true
		}
	}
	return false
}

// ---- retrieve ----

func (f *Fake) retrieve(c *collection, id string, q url.Values) response {
	if _, bad := parseParams(q, map[string]paramKind{"expand": arrayParam}); bad != nil {
		return *bad
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Forbidden(id) {
		return errResp(http.StatusForbidden, "invalid_request_error", "",
			fmt.Sprintf("The provided key does not have access to %s '%s'. Having the 'rak_%s_read' permission would allow this request to continue.", c.kind, id, c.kind), "")
	}
	e := c.ByID[id]
	if e != nil && c == f.events && e.created < f.Now().Add(-Retention).Unix() {
		e = nil // pruned after 30 days
	}
	if e == nil {
		return errResp(http.StatusNotFound, "invalid_request_error", "resource_missing",
			fmt.Sprintf("No such %s: '%s'", c.kind, id), "id")
	}
	if e.deleted {
		body, _ := json.Marshal(map[string]any{"id": e.id, "object": c.kind, "deleted": true})
		return response{Status: http.StatusOK, Body: body}
	}
	return response{Status: http.StatusOK, Body: e.raw}
}

// ---- search ----

// search serves GET /v1/customers/search for the one query shape reconctl
// sends, a single email clause: email~"…" (substring, at least 3
// characters) or email:"…" (exact); both ignore case here. The answer is a
// search_result paged by next_page (Stripe API reference, Search customers).
// Other queries are a 400, as a query Stripe cannot parse is.
func (f *Fake) search(q url.Values) response {
	p, bad := parseParams(q, map[string]paramKind{"query": scalar, "limit": scalar, "page": scalar, "expand": arrayParam})
	if bad != nil {
		return *bad
	}
	query, ok := p.scalars["query"]
	if !ok {
		return badRequest("Missing required param: query.", "query")
	}
	field, op, val, ok := parseSearchClause(query)
	if !ok || field != "email" {
		return badRequest("stripefake understands only a single email clause (email~\"…\" or email:\"…\"), not: "+query, "query")
	}
	if op == "~" && len(val) < 3 {
		return badRequest("Substring matching requires at least 3 characters.", "query")
	}
	limit := 10
	if s, ok := p.scalars["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return badRequest("Invalid limit: must be an integer between 1 and 100.", "limit")
		}
		limit = n
	}
	offset := 0
	if pg, ok := p.scalars["page"]; ok {
		n, err := strconv.Atoi(strings.TrimPrefix(pg, "page_"))
		if err != nil || !strings.HasPrefix(pg, "page_") || n < 0 {
			return badRequest("Invalid page: "+pg, "page")
		}
		offset = n
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.customers
	c.SortIfNeeded()
	var hits []*entry
	want := strings.ToLower(val)
	for i := len(c.Sorted) - 1; i >= 0; i-- {
		e := c.Sorted[i]
		em, _ := e.obj["email"].(string)
		em = strings.ToLower(em)
		if e.deleted || (op == "~" && !strings.Contains(em, want)) || (op == ":" && em != want) {
			continue
		}
		hits = append(hits, e)
	}
	end := min(offset+limit, len(hits))
	page := hits[min(offset, len(hits)):end]
	var b bytes.Buffer
	b.WriteString(`{"object":"search_result","data":[`)
	for i, e := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.raw)
	}
	next := "null"
	if end < len(hits) {
		next = fmt.Sprintf(`"page_%d"`, end)
	}
	fmt.Fprintf(&b, `],"has_more":%t,"next_page":%s,"url":"/v1/customers/search"}`, end < len(hits), next)
	return response{Status: http.StatusOK, Body: b.Bytes()}
}

// parseSearchClause splits `field~"value"` or `field:"value"` (a backslash
// escapes a quote or backslash inside the value).
func parseSearchClause(q string) (field, op, val string, ok bool) {
	q = strings.TrimSpace(q)
	i := strings.IndexAny(q, "~:")
	if i <= 0 || len(q) < i+3 || q[i+1] != '"' || q[len(q)-1] != '"' {
		return "", "", "", false
	}
	field, op = q[:i], q[i:i+1]
	raw := q[i+2 : len(q)-1]
	var sb strings.Builder
	for j := 0; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			if j+1 == len(raw) {
				return "", "", "", false
			}
			j++
			sb.WriteByte(raw[j])
		case '"':
			return "", "", "", false
		default:
			sb.WriteByte(raw[j])
		}
	}
	return field, op, sb.String(), true
}
