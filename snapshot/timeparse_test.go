package snapshot

import (
	"testing"
	"time"
)

// One text-time parser: ParseTime (state values) reads every layout
// ParseTimeText (providers, the engine) reads, as the same instant in UTC.
func TestOneTextTimeParser(t *testing.T) {
	for _, s := range []string{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.25+02:00", "2024-01-02T03:04:05", "2024-01-02T03:04:05.5",
		"2024-01-02 03:04:05", "2024-01-02 03:04:05.123", "2024-01-02 03:04:05+02:00", "2024-01-02 03:04:05.5Z", "2024-01-02"} {
		want, ok := ParseTimeText(s)
		if !ok {
			t.Fatalf("ParseTimeText(%q) failed", s)
		}
		got, ok := ParseTime(s)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v in UTC", s, got, ok, want)
		}
	}
	for _, s := range []string{"yesterday", "2024-13-01", "03:04:05"} {
		if _, ok := ParseTimeText(s); ok {
			t.Errorf("ParseTimeText(%q) parsed", s)
		}
	}
}
