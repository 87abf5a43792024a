package localstate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/snapshot"
)

// TimeLayout is how reconctl writes a timestamp as text: RFC 3339, UTC, whole seconds.
const TimeLayout = "2006-01-02T15:04:05Z"

// ParseTime reads a timestamp as providers and apps store them (see
// snapshot.ParseTime, where the rule lives so the file: provider shares it).
func ParseTime(v any) (t time.Time, ok bool) { return snapshot.ParseTime(v) }

// unitOf tells the unit of a unix timestamp from its size (snapshot.UnitOf).
func unitOf(n int64) time.Duration { return snapshot.UnitOf(n) }

// unixIn is t as an exact integer count of unit since the epoch.
func unixIn(t time.Time, unit time.Duration) int64 {
	switch unit {
	case time.Millisecond:
		return t.UnixMilli()
	case time.Microsecond:
		return t.UnixMicro()
	case time.Nanosecond:
		return t.UnixNano()
	}
	return t.Unix()
}

// timeFormat is how a column holds its timestamps, learnt from a value it
// already holds, so that a write keeps the column's unit and text format:
// unix milliseconds stay milliseconds, RFC 3339 with fractional seconds or
// an offset keeps them. The zero value is reconctl's default (unix seconds in
// an integer column, RFC 3339 UTC text otherwise).
type timeFormat struct {
	kind   byte          // 0 default, 'n' a number, 's' numeric text, 't' text in layout
	unit   time.Duration // for 'n' and 's'
	layout string        // for 't'
	loc    *time.Location
	frac   int // digits of fractional seconds in layout ('t')
}

// timeFormatOf learns the format from a stored value; the zero format when
// v is not a timestamp reconctl can reproduce.
func timeFormatOf(v any) timeFormat {
	switch x := v.(type) {
	case int64:
		return timeFormat{kind: 'n', unit: unitOf(x)}
	case int:
		return timeFormat{kind: 'n', unit: unitOf(int64(x))}
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return timeFormat{kind: 'n', unit: unitOf(i)}
		}
	case []byte:
		return timeFormatOf(string(x))
	case string:
		return textFormatOf(strings.TrimSpace(x))
	}
	return timeFormat{}
}

func textFormatOf(s string) timeFormat {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return timeFormat{kind: 's', unit: unitOf(i)}
	}
	if len(s) == 10 {
		if _, err := time.Parse("2006-01-02", s); err == nil {
			return timeFormat{kind: 't', layout: "2006-01-02", loc: time.UTC}
		}
		return timeFormat{}
	}
	if len(s) < 19 || (s[10] != 'T' && s[10] != ' ') {
		return timeFormat{}
	}
	layout := "2006-01-02" + s[10:11] + "15:04:05"
	rest := s[19:]
	frac := 0
	if strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, ",") {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		frac = n - 1
		if frac == 0 || frac > 9 {
			return timeFormat{}
		}
		layout += "." + strings.Repeat("0", frac)
		rest = rest[n:]
	}
	f := timeFormat{kind: 't', loc: time.UTC, frac: frac}
	switch {
	case rest == "":
	case rest == "Z" || rest == "z":
		layout += "Z07:00"
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		layout += "-07:00"
	case len(rest) == 5 && (rest[0] == '+' || rest[0] == '-'):
		layout += "-0700"
	default:
		return timeFormat{}
	}
	f.layout = layout
	parsed, err := time.Parse(layout, strings.Replace(s, ",", ".", 1))
	if err != nil {
		return timeFormat{}
	}
	if rest != "" && rest != "Z" && rest != "z" {
		_, off := parsed.Zone()
		f.loc = time.FixedZone("", off)
	}
	return f
}

// text renders t in the learnt text layout. A value with more precision than
// the layout shows gets the digits it needs: a write must not lose part of
// the provider's value (the next diff would find it again).
func (f timeFormat) text(t time.Time) string {
	layout := f.layout
	if f.frac < 9 && strings.Contains(layout, "15:04:05") {
		need := 0
		switch ns := t.Nanosecond(); {
		case ns == 0:
		case ns%1e6 == 0:
			need = 3
		case ns%1e3 == 0:
			need = 6
		default:
			need = 9
		}
		if need > f.frac {
			digits := "." + strings.Repeat("0", need)
			if f.frac > 0 {
				layout = strings.Replace(layout, "."+strings.Repeat("0", f.frac), digits, 1)
			} else {
				layout = strings.Replace(layout, "15:04:05", "15:04:05"+digits, 1)
			}
		}
	}
	return t.In(f.loc).Format(layout)
}

// value is t written in the format; intCol says the column has integer
// affinity (SQLite), which is where the default writes unix seconds.
func (f timeFormat) value(t time.Time, intCol bool) any {
	switch f.kind {
	case 'n':
		return unixIn(t, f.unit)
	case 's':
		return strconv.FormatInt(unixIn(t, f.unit), 10)
	case 't':
		return f.text(t)
	}
	if intCol {
		return t.Unix()
	}
	return FormatTime(t)
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

// Time is a timestamp read from a server time column that keeps fewer
// fraction-of-second digits than the engine's time comparison (milliseconds):
// Postgres timestamp(0)–(2), MySQL DATETIME/TIMESTAMP with fsp 0–2. The
// store writes a provider's instant truncated to Digits, so the engine
// compares a provider's instant with it truncated likewise (30.7 equals a
// stored 30; a stored 31 does not).
type Time struct {
	T      time.Time // UTC
	Digits int       // fraction digits the column keeps (0–2)
}

// MarshalJSON writes the time as RFC 3339 text.
func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

func (t Time) String() string { return t.T.UTC().Format(time.RFC3339Nano) }

// truncTime is t in UTC truncated (never rounded: the servers round or
// truncate as they please) to digits fraction digits; digits outside 0–8
// keep t whole.
func truncTime(t time.Time, digits int) time.Time {
	t = t.UTC()
	if digits < 0 || digits >= 9 {
		return t
	}
	unit := time.Second
	for range digits {
		unit /= 10
	}
	return t.Truncate(unit)
}

// serverTime is what scanConv gives the engine for a time read from a
// column keeping digits fraction digits: a Time when the column is coarser
// than milliseconds, else the UTC time.
func serverTime(t time.Time, digits int) any {
	if digits >= 0 && digits < 3 {
		return Time{T: t.UTC(), Digits: digits}
	}
	return t.UTC()
}
