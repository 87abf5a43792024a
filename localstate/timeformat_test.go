package localstate

import (
	"testing"
	"time"
)

func TestTimeFormatKeepsTheColumnsFormat(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	whole := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		sample any
		t      time.Time
		intCol bool
		want   any
	}{
		{int64(1700000000), whole, true, int64(1704164645)},
		{int64(1700000000000), at, true, int64(1704164645678)},
		{int64(1700000000000000), at, true, int64(1704164645678000)},
		{int64(1700000000000000000), at, true, int64(1704164645678000000)},
		{"1700000000000", at, false, "1704164645678"},
		{"2023-11-14T22:13:20Z", whole, false, "2024-01-02T03:04:05Z"},
		{"2023-11-14T22:13:20Z", at, false, "2024-01-02T03:04:05.678Z"}, // never drops the provider's milliseconds
		{"2023-11-14T22:13:20.000000Z", at, false, "2024-01-02T03:04:05.678000Z"},
		{"2023-11-14T22:13:20+00:00", whole, false, "2024-01-02T03:04:05+00:00"},
		{"2023-11-14T22:13:20.000-05:00", at, false, "2024-01-01T22:04:05.678-05:00"},
		{"2023-11-14 22:13:20", whole, false, "2024-01-02 03:04:05"},
		{"2023-11-14", whole, false, "2024-01-02"},
		{nil, whole, true, int64(1704164645)},
		{nil, whole, false, "2024-01-02T03:04:05Z"},
		{"not a time", whole, false, "2024-01-02T03:04:05Z"},
	}
	for _, c := range cases {
		if got := timeFormatOf(c.sample).value(c.t, c.intCol); got != c.want {
			t.Errorf("sample %#v: wrote %#v, want %#v", c.sample, got, c.want)
		}
	}
	// Integers past 2^53 read back exactly.
	if got, ok := ParseTime(int64(1700000000123456789)); !ok || got.UnixNano() != 1700000000123456789 {
		t.Errorf("ParseTime(ns) = %v", got)
	}
}
