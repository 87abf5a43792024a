package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTenantsAbsent(t *testing.T) {
	c, err := Parse("reconctl.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tenants != nil {
		t.Errorf("no tenants: section, got %+v", c.Tenants)
	}
}

func TestTenantsList(t *testing.T) {
	y := `provider: workos
tenants:
  from: list
  column: org_id
  list:
    - acme
    - id: globex
      api_key_env: GLOBEX_KEY
      api_base: http://127.0.0.1:9
      workos:
        organization: org_globex
`
	c, err := Parse("reconctl.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	ts := c.Tenants
	if ts == nil || ts.From != TenantsFromList || ts.Column != "org_id" || len(ts.List) != 2 {
		t.Fatalf("tenants = %+v", ts)
	}
	if a := ts.List[0]; a.ID != "acme" || a.APIKeyEnv != "" || a.Line != 6 {
		t.Errorf("acme = %+v", a)
	}
	g := ts.Tenant("globex")
	if g == nil || g.APIKeyEnv != "GLOBEX_KEY" || g.APIBase != "http://127.0.0.1:9" || g.Section("workos") == nil || g.Line != 7 {
		t.Fatalf("globex = %+v", g)
	}
	var w struct {
		Organization string `yaml:"organization"`
	}
	if err := g.Section("workos").Decode(&w); err != nil || w.Organization != "org_globex" {
		t.Errorf("workos section = %+v %v", w, err)
	}
	if ts.Tenant("nope") != nil {
		t.Error("unknown tenant found")
	}
}

func TestTenantsSources(t *testing.T) {
	for _, src := range []string{"stripe_accounts", "state"} {
		c, err := Parse("r.yaml", []byte("tenants:\n  from: "+src+"\n  column: account_id\n"))
		if err != nil || c.Tenants.From != src || c.Tenants.Column != "account_id" {
			t.Errorf("%s: %+v %v", src, c, err)
		}
	}
	c, err := Parse("r.yaml", []byte("tenants:\n  from: state\n  column: account_id\n  table: users\n"))
	if err != nil || c.Tenants.Table != "users" {
		t.Errorf("state table: %+v %v", c, err)
	}
}

func TestTenantsErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"tenants:\n  from: stripe\n  column: a\n", `r.yaml:2: tenants.from: unknown tenant source "stripe" (want one of stripe_accounts, state, list)`},
		{"tenants:\n  column: a\n", "r.yaml:2: tenants.from: missing"},
		{"tenants:\n  from: state\n", "r.yaml:2: tenants.column: missing"},
		{"tenants:\n  from: state\n  column: a\n  colour: b\n", "r.yaml:4: tenants.colour: unknown key (known: from, column, table, list, file, cadence)"},
		{"tenants:\n  from: list\n  column: a\n", "r.yaml:2: tenants.list: from: list needs list: or file:"},
		{"tenants:\n  from: state\n  column: a\n  list: [x]\n", "tenants.list: list: and file: need from: list"},
		{"tenants:\n  from: list\n  column: a\n  table: t\n  list: [x]\n", "tenants.table: table: needs from: state"},
		{"tenants:\n  from: list\n  column: a\n  list:\n    - x\n    - x\n", `r.yaml:6: tenants.list: tenant "x" is listed twice (first at r.yaml:5)`},
		{"tenants:\n  from: list\n  column: a\n  list:\n    - id: x\n      api_key: K\n", "r.yaml:6: tenants.list[0].api_key: unknown key (known: id, api_key_env, api_base"},
		{"tenants:\n  from: list\n  column: a\n  list:\n    - api_key_env: K\n", "r.yaml:5: tenants.list[0].id: missing tenant id"},
		{"tenants:\n  from: list\n  column: a\n  list:\n    - [x]\n", "r.yaml:5: tenants.list[0]: want a tenant id or a mapping"},
		{"tenants:\n  from: list\n  column: a\n  list: x\n", "r.yaml:4: tenants.list: want a list of tenants"},
		{"tenants:\n  from: list\n  column: ' a'\n  list: [x]\n", "r.yaml:3: tenants.column: \" a\" is not a usable"},
		{"tenants: [x]\n", "r.yaml:1: tenants: want a mapping"},
	}
	for _, c := range cases {
		_, err := Parse("r.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", c.yaml, err, c.want)
		}
	}
}

func TestTenantsFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "reconctl.yaml")
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("reconctl.yaml", "provider: rest\ntenants:\n  from: list\n  column: customer\n  list: [first]\n  file: tenants.yaml\n")
	write("tenants.yaml", "- second\n- id: third\n  api_key_env: THIRD_KEY\n")
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tn := range c.Tenants.List {
		ids = append(ids, tn.ID)
	}
	if strings.Join(ids, ",") != "first,second,third" || c.Tenants.File != filepath.Join(dir, "tenants.yaml") {
		t.Fatalf("tenants = %v file %q", ids, c.Tenants.File)
	}
	if th := c.Tenants.Tenant("third"); th.APIKeyEnv != "THIRD_KEY" || th.File != filepath.Join(dir, "tenants.yaml") || th.Line != 2 {
		t.Errorf("third = %+v", th)
	}
	// A mapping with tenants: works too.
	write("tenants.yaml", "tenants:\n  - second\n")
	if c, err = Load(cfg); err != nil || len(c.Tenants.List) != 2 {
		t.Errorf("tenants: mapping: %v %v", c, err)
	}
	// Errors name the tenants file and its line.
	for body, want := range map[string]string{
		"- second\n- id: ''\n": "tenants.yaml:2: tenants[1].id: missing tenant id",
		"- first\n":            `tenants.yaml:1: tenants.list: tenant "first" is listed twice (first at ` + cfg + ":5)",
		"other: 1\n":           "tenants.yaml:1: other: unknown key",
		"- [a\n":               "tenants.yaml:",
	} {
		write("tenants.yaml", body)
		if _, err := Load(cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("tenants file %q: error = %v, want %q", body, err, want)
		}
	}
	os.Remove(filepath.Join(dir, "tenants.yaml"))
	if _, err := Load(cfg); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing tenants file: %v", err)
	}
}

func TestTenantsCadence(t *testing.T) {
	c, err := Parse("r.yaml", []byte("tenants:\n  from: list\n  column: a\n  cadence: 7d\n  list:\n    - big\n    - id: small\n      cadence: 90m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Tenants.CadenceOf("big", 0); got != 7*24*time.Hour {
		t.Errorf("big = %v", got)
	}
	if got := c.Tenants.CadenceOf("small", 0); got != 90*time.Minute {
		t.Errorf("small = %v", got)
	}
	c, _ = Parse("r.yaml", []byte("tenants:\n  from: state\n  column: a\n"))
	if got := c.Tenants.CadenceOf("x", 0); got != DefaultCadence {
		t.Errorf("default = %v", got)
	}
	for y, want := range map[string]string{
		"tenants:\n  from: state\n  column: a\n  cadence: often\n":                        `r.yaml:4: tenants.cadence: "often" is not a positive duration`,
		"tenants:\n  from: state\n  column: a\n  cadence: 0d\n":                           "r.yaml:4: tenants.cadence:",
		"tenants:\n  from: list\n  column: a\n  list:\n    - id: x\n      cadence: -1h\n": "r.yaml:6: tenants.list[0].cadence:",
	} {
		if _, err := Parse("r.yaml", []byte(y)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", y, err, want)
		}
	}
}

// Cadence by size, as the partner-integration guide has it: large
// customers daily, small ones weekly.
func TestTenantsCadenceRules(t *testing.T) {
	c, err := Parse("r.yaml", []byte("tenants:\n  from: list\n  column: a\n  cadence:\n    - records_over: 10000\n      every: 24h\n    - every: 7d\n  list:\n    - x\n    - id: pinned\n      cadence: 1h\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := c.Tenants
	if got := ts.CadenceOf("x", 20000); got != 24*time.Hour {
		t.Errorf("large = %v", got)
	}
	if got := ts.CadenceOf("x", 50); got != 7*24*time.Hour {
		t.Errorf("small = %v", got)
	}
	if got := ts.CadenceOf("pinned", 20000); got != time.Hour {
		t.Errorf("a tenant's own cadence = %v", got)
	}
	for y, want := range map[string]string{
		"tenants:\n  from: state\n  column: a\n  cadence:\n    - records_over: 5\n": "r.yaml:5: tenants.cadence[0].every: missing",
		"tenants:\n  from: state\n  column: a\n  cadence:\n    - over: 5\n":         "r.yaml:5: tenants.cadence[0].over: unknown key (known: records_over, every)",
		"tenants:\n  from: state\n  column: a\n  cadence: []\n":                     "tenants.cadence: an empty list",
	} {
		if _, err := Parse("r.yaml", []byte(y)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", y, err, want)
		}
	}
}
