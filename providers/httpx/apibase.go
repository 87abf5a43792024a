package httpx

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckAPIBase parses an API base URL and enforces the transport rule: https
// everywhere, plain http only for loopback hosts (127.0.0.0/8, ::1,
// localhost), where a fake or a local proxy listens and nothing crosses a
// network. The returned URL has no trailing slash in its path.
func CheckAPIBase(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("api base %q is not a URL", ShowRawURL(raw))
	}
	shown := ShowURL(u)
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("api base %q has no host; use e.g. https://api.example.com or http://127.0.0.1:12111", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("api base %q must not have a query or fragment", shown)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("api base %q uses plain http:// for a non-loopback host %q; use https:// (plain http is allowed only for 127.0.0.1, ::1 and localhost)", shown, u.Hostname())
		}
	default:
		return nil, fmt.Errorf("api base %q must start with https:// (or http:// for a loopback host)", shown)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// IsLoopback reports whether host (no port) is localhost or a loopback IP.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// redactRaw hides userinfo in a string that did not parse as a URL.
func redactRaw(raw string) string {
	if at := strings.LastIndex(raw, "@"); at >= 0 {
		if i := strings.Index(raw, "://"); i >= 0 && i < at {
			return raw[:i+3] + "xxxxx@" + raw[at+1:]
		}
		return "xxxxx@" + raw[at+1:]
	}
	return raw
}
