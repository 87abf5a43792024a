package localstate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// TimeLayout is how reconctl writes a timestamp as text: RFC 3339, UTC, whole seconds.
const TimeLayout = "2006-01-02T15:04:05Z"

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
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// unixTime converts seconds or milliseconds; i is the exact integer when f came from one.
func unixTime(f float64, i int64) time.Time {
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

// FormatTime writes t the way reconctl stores timestamps as text.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// compactJSON encodes a nested provider value (map or list) as compact JSON
// text, without HTML escaping, so it reads back as the provider sent it.
func compactJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// keyString renders a stored key as the provider id it holds: text as is,
// integers in decimal. ok is false for a missing key (NULL, "", absent).
func keyString(v any) (s string, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, x != "", nil
	case []byte:
		return string(x), len(x) > 0, nil
	case json.Number:
		return string(x), x != "", nil
	case int64:
		return strconv.FormatInt(x, 10), true, nil
	case int:
		return strconv.Itoa(x), true, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true, nil
	}
	return "", false, fmt.Errorf("a key must be a string or a number, not %s", describe(v))
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number, float64, int64, int:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}

// isLive reports whether a soft-delete value means "not deleted": absent,
// NULL, "", 0 and false all do (apps use deleted_at NULL as well as a 0/1
// flag). Anything else — a timestamp, 1, true — marks the row deleted.
func isLive(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == "" || x == "0"
	case []byte:
		return len(x) == 0 || string(x) == "0"
	case bool:
		return !x
	case int64:
		return x == 0
	case int:
		return x == 0
	case float64:
		return x == 0
	case json.Number:
		f, err := x.Float64()
		return err == nil && f == 0
	}
	return false
}
