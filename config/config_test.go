package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const full = `provider: stripe
api_base: http://127.0.0.1:12111
api_key_env: MY_STRIPE_KEY
state: app.db
user_resource: customers
max_changes: 10%
resources:
  customers:
    table: users
    key: stripe_customer_id
    updated_at: stripe_updated_at
    soft_delete: deleted_at
    fields:
      email: email
      full_name: name
      plan: metadata.plan
      vip: {path: metadata.vip, compare: bool}
  subscriptions:
`

func TestParseFull(t *testing.T) {
	c, err := Parse("reconctl.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if c.Provider != "stripe" || c.APIBase != "http://127.0.0.1:12111" || c.APIKeyEnv != "MY_STRIPE_KEY" || c.State != "app.db" || c.UserResource != "customers" || c.MaxChanges != "10%" {
		t.Errorf("top level = %+v", c)
	}
	if len(c.Resources) != 2 || c.Resources[0].Name != "customers" || c.Resources[1].Name != "subscriptions" {
		t.Fatalf("resources = %+v", c.Resources)
	}
	r := c.Resources[0]
	if r.Table != "users" || r.Key != "stripe_customer_id" || r.UpdatedAt != "stripe_updated_at" || r.SoftDelete != "deleted_at" || len(r.Fields) != 4 {
		t.Errorf("customers = %+v", r)
	}
	if f := r.Fields[3]; f.Column != "vip" || f.Path != "metadata.vip" || f.Compare != "bool" {
		t.Errorf("vip = %+v", f)
	}
	if f := r.Fields[0]; f.Column != "email" || f.Path != "email" || f.Compare != "" {
		t.Errorf("email = %+v", f)
	}
	tbl := c.Resources[1].LocalTable()
	if tbl.Name != "subscriptions" || tbl.Key != "id" {
		t.Errorf("defaults = %+v", tbl)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"provider: stripe\nsate: app.db\n", "reconctl.yaml:2: sate: unknown key"},
		{"provider: [stripe]\n", "reconctl.yaml:1: provider: want a string, got a list"},
		{"rps: fast\n", `reconctl.yaml:1: rps: want a positive number, got "fast"`},
		{"concurrency: -2\n", "reconctl.yaml:1: concurrency: want a positive whole number"},
		{"resources:\n  customers:\n    fields:\n      vip: {path: metadata.vip, compare: boo}\n", `reconctl.yaml:4: resources.customers.fields.vip.compare: unknown compare mode "boo" (want one of exact, casefold, number, bool, time, json)`},
		{"resources:\n  customers:\n    tabel: users\n", "reconctl.yaml:3: resources.customers.tabel: unknown key"},
		{"resources:\n  customers:\n    fields:\n      email: {pth: email}\n", "reconctl.yaml:4: resources.customers.fields.email.pth: unknown key"},
		{"resources:\n  customers:\n    fields:\n      email: a..b\n", "malformed field path"},
		{"resources:\n  customers:\n    key: [a]\n", "reconctl.yaml:3: resources.customers.key: want a string"},
		{"provider: stripe\n  state: x\n", "reconctl.yaml:2: malformed YAML"},
		{"max_changes: lots\n", "reconctl.yaml:1: max_changes:"},
		{"- a\n- b\n", "must be a mapping"},
		{"provider: a\nprovider: b\n", "duplicate key"},
	}
	for _, c := range cases {
		_, err := Parse("reconctl.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", c.yaml, err, c.want)
		}
	}
}

func TestLoadResolvesPaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "reconctl.yaml")
	if err := os.WriteFile(p, []byte("provider: file:export.json\nstate: data/app.db\njournal: /abs/j.db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != filepath.Join(dir, "data/app.db") || c.Provider != "file:"+filepath.Join(dir, "export.json") || c.Journal != "/abs/j.db" {
		t.Errorf("paths = %q %q %q", c.State, c.Provider, c.Journal)
	}
	if _, err := Load(filepath.Join(dir, "nope.yaml")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file error = %v", err)
	}
}

func TestMaxChanges(t *testing.T) {
	for in, limit := range map[string]int{"500": 500, "10%": 100, "unlimited": -1, "": 100, "0": 0} {
		m, err := ParseMaxChanges(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := m.Limit(1000); got != limit {
			t.Errorf("%q.Limit(1000) = %d, want %d", in, got, limit)
		}
	}
	for _, bad := range []string{"-1", "x", "0%", "101%", "5 %x"} {
		if _, err := ParseMaxChanges(bad); err == nil {
			t.Errorf("ParseMaxChanges(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte("resources:\n  a: {fields: {x: {path: y, compare: time}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Parse("fuzz.yaml", data) // must not panic
	})
}

func TestReservedTables(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"resources:\n  runs:\n    table: reconctl_runs\n", `reconctl.yaml:3: resources.runs.table: table "reconctl_runs" is reserved`},
		{"resources:\n  runs:\n    key: id\n    table: RECONCTL_Events\n", `reconctl.yaml:4: resources.runs.table: table "RECONCTL_Events" is reserved`},
		{"resources:\n  customers:\n  reconctl_runs:\n", `reconctl.yaml:3: resources.reconctl_runs: table "reconctl_runs" is reserved`},
		{"resources:\n  Reconctl_Drift:\n    key: id\n", `reconctl.yaml:2: resources.Reconctl_Drift: table "Reconctl_Drift" is reserved`},
	}
	for _, c := range cases {
		_, err := Parse("reconctl.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.yaml, err, c.want)
		}
	}
	// A resource named reconctl_x stored in an ordinary table is fine, and so
	// is a table that only contains the word.
	for _, y := range []string{"resources:\n  reconctl_x:\n    table: users\n", "resources:\n  runs:\n    table: my_reconctl_runs\n"} {
		if _, err := Parse("reconctl.yaml", []byte(y)); err != nil {
			t.Errorf("%q: %v", y, err)
		}
	}
}

// TestJournalRetention: journal_retention: takes days, weeks or a Go
// duration; anything else, zero or negative is an error at its line.
func TestJournalRetention(t *testing.T) {
	for text, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "720h": 720 * time.Hour, " 1d ": 24 * time.Hour} {
		c, err := Parse("reconctl.yaml", []byte("provider: stripe\njournal_retention: \""+text+"\"\n"))
		if err != nil {
			t.Errorf("%q: %v", text, err)
			continue
		}
		if c.JournalRetention != want {
			t.Errorf("%q: %v, want %v", text, c.JournalRetention, want)
		}
	}
	c, err := Parse("reconctl.yaml", []byte("provider: stripe\n"))
	if err != nil || c.JournalRetention != 0 {
		t.Errorf("unset: %v, %v", c, err)
	}
	for _, bad := range []string{"90", "0d", "-1d", "d", "3 months", "1d2", "-5h", "90x", "[1]"} {
		_, err := Parse("reconctl.yaml", []byte("provider: stripe\n\njournal_retention: "+bad+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), "reconctl.yaml:3: journal_retention: ") {
			t.Errorf("%q: want an error at reconctl.yaml:3, got %v", bad, err)
		}
	}
}

// TestFullEvery: full_every: takes days, weeks or a Go duration, and
// rejects anything else with the file and line.
func TestFullEvery(t *testing.T) {
	c, err := Parse("reconctl.yaml", []byte("provider: stripe\nfull_every: 3d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.FullEvery != 72*time.Hour {
		t.Fatalf("FullEvery = %s", c.FullEvery)
	}
	if _, err := Parse("reconctl.yaml", []byte("provider: stripe\nfull_every: soon\n")); err == nil || !strings.Contains(err.Error(), "reconctl.yaml:2") {
		t.Fatalf("a bad full_every: %v", err)
	}
}
