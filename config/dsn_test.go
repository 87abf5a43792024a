package config

import (
	"os"
	"path/filepath"
	"testing"
)

// A server DSN as the state is a location, not a path: Load must not join it
// onto the config file's directory (issue #13; the stores come in #14).
func TestLoadLeavesDSNsAlone(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "reconctl.yaml")
	const dsn = "postgres://u:p@h/db"
	if err := os.WriteFile(p, []byte("provider: stripe\nstate: "+dsn+"\njournal: mysql://j:pw@h/j\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != dsn {
		t.Errorf("state = %q, want the DSN untouched %q", c.State, dsn)
	}
	if c.Journal != "mysql://j:pw@h/j" {
		t.Errorf("journal = %q, want the DSN untouched", c.Journal)
	}
}

// password_env: and schema: are read for a server state (#14).
func TestServerKeys(t *testing.T) {
	c, err := Parse("r.yaml", []byte("state: postgres://app@db/app\npassword_env: APP_DB_PASSWORD\nschema: billing\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.PasswordEnv != "APP_DB_PASSWORD" || c.Schema != "billing" {
		t.Errorf("password_env = %q, schema = %q", c.PasswordEnv, c.Schema)
	}
	if _, err := Parse("r.yaml", []byte("schema: [a]\n")); err == nil {
		t.Error("schema: [a] parsed; want an error")
	}
}
