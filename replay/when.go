package replay

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseWhen parses a <when> (contract): RFC 3339, a date (UTC midnight), a
// duration back from now (36h, 90m, 7d), or unix seconds. "last" is resolved
// by the caller from the journal's checkpoint.
func ParseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time: use RFC 3339 (2026-11-20T10:00:00Z), a date (2026-11-20), a duration back from now (36h, 90m, 7d), unix seconds, or last")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return time.Unix(n, 0).UTC(), nil
	}
	if d, ok := parseAgo(s); ok {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("cannot read time %q: use RFC 3339 (2026-11-20T10:00:00Z), a date (2026-11-20), a duration back from now (36h, 90m, 7d), unix seconds, or last", s)
}

// parseAgo reads Go durations plus a day unit ("7d", "1d12h").
func parseAgo(s string) (time.Duration, bool) {
	var total time.Duration
	rest := s
	if i := strings.Index(rest, "d"); i > 0 {
		days, err := strconv.Atoi(rest[:i])
		if err != nil || days < 0 {
			return 0, false
		}
		total = time.Duration(days) * 24 * time.Hour
		rest = rest[i+1:]
		if rest == "" {
			return total, true
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d < 0 {
		return 0, false
	}
	return total + d, true
}
