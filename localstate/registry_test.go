package localstate_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

func TestRegistryLookup(t *testing.T) {
	for loc, want := range map[string]string{
		"app.db": "sqlite", "x/APP.SQLITE": "sqlite", "a.sqlite3": "sqlite", "s.json": "json",
		"postgres://app:pw@db/app": "postgres", "postgresql://db/app": "postgres", "mysql://u:p@h/db": "mysql",
	} {
		b, err := localstate.Lookup(loc)
		if err != nil || b.Name != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", loc, b, err, want)
		}
	}
	_, err := localstate.Lookup("state.csv")
	if err == nil || !strings.Contains(err.Error(), `files ending in ".csv" are not a kind of state reconctl reads; use a SQLite database (.db, .sqlite, .sqlite3) or a JSON snapshot (.json)`) {
		t.Errorf("unknown extension: %v", err)
	}
	_, err = localstate.Lookup("redis://u:secret@h/0")
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "redis://") {
		t.Errorf("unknown scheme: want an error naming the scheme without the password, got %v", err)
	}
}

func TestRegistryDSN(t *testing.T) {
	const dsn = "postgres://app:s3cret@db/app?sslmode=disable"
	if localstate.IsFile(dsn) || !localstate.IsFile("data/app.db") || !localstate.IsFile(`C:\data\app.db`) {
		t.Error("IsFile: a DSN is not a file, paths are")
	}
	if got := localstate.RedactLocation(dsn); got != "postgres://app:***@db/app?sslmode=disable" {
		t.Errorf("RedactLocation = %q", got)
	}
	if got := localstate.RedactLocation("mysql://u@h/db?password=pw"); strings.Contains(got, "pw") {
		t.Errorf("RedactLocation kept a query password: %q", got)
	}
	// Both at once (user:pw@ and ?password=): both are masked.
	for _, c := range []struct{ in, want string }{
		{"postgres://app:one@db/app?password=two&sslmode=disable", "postgres://app:***@db/app?password=***&sslmode=disable"},
		{"mysql://u:one@h:3306/db?password=two", "mysql://u:***@h:3306/db?password=***"},
		{"postgresql://app@db/app?password=two", "postgresql://app@db/app?password=***"},
	} {
		if got := localstate.RedactLocation(c.in); got != c.want || strings.Contains(got, "one") || strings.Contains(got, "two") {
			t.Errorf("RedactLocation(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := localstate.RedactLocation("app.db"); got != "app.db" {
		t.Errorf("RedactLocation of a path = %q", got)
	}
	_, err := localstate.Open(context.Background(), dsn, localstate.OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "app:***@db") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open(postgres DSN of an unknown host): want a clear error without the password, got %v", err)
	}
	if _, err := localstate.LockFileOf(dsn); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("LockFileOf(DSN): want an error without the password, got %v", err)
	}
}

func TestRegistryJournalAndLock(t *testing.T) {
	p, err := localstate.JournalOf("app.db")
	if err != nil || p != (localstate.JournalPlace{Location: "app.db", InState: true}) {
		t.Errorf("JournalOf(app.db) = %+v, %v", p, err)
	}
	p, err = localstate.JournalOf("s.json")
	if err != nil || p != (localstate.JournalPlace{Location: "s.json.reconctl.db", Create: true}) {
		t.Errorf("JournalOf(s.json) = %+v, %v", p, err)
	}
	if f, err := localstate.LockFileOf("s.json"); err != nil || f != "s.json" {
		t.Errorf("LockFileOf(s.json) = %q, %v", f, err)
	}
	path := filepath.Join(t.TempDir(), "s.json")
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	// sha256("{}")
	if sum, err := localstate.FingerprintOf(path); err != nil || sum != "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Errorf("FingerprintOf(json) = %q, %v", sum, err)
	}
	if _, err := localstate.FingerprintOf("app.db"); err == nil {
		t.Error("a SQLite state has no fingerprint: its writes are transactional")
	}
}

// A new store is one Register call: the registry opens it by extension.
func TestRegisterBackend(t *testing.T) {
	opened := ""
	t.Cleanup(func() { localstate.Unregister("test"); localstate.Unregister("test2") })
	localstate.Register(localstate.Backend{Name: "test", Title: "a test state", Extensions: []string{".regtest"},
		Open: func(ctx context.Context, loc string, opts localstate.OpenOptions) (localstate.Store, error) {
			opened = loc
			return nil, os.ErrInvalid
		}})
	path := filepath.Join(t.TempDir(), "x.regtest")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := localstate.Open(context.Background(), path, localstate.OpenOptions{}); err != os.ErrInvalid || opened != path {
		t.Errorf("Open through a registered backend: %v, opened %q", err, opened)
	}
	if _, err := localstate.Open(context.Background(), filepath.Join(t.TempDir(), "missing.regtest"), localstate.OpenOptions{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file through a registered backend: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering .regtest twice must panic")
		}
	}()
	localstate.Register(localstate.Backend{Name: "test2", Extensions: []string{".REGTEST"}})
}

func TestHasPassword(t *testing.T) {
	for loc, want := range map[string]bool{
		"app.db":                              false,
		"postgres://app@db/app":               false,
		"postgres://app:s3cret@db/app":        true,
		"postgresql://db/app?password=s3cret": true,
		"mysql://root@127.0.0.1:3306/test":    false,
		"mysql://root:pw@127.0.0.1:3306/test": true,
		"postgres://app:%zz@db/app":           true, // unparsable: assume a password
	} {
		if got := localstate.HasPassword(loc); got != want {
			t.Errorf("HasPassword(%q) = %v, want %v", loc, got, want)
		}
	}
}
