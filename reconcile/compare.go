package reconcile

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// Values from either side are reduced to a canonical byte form per compare
// mode; two values are equal when their canonical forms are. The engine hashes
// canonical forms to index the local side compactly, so this is the one place
// that decides equality.
//
// Canonical forms start with a tag: 'z' null/absent, 'n' number, 's' string,
// 'b' boolean (bool mode), 't' instant in unix ms (time mode), 'j' JSON.
//
// Default ("exact") mode compares sensibly across the two sides' types:
// JSON 42 = SQLite INTEGER 42 = 42.0 = "42"; true = 1 (SQLite has no boolean);
// a JSON object or array equals a TEXT column holding the same JSON; null and
// absent are the same value; the empty string is NOT null.

// Equal reports whether a and b are equal under mode.
func Equal(a, b any, mode string) bool {
	if mode == localstate.CompareTime {
		if eq, ok := equalAtPrecision(a, b); ok {
			return eq
		}
	}
	return bytes.Equal(appendCanon(nil, a, mode), appendCanon(nil, b, mode))
}

// equalAtPrecision compares two instants at the precision of a local
// column coarser than milliseconds (a localstate.Time on either side): the
// store writes a provider's instant truncated to the column's digits, so
// the provider's 10:20:30.700 equals a stored 10:20:30 and a stored
// 10:20:31 does not. ok is false when neither side is such a time or one is
// no instant. (The local index hashes the stored instant; a provider value
// with a finer fraction reaches this comparison as a candidate.)
func equalAtPrecision(a, b any) (eq, ok bool) {
	digits := -1
	if t, isT := a.(localstate.Time); isT {
		digits = t.Digits
	} else if t, isT := b.(localstate.Time); isT {
		digits = t.Digits
	}
	if digits < 0 || digits >= 3 {
		return false, false
	}
	am, aok := toInstant(a)
	bm, bok := toInstant(b)
	if !aok || !bok {
		return false, false
	}
	unit := int64(1000)
	for range digits {
		unit /= 10
	}
	return floorDiv(am, unit) == floorDiv(bm, unit), true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func appendCanon(buf []byte, v any, mode string) []byte {
	switch mode {
	case localstate.CompareBool:
		if b, ok := toBool(v); ok {
			if b {
				return append(buf, 'b', '1')
			}
			return append(buf, 'b', '0')
		}
	case localstate.CompareTime:
		if ms, ok := toInstant(v); ok {
			buf = append(buf, 't')
			return strconv.AppendInt(buf, ms, 10)
		}
	case localstate.CompareNumber:
		if s, ok := v.(string); ok {
			if out, ok := appendNumberString(buf, strings.TrimSpace(s)); ok {
				return out
			}
		}
	case localstate.CompareJSON:
		switch x := v.(type) {
		case string:
			if j, ok := canonJSON(x); ok {
				return append(append(buf, 'j'), j...)
			}
		case map[string]any, []any:
			b, _ := json.Marshal(x)
			return append(append(buf, 'j'), b...)
		}
	}
	return appendExact(buf, v, mode == localstate.CompareCasefold)
}

func appendExact(buf []byte, v any, fold bool) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, 'z')
	case string:
		if len(x) > 0 {
			c := x[0]
			if c == '-' || (c >= '0' && c <= '9') {
				if canonicalNumber(x) {
					if out, ok := appendNumberString(buf, x); ok {
						return out
					}
				}
			} else if c == '{' || c == '[' {
				if j, ok := canonJSON(x); ok {
					return append(append(buf, 'j'), j...)
				}
			}
		}
		if fold {
			return appendFolded(append(buf, 's'), x)
		}
		return append(append(buf, 's'), x...)
	case []byte:
		return appendExact(buf, string(x), fold)
	case json.Number:
		if out, ok := appendNumberString(buf, string(x)); ok {
			return out
		}
		return append(append(buf, 's'), x...)
	case int64:
		return strconv.AppendInt(append(buf, 'n'), x, 10)
	case int:
		return strconv.AppendInt(append(buf, 'n'), int64(x), 10)
	case float64:
		return appendFloat(buf, x)
	case bool:
		if x {
			return append(buf, 'n', '1')
		}
		return append(buf, 'n', '0')
	case time.Time:
		return append(append(buf, 's'), formatTime(x)...)
	case localstate.Time:
		return append(append(buf, 's'), formatTime(x.T)...)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return append(append(buf, 'j'), b...)
	}
	b, _ := json.Marshal(v)
	return append(append(buf, 'j'), b...)
}

// canonicalNumber accepts text that is a number written the one canonical
// way ("42", "-1.5"), so "42" equals the number 42; "2.10", "1e3", "007"
// or "+1" stay text (two different strings are never equal by default;
// compare: number reads them as numbers).
func canonicalNumber(s string) bool {
	if !looksNumeric(s) {
		return false
	}
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		return err == nil && strconv.FormatFloat(f, 'f', -1, 64) == s
	}
	return !strings.ContainsAny(s, "+") && strings.Count(s, "-") <= 1 && !strings.HasSuffix(s, "-")
}

// looksNumeric is a quick check for digits with an optional sign, point and
// exponent; "007" is not a number.
func looksNumeric(s string) bool {
	i := 0
	if s[0] == '-' {
		i = 1
	}
	if i >= len(s) {
		return false
	}
	if s[i] == '0' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
		return false
	}
	digits := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		default:
			return false
		}
	}
	return digits > 0
}

func appendNumberString(buf []byte, s string) ([]byte, bool) {
	if s == "" {
		return buf, false
	}
	// Integers (any size) keep their digits exactly.
	neg := s[0] == '-'
	d := s
	if neg {
		d = s[1:]
	}
	allDigits := len(d) > 0
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			allDigits = false
			break
		}
	}
	if allDigits {
		d = strings.TrimLeft(d, "0")
		if d == "" {
			return append(buf, 'n', '0'), true
		}
		buf = append(buf, 'n')
		if neg {
			buf = append(buf, '-')
		}
		return append(buf, d...), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return buf, false
	}
	return appendFloat(buf, f), true
}

func appendFloat(buf []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(append(buf, 'n'), int64(f), 10)
	}
	return strconv.AppendFloat(append(buf, 'n'), f, 'g', -1, 64)
}

func canonJSON(s string) ([]byte, bool) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return nil, false
	}
	switch v.(type) {
	case map[string]any, []any:
	default:
		if !json.Valid([]byte(s)) {
			return nil, false
		}
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

func toBool(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case int64:
		return x != 0, true
	case int:
		return x != 0, true
	case float64:
		return x != 0, true
	case json.Number:
		f, err := x.Float64()
		return f != 0, err == nil
	case []byte:
		return toBool(string(x))
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "t", "1", "yes", "y", "on":
			return true, true
		case "false", "f", "0", "no", "n", "off":
			return false, true
		}
	}
	return false, false
}

// Layouts accepted for timestamps held as text.

// toInstant reads unix seconds, unix milliseconds (|n| >= 1e11) or a
// timestamp string as an instant in unix milliseconds.
func toInstant(v any) (int64, bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UnixMilli(), true
	case localstate.Time:
		return x.T.UnixMilli(), true
	case int64:
		return intToMs(x), true
	case int:
		return intToMs(int64(x)), true
	case float64:
		return unixToMs(x), true
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return intToMs(i), true // exact: a float64 loses digits past 2^53
		}
		f, err := x.Float64()
		return unixToMs(f), err == nil
	case []byte:
		return toInstant(string(x))
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, false
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return intToMs(i), true
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return unixToMs(f), true
		}
		if t, ok := ParseTime(s); ok {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

// ParseTime parses the timestamp text formats reconctl accepts
// (providers.TimeLayouts).
func ParseTime(s string) (time.Time, bool) { return providers.ParseTime(s) }

// intToMs converts an integer unix timestamp, its unit told by its size as
// localstate reads it (seconds below 1e11, then milli-, micro-, nanoseconds),
// to milliseconds without going through a float.
func intToMs(i int64) int64 {
	a := i
	if a < 0 {
		a = -a
	}
	switch {
	case a < 1e11:
		return i * 1000
	case a < 1e14:
		return i
	case a < 1e17:
		return i / 1e3
	}
	return i / 1e6
}

func unixToMs(f float64) int64 {
	if math.Abs(f) >= 1e11 {
		return int64(f)
	}
	return int64(math.Round(f * 1000))
}

// Instant returns v as a time when it is a timestamp under the time compare
// mode's rules (unix seconds or ms, or text).
func Instant(v any) (time.Time, bool) {
	ms, ok := toInstant(v)
	if !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(ms).UTC(), true
}

func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// DisplayValue converts a store or provider value into something that keeps
// its JSON type in reports.
func DisplayValue(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case time.Time:
		return formatTime(x)
	case localstate.Time:
		return formatTime(x.T)
	}
	return v
}

// appendFolded appends s lower-cased, without allocating for ASCII text.
func appendFolded(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return append(buf, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}
