package httpx

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// maxRedirects bounds a chain of same-origin redirects.
const maxRedirects = 5

// RedirectError is a redirect reconctl refused to follow. It is a failure of
// the request, reported as such: nothing is sent to the redirect's target.
type RedirectError struct {
	Status int    // the 3xx status
	To     string // the target, without userinfo, query or fragment
	Reason string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("answered HTTP %d redirecting to %s: not followed (%s)", e.Status, e.To, e.Reason)
}

// RedirectPolicy is the CheckRedirect of every provider client: a redirect
// is followed only when it stays on the same origin (scheme, host and port)
// as the request it answers and only for GET and HEAD, so credentials
// (Authorization, a custom key header) never leave the configured host and a
// write is never turned into another request. Anything else is refused with
// a *RedirectError, which the caller reports as the request's failure.
func RedirectPolicy(req *http.Request, via []*http.Request) error {
	prev := via[len(via)-1]
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	refuse := func(reason string) error {
		return &RedirectError{Status: status, To: ShowURL(req.URL), Reason: reason}
	}
	if err := checkTransport(req.URL); err != nil {
		return refuse(err.Error())
	}
	if !sameOrigin(prev.URL, req.URL) {
		return refuse("it leaves " + origin(prev.URL) + "; credentials are never sent to another host; set the API base to the final URL")
	}
	if m := via[0].Method; m != http.MethodGet && m != http.MethodHead {
		return refuse("a " + m + " is never re-sent elsewhere; set the API base to the final URL")
	}
	if len(via) >= maxRedirects {
		return refuse(fmt.Sprintf("more than %d redirects", maxRedirects))
	}
	return nil
}

// NoRedirects is the CheckRedirect of --deliver-to: a webhook endpoint that
// redirects gets nothing re-sent, signed or not; the delivery fails.
func NoRedirects(req *http.Request, via []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	reason := "signed events are sent only to the given URL; point it at the final URL"
	if err := checkTransport(req.URL); err != nil {
		reason = err.Error() + "; " + reason
	} else if !sameOrigin(via[len(via)-1].URL, req.URL) {
		reason = "it leaves " + origin(via[len(via)-1].URL) + "; " + reason
	}
	return &RedirectError{Status: status, To: ShowURL(req.URL), Reason: reason}
}

// checkTransport is CheckAPIBase's scheme rule for a redirect target.
func checkTransport(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("plain http:// to the non-loopback host %q", u.Hostname())
	}
	return fmt.Errorf("scheme %q", u.Scheme)
}

func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

func sameOrigin(a, b *url.URL) bool {
	return origin(a) == origin(b) && a.Port() == b.Port()
}

// ShowURL is u as it may be shown or stored: no userinfo, and a query or
// fragment only as "?…" (a query string may carry a token).
func ShowURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	hidden := c.RawQuery != "" || c.ForceQuery || c.Fragment != ""
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	s := c.String()
	if hidden {
		s += "?…"
	}
	return s
}

// ShowRawURL is ShowURL for a string that may not parse.
func ShowRawURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		s := redactRaw(raw)
		if i := strings.IndexAny(s, "?#"); i >= 0 {
			s = s[:i] + "?…"
		}
		return s
	}
	return ShowURL(u)
}
