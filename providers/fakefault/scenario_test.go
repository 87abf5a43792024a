package fakefault

import (
	"reflect"
	"testing"
	"time"
)

func TestParseAt(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-01-02T03:04:05Z":     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		"2026-01-02T03:04:05.250Z": time.Date(2026, 1, 2, 3, 4, 5, 250e6, time.UTC),
		"-36h":                     now.Add(-36 * time.Hour),
		"-90m":                     now.Add(-90 * time.Minute),
		"-2d":                      now.Add(-48 * time.Hour),
	} {
		got, err := ParseAt(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "36h", "-2w"} {
		if _, err := ParseAt(bad, now); err == nil {
			t.Errorf("ParseAt(%q): no error", bad)
		}
	}
}

func TestOpClock(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	c := OpClock{Now: now}
	for _, step := range []struct {
		at   string
		want time.Time
	}{
		{"", now},
		{"-1d", now.Add(-24 * time.Hour)},
		{"", now.Add(-24 * time.Hour)},
		{"-1h", now.Add(-time.Hour)},
	} {
		got, err := c.Next(step.at)
		if err != nil || !got.Equal(step.want) {
			t.Fatalf("Next(%q) = %v, %v; want %v", step.at, got, err, step.want)
		}
	}
}

func TestExpand(t *testing.T) {
	in := map[string]any{"email": "bulk%03d@example.com", "n": 1.5, "meta": map[string]any{"tags": []any{"t%d", "plain"}}}
	got := ExpandFields(in, 7)
	want := map[string]any{"email": "bulk007@example.com", "n": 1.5, "meta": map[string]any{"tags": []any{"t7", "plain"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ExpandFields = %v; want %v", got, want)
	}
	if in["email"] != "bulk%03d@example.com" {
		t.Fatal("ExpandFields changed its input")
	}
	if m := ExpandFields(nil, 1); m == nil || len(m) != 0 {
		t.Fatalf("ExpandFields(nil) = %v; want an empty map", m)
	}
}
