package reconcile

import (
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// A local time from a column that keeps fewer fraction digits than
// milliseconds equals a provider instant truncated to those digits, and
// only that.
func TestEqualAtColumnPrecision(t *testing.T) {
	at := func(s string, digits int) localstate.Time {
		tt, ok := ParseTime(s)
		if !ok {
			t.Fatalf("bad time %q", s)
		}
		return localstate.Time{T: tt.UTC(), Digits: digits}
	}
	cases := []struct {
		local  localstate.Time
		remote any
		want   bool
	}{
		{at("2024-03-01T10:20:30Z", 0), "2024-03-01T10:20:30Z", true},
		{at("2024-03-01T10:20:30Z", 0), "2024-03-01T10:20:30.700Z", true},
		{at("2024-03-01T10:20:30Z", 0), "2024-03-01T10:20:30.999999999Z", true},
		{at("2024-03-01T10:20:30Z", 0), "2024-03-01T12:20:30.7+02:00", true},
		{at("2024-03-01T10:20:30Z", 0), int64(1709288430), true},
		{at("2024-03-01T10:20:30Z", 0), int64(1709288430700), true},
		{at("2024-03-01T10:20:31Z", 0), "2024-03-01T10:20:30.700Z", false}, // a server that rounded
		{at("2024-03-01T10:20:30Z", 0), "2024-03-01T10:20:31Z", false},
		{at("2024-03-01T10:20:30Z", 0), "2024-03-01T10:20:29.999Z", false},
		{at("2024-03-01T10:20:30.7Z", 1), "2024-03-01T10:20:30.789Z", true},
		{at("2024-03-01T10:20:30.7Z", 1), "2024-03-01T10:20:30.8Z", false},
		{at("2024-03-01T10:20:30.12Z", 2), "2024-03-01T10:20:30.129Z", true},
		{at("2024-03-01T10:20:30.12Z", 2), "2024-03-01T10:20:30.13Z", false},
		{at("1969-12-31T23:59:59Z", 0), "1969-12-31T23:59:59.500Z", true},
		{at("1969-12-31T23:59:59Z", 0), "1970-01-01T00:00:00Z", false},
		{at("2024-03-01T10:20:30Z", 0), nil, false},
		{at("2024-03-01T10:20:30Z", 0), "soon", false},
	}
	for _, c := range cases {
		if got := Equal(c.local, c.remote, localstate.CompareTime); got != c.want {
			t.Errorf("Equal(%v/%d, %#v, time) = %v, want %v", c.local.T, c.local.Digits, c.remote, got, c.want)
		}
		if got := Equal(c.remote, c.local, localstate.CompareTime); got != c.want {
			t.Errorf("Equal(%#v, %v/%d, time) = %v, want %v", c.remote, c.local.T, c.local.Digits, got, c.want)
		}
	}
	// Without the local column's precision, time mode compares milliseconds.
	if Equal(at("2024-03-01T10:20:30Z", 0).T, "2024-03-01T10:20:30.700Z", localstate.CompareTime) {
		t.Error("a time.Time compared at its column's precision")
	}
	if got := DisplayValue(at("2024-03-01T10:20:30Z", 0)); got != "2024-03-01T10:20:30Z" {
		t.Errorf("DisplayValue = %#v", got)
	}
	if ms, ok := toInstant(at("2024-03-01T10:20:30Z", 0)); !ok || ms != 1709288430000 {
		t.Errorf("toInstant = %d %v", ms, ok)
	}
}

// The engine finds no drift between provider times with fractions and a
// local column keeping whole seconds, and still finds a different second.
func TestEngineTimeAtColumnPrecision(t *testing.T) {
	sec := func(s string) localstate.Time {
		tt, _ := ParseTime(s)
		return localstate.Time{T: tt.UTC(), Digits: 0}
	}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Key: "id", Fields: []localstate.Field{
		{Column: "seen", Path: "seen", Compare: localstate.CompareTime},
	}}
	p := &memProvider{records: map[string][]providers.Record{"customers": {
		rec("a", `{"seen":"2024-03-01T10:20:30.700Z"}`),
		rec("b", `{"seen":"2024-03-01T12:20:30.123456789+02:00"}`),
		rec("c", `{"seen":"2024-03-01T10:20:30Z"}`),
		rec("d", `{"seen":"2024-03-01T10:20:30.700Z"}`),
	}}}
	s := &memStore{cols: []string{"seen"}, rows: map[string]map[string]any{
		"a": {"seen": sec("2024-03-01T10:20:30Z")},
		"b": {"seen": sec("2024-03-01T10:20:30Z")},
		"c": {"seen": sec("2024-03-01T10:20:30Z")},
		"d": {"seen": sec("2024-03-01T10:20:31Z")},
	}}
	_, res := compare(t, p, s, tbl, ModeDiff)
	sum := res.Summaries()["customers"]
	if sum.InSync != 3 || sum.Changed != 1 || len(res.Drift) != 1 || res.Drift[0].ID != "d" {
		t.Fatalf("want a, b, c in sync and d changed, got %+v %+v", *sum, res.Drift)
	}
	if got := res.Drift[0].Fields[0].Local; got != "2024-03-01T10:20:31Z" {
		t.Errorf("drift shows local %#v", got)
	}
}
