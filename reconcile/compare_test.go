package reconcile

import (
	"encoding/json"
	"testing"
	"time"
)

func TestEqual(t *testing.T) {
	n := func(s string) json.Number { return json.Number(s) }
	ts := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		a, b any
		mode string
		want bool
	}{
		// default mode: sensible across types
		{n("42"), int64(42), "", true},
		{n("42"), 42.0, "", true},
		{n("42.0"), int64(42), "", true},
		{"42", int64(42), "", true},
		{"007", int64(7), "", false},
		{"4.5", 4.5, "", true},
		{"2.10", "2.1", "", false},
		{"1e3", "1000", "", false},
		{"0.50", n("0.5"), "", false},
		{"1.0", int64(1), "", false},
		{"-3", int64(-3), "", true},
		{"2.10", "2.1", "number", true},
		{n("42"), int64(43), "", false},
		{nil, nil, "", true},
		{"", nil, "", false}, // the empty string is not null
		{true, int64(1), "", true},
		{false, int64(0), "", true},
		{true, int64(0), "", false},
		{"Ann", "Ann", "", true},
		{"Ann", "ann", "", false},
		{map[string]any{"a": n("1"), "b": "x"}, `{"b":"x","a":1}`, "", true},
		{[]any{"a", "b"}, `["a","b"]`, "", true},
		{n("12345678901234567890"), "12345678901234567890", "", true},
		{n("12345678901234567890"), n("12345678901234567891"), "", false},
		{[]byte("abc"), "abc", "", true},
		// casefold
		{"EVE@example.com", "eve@example.com", "casefold", true},
		{"eve@example.com", "eva@example.com", "casefold", false},
		// number
		{" 42 ", n("42"), "number", true},
		{"4.50", 4.5, "number", true},
		{"abc", int64(1), "number", false},
		// bool
		{int64(1), true, "bool", true},
		{int64(0), false, "bool", true},
		{"true", true, "bool", true},
		{"false", int64(1), "bool", false},
		{nil, false, "bool", false},
		// time
		{int64(ts.Unix()), "2026-11-20T10:00:00Z", "time", true},
		{n("1795168800000"), "2026-11-20T10:00:00Z", "time", true},
		{"2026-11-20 10:00:00", "2026-11-20T10:00:00Z", "time", true},
		{ts, int64(ts.Unix()), "time", true},
		{int64(ts.Unix() + 1), "2026-11-20T10:00:00Z", "time", false},
		{"2026-11-20T11:00:00+01:00", "2026-11-20T10:00:00Z", "time", true},
		// json
		{`{"a": 1, "b": [1,2]}`, map[string]any{"b": []any{n("1"), n("2")}, "a": n("1")}, "json", true},
		{`{"a": 1}`, `{"a":2}`, "json", false},
	}
	for _, c := range cases {
		if got := Equal(c.a, c.b, c.mode); got != c.want {
			t.Errorf("Equal(%#v, %#v, %q) = %v, want %v", c.a, c.b, c.mode, got, c.want)
		}
		if got := Equal(c.b, c.a, c.mode); got != c.want {
			t.Errorf("Equal(%#v, %#v, %q) (swapped) = %v, want %v", c.b, c.a, c.mode, got, c.want)
		}
	}
}

func TestLookup(t *testing.T) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(`{"email":"a@x","metadata":{"plan":"pro"},"items":{"data":[{"price":{"id":"price_1"}}]}}`), &obj); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]any{"email": "a@x", "metadata.plan": "pro", "items.data.0.price.id": "price_1"} {
		got, ok := Lookup(obj, splitPath(path))
		if !ok || got != want {
			t.Errorf("Lookup(%s) = %v, %v", path, got, ok)
		}
	}
	for _, path := range []string{"nope", "metadata.nope", "items.data.1.price.id", "items.data.x", "email.x"} {
		if _, ok := Lookup(obj, splitPath(path)); ok {
			t.Errorf("Lookup(%s) found something", path)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"42", "-0", "007", "1e3", `{"a":1}`, "[", "true", "2026-11-20T10:00:00Z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range []string{"", "casefold", "number", "bool", "time", "json"} {
			if !Equal(s, s, m) {
				t.Fatalf("%q not equal to itself in mode %q", s, m)
			}
		}
	})
}
