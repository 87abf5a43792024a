package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestEscapeText(t *testing.T) {
	for in, want := range map[string]string{
		"Ann Lee":                      "Ann Lee",
		"Ann\x1b[2J\x1b]0;owned\x07":   `Ann\x1b[2J\x1b]0;owned\x07`,
		"a\rb\tc\x00d\x7fe":            `a\rb\tc\x00d\x7fe`,
		"c1 \u009b31m":                 `c1 \u009b31m`,
		"bidi \u202eevil\u2066x\u2069": `bidi \u202eevil\u2066x\u2069`,
		"bad \xff utf8":                `bad \xff utf8`,
		"line\nbreak":                  "line\nbreak",
		`back\slash`:                   `back\slash`,
		"Zoë 日本":                       "Zoë 日本",
	} {
		if got := EscapeText(in); got != want {
			t.Errorf("EscapeText(%q) = %q, want %q", in, got, want)
		}
		if got := EscapeText(EscapeText(in)); got != want {
			t.Errorf("EscapeText is not idempotent on %q: %q", in, got)
		}
	}
}

func evilReport() *reconcile.Report {
	evil := "Ann\x1b[2J\x1b]0;owned\x07 \u202eevil"
	return &reconcile.Report{
		Command: "diff", RunID: "r_1", Provider: "stripe", State: "app\x1b[31m.db", DryRun: true,
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), FinishedAt: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC),
		Resources: []string{"customers"},
		Summary:   map[string]*reconcile.ResourceSummary{"customers": {Remote: 2, Local: 2, InSync: 1, Changed: 1, Unresolved: 1}},
		Drift: []reconcile.Drift{{Resource: "customers", ID: "cus_\x1b]0;x\x07", Kind: reconcile.KindChanged, RemoteStatus: "present",
			Fields: []reconcile.FieldDiff{{Name: "full_name", Path: "name", Local: "Ann Lee", Remote: evil}}, Action: reconcile.ActionUpdate}},
		ExitCode: 2,
	}
}

// TestRenderEscapesGolden: table and markdown show control characters as
// visible escapes (with colour, only our own colour codes stay raw); json
// and csv keep the exact value.
func TestRenderEscapesGolden(t *testing.T) {
	for _, tc := range []struct {
		name, format string
		color        bool
	}{{"table", "table", false}, {"table_color", "table", true}, {"markdown", "markdown", false}, {"csv", "csv", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, tc.format, Diff(evilReport()), Options{Color: tc.color}); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if tc.format == "csv" {
				if !strings.Contains(out, "Ann\x1b[2J\x1b]0;owned\x07 \u202eevil") {
					t.Errorf("csv lost the exact value:\n%s", out)
				}
				return
			}
			rest := out
			if tc.color {
				for _, c := range colorCodes {
					rest = strings.ReplaceAll(rest, c, "")
				}
			}
			if strings.ContainsAny(rest, "\x1b\x07\u202e") || strings.Contains(out, "app\x1b") {
				t.Errorf("raw control characters in %s output:\n%q", tc.name, out)
			}
			golden := filepath.Join("testdata", "escape_"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("%s output differs from %s:\n got: %q\nwant: %q", tc.name, golden, out, want)
			}
		})
	}
}

func TestRenderUserEscapes(t *testing.T) {
	u := &UserReport{Command: "check-user", Query: "cus_1", Resource: "customers", ID: "cus_1\x1b[2J", Provider: "stripe", Verdict: "drift",
		Fields: []UserField{{Name: "full_name", Local: "Ann", Remote: "Ann\x1b]0;owned\x07"}}, ExitCode: 2}
	for _, f := range []string{"table", "markdown"} {
		var buf bytes.Buffer
		if err := Render(&buf, f, User(u), Options{}); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(buf.String(), "\x1b\x07") || !strings.Contains(buf.String(), `Ann\x1b]0;owned\x07`) {
			t.Errorf("%s: not escaped:\n%q", f, buf.String())
		}
	}
	var buf bytes.Buffer
	if err := Render(&buf, "json", User(u), Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `Ann\u001b]0;owned\u0007`) {
		t.Errorf("json lost the exact value:\n%s", buf.String())
	}
}
