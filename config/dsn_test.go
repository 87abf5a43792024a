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
