package restfake

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/providers/fakefault"
)

type response = fakefault.Response

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Serve(w, r, f.answer)
}

func jsonErr(status int, code, msg string) response {
	return response{Status: status, Body: render(map[string]any{"error": code, "message": msg})}
}

func (f *Fake) answer(r *http.Request) response {
	if f.cfg.APIKey != "" {
		got, ok := strings.CutPrefix(r.Header.Get(f.cfg.AuthHeader), f.cfg.AuthPrefix)
		if f.cfg.AuthQueryParam != "" {
			got, ok = r.URL.Query().Get(f.cfg.AuthQueryParam), true
		}
		if !ok || got != f.cfg.APIKey {
			return jsonErr(http.StatusUnauthorized, "unauthorized", "Missing or invalid API key")
		}
	}
	if r.Method != http.MethodGet {
		return jsonErr(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not supported")
	}
	segs := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return jsonErr(http.StatusBadRequest, "bad_request", "Invalid query string")
	}
	switch {
	case len(segs) == 1 && segs[0] == "events":
		return f.list(r, nil, q)
	case len(segs) == 1 && segs[0] != "":
		f.mu.Lock()
		c := f.colls[segs[0]]
		f.mu.Unlock()
		if c == nil {
			c = newCollection() // an unknown collection is empty
		}
		return f.list(r, c, q)
	case len(segs) == 2 && segs[0] != "events":
		id, err := url.PathUnescape(segs[1])
		if err != nil {
			return jsonErr(http.StatusBadRequest, "bad_request", "Invalid id")
		}
		return f.retrieve(segs[0], id)
	}
	return jsonErr(http.StatusNotFound, "not_found", "No route "+r.URL.Path)
}

func (f *Fake) retrieve(resource, id string) response {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Forbidden(id) {
		return jsonErr(http.StatusForbidden, "forbidden", "You may not read "+resource+" "+id)
	}
	c := f.colls[resource]
	var e *entry
	if c != nil {
		e = c.ByID[id]
	}
	if e == nil || e.deleted && !f.cfg.SoftDelete {
		return jsonErr(http.StatusNotFound, "not_found", fmt.Sprintf("No %s with id %s", singular(resource), id))
	}
	body := e.raw
	if e.deleted {
		body = render(map[string]any{"id": e.obj["id"], "deleted": true})
	}
	if f.cfg.WrapGet {
		var b bytes.Buffer
		b.WriteString(`{"data":`)
		b.Write(body)
		b.WriteString(`}`)
		body = b.Bytes()
	}
	return response{Status: http.StatusOK, Body: body}
}

// limitParam reads a page size: below 1 is a 400, above MaxLimit is
// silently capped (the page is simply shorter than asked for).
func (f *Fake) limitParam(q url.Values, name string) (int, *response) {
	n, bad := intParam(q, name, f.cfg.DefaultLimit, 1, 1<<30)
	return min(n, f.cfg.MaxLimit), bad
}

// windowParam reads since/until in the fake's WindowFormat.
func (f *Fake) windowParam(name, s string) (time.Time, *response) {
	bad := func(want string) (time.Time, *response) {
		r := jsonErr(http.StatusBadRequest, "invalid_parameter", name+" must be "+want)
		return time.Time{}, &r
	}
	switch f.cfg.WindowFormat {
	case "unix", "unix_ms":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return bad(f.cfg.WindowFormat + " (an integer)")
		}
		if f.cfg.WindowFormat == "unix" {
			return time.Unix(n, 0), nil
		}
		return time.UnixMilli(n), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return bad("RFC 3339")
	}
	return t, nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, *response) {
	if !q.Has(name) {
		return def, nil
	}
	n, err := strconv.Atoi(q.Get(name))
	if err != nil || n < lo || n > hi {
		r := jsonErr(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("%s must be an integer from %d to %d", name, lo, hi))
		return 0, &r
	}
	return n, nil
}

// list serves a collection (c) or, with c nil, the events.
func (f *Fake) list(r *http.Request, c *collection, q url.Values) response {
	isEvents := c == nil
	var match func(*entry) bool
	if isEvents {
		var since, until time.Time
		for _, p := range []struct {
			name string
			t    *time.Time
		}{{"since", &since}, {"until", &until}} {
			if s := q.Get(p.name); s != "" {
				t, bad := f.windowParam(p.name, s)
				if bad != nil {
					return *bad
				}
				*p.t = t
			}
		}
		types := q["types"]
		if f.cfg.TypesComma && len(types) > 0 {
			types = strings.Split(types[0], ",")
		}
		match = func(e *entry) bool {
			return (since.IsZero() || !e.created.Before(since)) && (until.IsZero() || e.created.Before(until)) &&
				(len(types) == 0 || slices.Contains(types, e.etype))
		}
	} else {
		email, byEmail := strings.ToLower(q.Get("email")), q.Has("email")
		var after time.Time
		if s := q.Get("updated_after"); s != "" && f.cfg.UpdatedAfter {
			var err error
			if f.cfg.UnixTimes {
				var n int64
				n, err = strconv.ParseInt(s, 10, 64)
				after = time.Unix(n, 0)
			} else {
				after, err = time.Parse(time.RFC3339Nano, s)
			}
			if err != nil {
				return jsonErr(http.StatusBadRequest, "invalid_parameter", "updated_after is not a valid time")
			}
		}
		match = func(e *entry) bool {
			if e.deleted {
				return false
			}
			if !after.IsZero() && e.updated().Before(after) {
				return false
			}
			if byEmail {
				s, _ := e.obj["email"].(string)
				return strings.ToLower(s) == email
			}
			return true
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if isEvents {
		c = f.events
	}
	c.SortIfNeeded()
	var hits []*entry
	for _, e := range c.Sorted {
		if match(e) {
			hits = append(hits, e)
		}
	}
	var page []*entry
	meta := map[string]any{}
	var link, nextURL string
	switch f.cfg.Style {
	case None:
		page = hits
	case Cursor, NextURL:
		limit, bad := f.limitParam(q, "limit")
		if bad != nil {
			return *bad
		}
		cparam := "cursor"
		if f.cfg.Style == NextURL {
			cparam = "skiptoken"
		}
		start := 0
		if cur := q.Get(cparam); cur != "" {
			id, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(cur, "c_"))
			e := c.ByID[string(id)]
			if err != nil || !strings.HasPrefix(cur, "c_") || e == nil {
				return jsonErr(http.StatusBadRequest, "invalid_cursor", "The cursor is not valid")
			}
			// Positions by sort order, so a deleted cursor object still works.
			start = sort.Search(len(hits), func(i int) bool { return cmpEntry(hits[i], e) > 0 })
		}
		pg := fakefault.CursorPage(len(hits), func(k int) *entry { return hits[k] }, func(*entry) bool { return true }, start, limit, true)
		page = pg.Items
		more := pg.MoreAfter
		next := ""
		if more {
			next = "c_" + base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].id))
		}
		if f.cfg.Style == NextURL {
			if more {
				nq := url.Values{}
				for k, v := range q {
					nq[k] = v
				}
				nq.Set("skiptoken", next)
				nextURL = "http://" + r.Host + r.URL.Path + "?" + nq.Encode()
			}
			break
		}
		if n := f.cfg.EmptyPageAfter; n > 0 && start >= n && start < len(hits) && start > 0 {
			// The misbehaving page: no data, but more claimed.
			page, more = nil, true
			next = "c_" + base64.RawURLEncoding.EncodeToString([]byte(hits[start-1].id))
		}
		meta["has_more"] = more
		meta["next_cursor"] = nil
		if more {
			meta["next_cursor"] = next
		}
	case Page, Link:
		per, bad := f.limitParam(q, "per_page")
		if bad != nil {
			return *bad
		}
		p, bad := intParam(q, "page", 1, 1, 1<<30)
		if bad != nil {
			return *bad
		}
		start := min((p-1)*per, len(hits))
		page = hits[start:min(start+per, len(hits))]
		if f.cfg.Style == Page {
			meta["page"], meta["per_page"], meta["total"] = p, per, len(hits)
			break
		}
		last := max((len(hits)+per-1)/per, 1)
		mk := func(n int) string {
			nq := url.Values{}
			for k, v := range q {
				nq[k] = v
			}
			nq.Set("page", strconv.Itoa(n))
			nq.Set("per_page", strconv.Itoa(per))
			u := r.URL.Path + "?" + nq.Encode()
			if f.cfg.LinkAbsolute {
				u = "http://" + r.Host + u
			}
			return u
		}
		parts := []string{fmt.Sprintf(`<%s>; rel="first"`, mk(1))}
		if p < last {
			parts = append(parts, fmt.Sprintf(`<%s>; rel="next"`, mk(p+1)))
		}
		if p > 1 {
			parts = append(parts, fmt.Sprintf(`<%s>; rel="prev"`, mk(p-1)))
		}
		parts = append(parts, fmt.Sprintf(`<%s>; rel="last"`, mk(last)))
		link = strings.Join(parts, ", ")
	case Offset:
		limit, bad := f.limitParam(q, "limit")
		if bad != nil {
			return *bad
		}
		off, bad := intParam(q, "offset", 0, 0, 1<<40)
		if bad != nil {
			return *bad
		}
		start := min(off, len(hits))
		page = hits[start:min(start+limit, len(hits))]
		meta["offset"], meta["limit"], meta["total"] = off, limit, len(hits)
	}

	var b bytes.Buffer
	if !f.cfg.BareArray {
		b.WriteString(`{"data":`)
	}
	b.WriteByte('[')
	for i, e := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.raw)
	}
	b.WriteByte(']')
	if !f.cfg.BareArray {
		if len(meta) > 0 {
			b.WriteString(`,"meta":`)
			b.Write(render(meta))
		}
		if nextURL != "" {
			b.WriteString(`,"@odata.nextLink":`)
			b.Write(render(nextURL))
		}
		b.WriteByte('}')
	}
	resp := response{Status: http.StatusOK, Body: b.Bytes()}
	if link != "" {
		resp.Header = http.Header{"Link": {link}}
	}
	return resp
}
