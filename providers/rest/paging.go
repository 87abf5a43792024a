package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/reconctl/reconctl/providers"
)

// walk reads every page of a list and hands each item (raw JSON) to each.
// what names the listing in errors ("rest users", "rest events").
func (p *Provider) walk(ctx context.Context, what, path string, query url.Values, itemsPath string, pg Pagination,
	each func(json.RawMessage) error) error {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	page, offset, received := pg.FirstPage, 0, 0
	switch pg.Style {
	case StyleCursor, StyleLink, StyleNextURL:
		if pg.LimitParam != "" {
			q.Set(pg.LimitParam, strconv.Itoa(pg.Limit))
		}
	case StylePage:
		q.Set(pg.PageParam, strconv.Itoa(page))
		if pg.PerPageParam != "" {
			q.Set(pg.PerPageParam, strconv.Itoa(pg.PerPage))
		}
	case StyleOffset:
		q.Set(pg.OffsetParam, "0")
		if pg.LimitParam != "" {
			q.Set(pg.LimitParam, strconv.Itoa(pg.Limit))
		}
	}
	u, err := p.resolve(path, q)
	if err != nil {
		return fmt.Errorf("listing %s: %w", what, err)
	}
	cursor := ""
	// Loop guards over the whole listing, not only the page before: a
	// server cycling cursors A→B→A (or next URLs) with different items each
	// time would otherwise be followed until a deadline, its repeats skipped
	// silently.
	guard := newLoopGuard(u.String())
	for pageNo := 1; ; pageNo++ {
		where := describePage(pg, pageNo, cursor, page, offset, u)
		resp, body, err := p.get(ctx, u)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = p.apiError(resp, body)
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("listing %s: %w", what, context.Cause(ctx))
			}
			var ae *providers.AuthError
			if errors.As(err, &ae) {
				return err
			}
			return fmt.Errorf("listing %s failed at page %d (%s): %w", what, pageNo, where, err)
		}
		items, err := itemsAt(body, itemsPath)
		if err != nil {
			return fmt.Errorf("listing %s, page %d (%s): %w", what, pageNo, where, err)
		}
		if err := guard.page(items, pageNo); err != nil {
			return fmt.Errorf("listing %s: page %d (%s) %w", what, pageNo, where, err)
		}
		received += len(items)
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("listing %s: %w", what, context.Cause(ctx))
			}
			if err := each(it); err != nil {
				var ie *itemError
				if errors.As(err, &ie) {
					return fmt.Errorf("listing %s, page %d: %w", what, pageNo, err)
				}
				return err
			}
		}
		next := url.Values{}
		for k, v := range u.Query() {
			next[k] = v
		}
		switch pg.Style {
		case StyleNone, "":
			return nil
		case StyleCursor:
			if len(items) == 0 {
				// An empty page is the end only if it does not claim more
				// (has_more_path true, or else a next cursor): taking it for
				// the end would make every later record look deleted.
				if emptyClaimsMore(body, pg) {
					return fmt.Errorf("listing %s failed at page %d (%s): the API answered has_more: true (or a next cursor) with no data; stopping rather than reporting a partial listing as complete", what, pageNo, where)
				}
				return nil
			}
			if pg.HasMorePath != "" {
				if v, ok, _ := valueAt(body, pg.HasMorePath); ok && v == false {
					return nil
				}
			}
			v, _, err := valueAt(body, pg.NextPath)
			if err != nil {
				return fmt.Errorf("listing %s, page %d: next_path %q: %w", what, pageNo, pg.NextPath, err)
			}
			c := scalarString(v)
			if c == "" {
				return nil // null, "", false or absent: the end
			}
			if at, seen := guard.cursors[c]; seen {
				return fmt.Errorf("listing %s: the API repeated the cursor %q at page %d (first given at page %d); stopping instead of looping", what, c, pageNo, at)
			}
			guard.cursors[c] = pageNo
			cursor = c
			next.Set(pg.Param, c)
		// Page and offset paging end only on an explicit signal: an empty
		// page, or total_path's total reached. A page shorter than asked
		// for is NOT the end: many APIs cap per_page/limit below the
		// request without saying so, and stopping there would make every
		// later record look deleted.
		case StylePage:
			if len(items) == 0 {
				return nil
			}
			if done, err := totalReached(body, pg, received); err != nil {
				return fmt.Errorf("listing %s, page %d: %w", what, pageNo, err)
			} else if done {
				return nil
			}
			page++
			next.Set(pg.PageParam, strconv.Itoa(page))
		case StyleOffset:
			if len(items) == 0 {
				return nil
			}
			offset += len(items)
			if done, err := totalReached(body, pg, offset); err != nil {
				return fmt.Errorf("listing %s, page %d: %w", what, pageNo, err)
			} else if done {
				return nil
			}
			next.Set(pg.OffsetParam, strconv.Itoa(offset))
		case StyleNextURL:
			if len(items) == 0 {
				return nil
			}
			v, _, err := valueAt(body, pg.NextURLPath)
			if err != nil {
				return fmt.Errorf("listing %s, page %d: next_url_path %q: %w", what, pageNo, pg.NextURLPath, err)
			}
			target := scalarString(v)
			if target == "" {
				return nil // null, "" or absent: the end
			}
			nu, err := p.followable(u, target, what, pageNo, "next_url_path")
			if err != nil {
				return err
			}
			if err := guard.url(nu, pageNo); err != nil {
				return fmt.Errorf("listing %s: next_url_path %w", what, err)
			}
			u = nu
			continue
		case StyleLink:
			target, ok := nextLink(resp.Header.Values("Link"))
			if !ok {
				return nil
			}
			nu, err := p.followable(u, target, what, pageNo, "Link rel=next")
			if err != nil {
				return err
			}
			if err := guard.url(nu, pageNo); err != nil {
				return fmt.Errorf("listing %s: Link rel=next %w", what, err)
			}
			u = nu
			continue
		}
		u.RawQuery = next.Encode()
	}
}

// staleLimit is how many consecutive non-empty pages may bring no record
// not already seen before the listing fails.
const staleLimit = 3

// loopGuard remembers every cursor, next URL and page signature seen
// during one listing, and every item (by hash).
type loopGuard struct {
	seed    maphash.Seed
	cursors map[string]int    // cursor → page that gave it
	urls    map[string]int    // page URL → page number it was read as
	pages   map[[2]uint64]int // (first item, last item) → page number
	items   map[uint64]struct{}
	stale   int // consecutive pages with nothing new
}

func newLoopGuard(first string) *loopGuard {
	return &loopGuard{seed: maphash.MakeSeed(), cursors: map[string]int{}, urls: map[string]int{first: 1},
		pages: map[[2]uint64]int{}, items: map[uint64]struct{}{}}
}

// url records the next page's URL, failing if the listing read it before.
func (g *loopGuard) url(nu *url.URL, pageNo int) error {
	s := nu.String()
	if at, seen := g.urls[s]; seen {
		if at == pageNo {
			return fmt.Errorf("points at the same page (page %d); stopping instead of looping", pageNo)
		}
		return fmt.Errorf("at page %d points at a page already read (page %d, %s); stopping instead of looping", pageNo, at, nu.Path)
	}
	g.urls[s] = pageNo + 1
	return nil
}

// page checks a page's items against the listing so far.
func (g *loopGuard) page(items []json.RawMessage, pageNo int) error {
	if len(items) == 0 {
		return nil
	}
	sig := [2]uint64{maphash.Bytes(g.seed, items[0]), maphash.Bytes(g.seed, items[len(items)-1])}
	if at, seen := g.pages[sig]; seen {
		if at == pageNo-1 {
			// The API ignored the paging parameter: stop rather than loop.
			return errors.New("repeats the page before it; the API seems to ignore the pagination parameters")
		}
		return fmt.Errorf("repeats page %d; the API seems to be paging in a loop", at)
	}
	g.pages[sig] = pageNo
	fresh := false
	for _, it := range items {
		h := maphash.Bytes(g.seed, it)
		if _, seen := g.items[h]; !seen {
			g.items[h] = struct{}{}
			fresh = true
		}
	}
	if fresh {
		g.stale = 0
		return nil
	}
	if g.stale++; g.stale >= staleLimit {
		return fmt.Errorf("is the %d. page in a row with no record not already seen; the API seems to be paging in a loop", g.stale)
	}
	return nil
}

// followable resolves a next-page URL given by the API (relative references
// resolve against the current page) and refuses another host, where the
// API key would go.
func (p *Provider) followable(u *url.URL, target, what string, pageNo int, from string) (*url.URL, error) {
	nu, err := u.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("listing %s, page %d: bad %s URL: %w", what, pageNo, from, err)
	}
	if !strings.EqualFold(nu.Scheme, p.base.Scheme) || !strings.EqualFold(nu.Host, p.base.Host) {
		return nil, fmt.Errorf("listing %s, page %d: refusing to follow %s to %s://%s: it is not the API's host %s (the API key would go there)",
			what, pageNo, from, nu.Scheme, nu.Host, p.base.Host)
	}
	return nu, nil
}

// totalReached reports whether n records reach the total at total_path
// (false when no total_path is configured).
func totalReached(body []byte, pg Pagination, n int) (bool, error) {
	if pg.TotalPath == "" {
		return false, nil
	}
	v, ok, err := valueAt(body, pg.TotalPath)
	if err != nil || !ok || v == nil {
		return false, fmt.Errorf("no total at total_path %q in the answer", pg.TotalPath)
	}
	num, isNum := v.(json.Number)
	total, err := strconv.ParseInt(string(num), 10, 64)
	if !isNum || err != nil || total < 0 {
		return false, fmt.Errorf("total_path %q holds %v, not a whole number", pg.TotalPath, v)
	}
	return int64(n) >= total, nil
}

// itemError is a bad item (no id, not an object): it names the page.
type itemError struct{ err error }

func (e *itemError) Error() string { return e.err.Error() }
func (e *itemError) Unwrap() error { return e.err }

func describePage(pg Pagination, pageNo int, cursor string, page, offset int, u *url.URL) string {
	switch pg.Style {
	case StyleCursor:
		if cursor == "" {
			return "first page"
		}
		return pg.Param + "=" + cursor
	case StylePage:
		return fmt.Sprintf("%s=%d", pg.PageParam, page)
	case StyleOffset:
		return fmt.Sprintf("%s=%d", pg.OffsetParam, offset)
	case StyleLink, StyleNextURL:
		if pageNo == 1 {
			return "first page"
		}
		return "next page " + u.Path
	}
	return "single page"
}

// nextLink finds the rel="next" target in Link header values (RFC 8288):
// `<https://api.example.com/users?page=2>; rel="next", <…>; rel="last"`.
// rel may hold several space-separated types and may be unquoted.
func nextLink(values []string) (string, bool) {
	for _, v := range values {
		s := v
		for {
			s = strings.TrimLeft(s, " \t,")
			if !strings.HasPrefix(s, "<") {
				break
			}
			end := strings.IndexByte(s, '>')
			if end < 0 {
				break
			}
			target := s[1:end]
			s = s[end+1:]
			// Parameters up to the next comma outside quotes.
			isNext := false
			for {
				s = strings.TrimLeft(s, " \t")
				if !strings.HasPrefix(s, ";") {
					break
				}
				s = strings.TrimLeft(s[1:], " \t")
				eq := strings.IndexAny(s, "=;,")
				if eq < 0 || s[eq] != '=' {
					// A parameter without a value.
					if eq < 0 {
						s = ""
					} else {
						s = s[eq:]
					}
					continue
				}
				name := strings.ToLower(strings.TrimSpace(s[:eq]))
				s = strings.TrimLeft(s[eq+1:], " \t")
				var val string
				if strings.HasPrefix(s, `"`) {
					i := 1
					var b strings.Builder
					for ; i < len(s) && s[i] != '"'; i++ {
						if s[i] == '\\' && i+1 < len(s) {
							i++
						}
						b.WriteByte(s[i])
					}
					val = b.String()
					if i < len(s) {
						i++
					}
					s = s[i:]
				} else {
					j := strings.IndexAny(s, ";,")
					if j < 0 {
						j = len(s)
					}
					val = strings.TrimSpace(s[:j])
					s = s[j:]
				}
				if name == "rel" {
					for _, r := range strings.Fields(strings.ToLower(val)) {
						if r == "next" {
							isNext = true
						}
					}
				}
			}
			if isNext {
				return target, true
			}
		}
	}
	return "", false
}

// rawAt returns the raw JSON at a dot path ("" = raw itself). A key that
// itself contains dots (OData's "@odata.nextLink") is found as written: at
// each object the longest run of the remaining segments that is a key wins
// (see keyAt).
func rawAt(raw []byte, path string) (json.RawMessage, bool, error) {
	cur := json.RawMessage(bytes.TrimSpace(raw))
	if path == "" {
		return cur, len(cur) > 0, nil
	}
	segs := strings.Split(path, ".")
	for len(segs) > 0 {
		switch {
		case len(cur) > 0 && cur[0] == '{':
			var m map[string]json.RawMessage
			if err := json.Unmarshal(cur, &m); err != nil {
				return nil, false, err
			}
			n := keyAt(segs, func(k string) bool { _, ok := m[k]; return ok })
			if n == 0 {
				return nil, false, nil
			}
			cur = m[strings.Join(segs[:n], ".")]
			segs = segs[n:]
		case len(cur) > 0 && cur[0] == '[':
			i, err := strconv.Atoi(segs[0])
			if err != nil {
				return nil, false, nil
			}
			var a []json.RawMessage
			if err := json.Unmarshal(cur, &a); err != nil {
				return nil, false, err
			}
			if i < 0 || i >= len(a) {
				return nil, false, nil
			}
			cur = a[i]
			segs = segs[1:]
		default:
			return nil, false, nil
		}
	}
	return cur, true, nil
}

// keyAt returns how many of segs, joined by dots, form the longest key that
// has reports present (0: none).
func keyAt(segs []string, has func(string) bool) int {
	for n := len(segs); n >= 1; n-- {
		if has(strings.Join(segs[:n], ".")) {
			return n
		}
	}
	return 0
}

// valueAt decodes the value at a dot path (numbers as json.Number).
func valueAt(raw []byte, path string) (any, bool, error) {
	r, ok, err := rawAt(raw, path)
	if err != nil || !ok {
		return nil, ok, err
	}
	d := json.NewDecoder(bytes.NewReader(r))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// itemsAt returns the array at itemsPath. Anything else (an object, a
// proxy's HTML page) is an error, never an empty listing.
func itemsAt(body []byte, itemsPath string) ([]json.RawMessage, error) {
	r, ok, err := rawAt(body, itemsPath)
	if err != nil {
		return nil, fmt.Errorf("the answer is not JSON: %w", err)
	}
	shown := itemsPath
	if shown == "" {
		shown = "the body"
	} else {
		shown = "items_path " + strconv.Quote(shown)
	}
	if !ok || len(r) == 0 || r[0] != '[' {
		return nil, fmt.Errorf("no JSON array at %s", shown)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(r, &items); err != nil {
		return nil, fmt.Errorf("decoding the array at %s: %w", shown, err)
	}
	return items, nil
}

// lookup follows a dot path through decoded JSON (keys with dots as in
// rawAt).
func lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	segs := strings.Split(path, ".")
	for len(segs) > 0 {
		switch x := v.(type) {
		case map[string]any:
			n := keyAt(segs, func(k string) bool { _, ok := x[k]; return ok })
			if n == 0 {
				return nil, false
			}
			v = x[strings.Join(segs[:n], ".")]
			segs = segs[n:]
		case []any:
			i, err := strconv.Atoi(segs[0])
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
			segs = segs[1:]
		default:
			return nil, false
		}
	}
	return v, true
}

// emptyClaimsMore reports whether an empty cursor page still says more
// records follow: has_more_path true when configured and present, else a
// non-empty next cursor.
func emptyClaimsMore(body []byte, pg Pagination) bool {
	if pg.HasMorePath != "" {
		if v, ok, _ := valueAt(body, pg.HasMorePath); ok {
			return v == true
		}
	}
	v, _, err := valueAt(body, pg.NextPath)
	return err == nil && scalarString(v) != ""
}
