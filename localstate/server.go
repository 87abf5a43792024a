package localstate

import (
	"net/url"
	"strings"
)

// Server stores (issue #14) are registered by scheme: postgres.go and
// mysql.go open them, their journal is in their own database and their
// writer lock is the server's (serverlock.go).

// redactURL masks the password of a URL-style DSN: postgres://app:***@db/app.
// A DSN that does not parse is shown as its scheme only, so a password in it
// never leaks.
func redactURL(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		if s := Scheme(loc); s != "" {
			return s + "://***"
		}
		return "***"
	}
	// Both places are masked: a DSN may carry the password as user:pw@
	// and as ?password= at once.
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	s := u.String()
	if u.User != nil {
		s = replaceOnce(s, ":xxxxx@", ":***@")
	}
	for strings.Contains(s, "password=xxxxx") {
		s = replaceOnce(s, "password=xxxxx", "password=***")
	}
	return s
}

func replaceOnce(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

func init() {
	// Open comes from each server's own file (postgres.go, mysql.go); the
	// journal place and the server lock are shared by both.
	Register(Backend{Name: "postgres", Title: "a PostgreSQL database", Schemes: []string{"postgres", "postgresql"}, Open: openPostgres, Redact: redactURL,
		Journal: InStateJournal, Lock: LockServer})
	Register(Backend{Name: "mysql", Title: "a MySQL database", Schemes: []string{"mysql"}, Open: openMySQL, Redact: redactURL,
		Journal: InStateJournal, Lock: LockServer})
}

// HasPassword reports whether a server location carries a password in it
// (user:password@ or ?password=): accepted, but visible to anyone who can
// read the command line or the config file.
func HasPassword(location string) bool {
	if IsFile(location) {
		return false
	}
	u, err := url.Parse(location)
	if err != nil {
		return true // unparsable: assume the worst, it is redacted anyway
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			return true
		}
	}
	return u.Query().Has("password")
}
