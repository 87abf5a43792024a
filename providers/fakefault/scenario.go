package fakefault

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Helpers for the fakes' scenario players (workosfake, clerkfake, restfake
// Play): a scenario is a JSON script of operations, each at its own time, in
// the format stripefake introduced.

// ParseAt reads an op's time: RFC 3339, or a duration back from now
// ("-36h", "-90m", "-2d").
func ParseAt(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		if d, ok := strings.CutSuffix(rest, "d"); ok {
			if n, err := strconv.Atoi(d); err == nil {
				return now.Add(-time.Duration(n) * 24 * time.Hour), nil
			}
		}
		if d, err := time.ParseDuration(rest); err == nil {
			return now.Add(-d), nil
		}
	}
	return time.Time{}, fmt.Errorf("op time %q: want RFC 3339 or -36h / -2d", s)
}

// OpClock tracks the time of a scenario's ops: each op's At (when given)
// moves it, an empty At keeps the previous op's time.
type OpClock struct {
	Now time.Time // anchors relative times
	at  time.Time
}

// Next returns the time of an op whose At is at.
func (c *OpClock) Next(at string) (time.Time, error) {
	if c.at.IsZero() {
		c.at = c.Now
	}
	if at != "" {
		t, err := ParseAt(at, c.Now)
		if err != nil {
			return time.Time{}, err
		}
		c.at = t
	}
	return c.at, nil
}

// LoadJSON reads a scenario file into v, rejecting unknown keys so a typo
// in a test scenario fails loudly.
func LoadJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	d := json.NewDecoder(f)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Expand returns v with every string that holds a % verb formatted with n,
// for seeding ops ("user_%03d" → "user_007"). Maps and lists are copied.
func Expand(v any, n int) any {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "%") {
			return fmt.Sprintf(x, n)
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Expand(e, n)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Expand(e, n)
		}
		return out
	}
	return v
}

// ExpandFields is Expand for an op's fields (never nil).
func ExpandFields(fields map[string]any, n int) map[string]any {
	if fields == nil {
		return map[string]any{}
	}
	return Expand(fields, n).(map[string]any)
}

// Load reads a scenario file of type T with LoadJSON.
func Load[T any](path string) (*T, error) {
	var s T
	if err := LoadJSON(path, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
