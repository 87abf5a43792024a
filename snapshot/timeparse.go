package snapshot

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// msThreshold separates unix seconds from milliseconds: 1e11 s is the year
// 5138, 1e11 ms is 1973, so no real timestamp is ambiguous.
const msThreshold = 1e11

// ParseTime reads a timestamp as providers and apps store them: unix seconds
// or milliseconds (a number or a numeric string), RFC 3339, SQLite's
// "2006-01-02 15:04:05", or a date. The result is UTC; ok is false for
// anything else (nil, "", text that is not a time).
func ParseTime(v any) (t time.Time, ok bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), !x.IsZero()
	case json.Number:
		return parseTimeString(string(x))
	case string:
		return parseTimeString(x)
	case []byte:
		return parseTimeString(string(x))
	case int64:
		return unixTime(float64(x), x), true
	case int:
		return unixTime(float64(x), int64(x)), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return time.Time{}, false
		}
		return unixTime(x, 0), true
	}
	return time.Time{}, false
}

func parseTimeString(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return unixTime(float64(i), i), true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return unixTime(f, 0), true
	}
	if t, ok := ParseTimeText(s); ok {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// TimeLayouts are the timestamp text layouts reconctl reads, from provider
// records and from the app's state alike: RFC 3339 (with or without
// fractional seconds), the same without a zone (UTC), with a space instead
// of the T, and a bare date (midnight UTC). A fraction is optional in each.
var TimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseTimeText parses timestamp text in one of TimeLayouts, keeping its
// zone. It is the one text-time parser: ParseTime (app state, exports), the
// engine's time compare mode and the REST provider all read text with it.
func ParseTimeText(s string) (time.Time, bool) {
	for _, l := range TimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// unixTime converts seconds or milliseconds (or, beyond them, micro- and
// nanoseconds); i is the exact integer when f came from one.
func unixTime(f float64, i int64) time.Time {
	if i != 0 {
		switch UnitOf(i) {
		case time.Nanosecond:
			return time.Unix(0, i).UTC()
		case time.Microsecond:
			return time.UnixMicro(i).UTC()
		}
	}
	if math.Abs(f) >= msThreshold {
		if i != 0 || f == 0 {
			return time.UnixMilli(i).UTC()
		}
		return time.UnixMicro(int64(f * 1e3)).UTC()
	}
	if i != 0 || f == 0 {
		return time.Unix(i, 0).UTC()
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// UnitOf tells the unit of a unix timestamp from its size: 1e11 seconds,
// milliseconds or microseconds are all past the year 5000, so each range
// holds exactly one plausible unit.
func UnitOf(n int64) time.Duration {
	if n < 0 {
		n = -n
	}
	switch {
	case n < msThreshold:
		return time.Second
	case n < msThreshold*1e3:
		return time.Millisecond
	case n < msThreshold*1e6:
		return time.Microsecond
	}
	return time.Nanosecond
}
