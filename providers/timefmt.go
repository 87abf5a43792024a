package providers

import "time"

// TimeLayouts are the timestamp text layouts reconctl reads, from provider
// records and from the app's state alike: RFC 3339 (with or without
// fractional seconds), the same without a zone (UTC), with a space instead
// of the T, and a bare date (midnight UTC).
var TimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseTime parses timestamp text in one of TimeLayouts. It is the one
// text-time parser: the REST provider reads updated_at and event times with
// it, and the engine's time compare mode reads both sides with it.
func ParseTime(s string) (time.Time, bool) {
	for _, l := range TimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
