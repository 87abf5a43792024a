package main

// Reviewer's test (#15): conditional writes on typed columns must not
// report false conflicts (the scan and the apply's locking read must agree
// on every compared column's canonical form), or diff --apply never converges.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

func TestRaceTypedNoFalseConflict(t *testing.T) {
	ddl := map[string]string{
		"sqlite":   `CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, email TEXT, plan TEXT, balance INTEGER, delinquent BOOLEAN, created TEXT, price NUMERIC, meta TEXT, updated_at TEXT)`,
		"postgres": `CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, email VARCHAR(255), plan VARCHAR(64), balance INTEGER, delinquent BOOLEAN, created TIMESTAMPTZ, price NUMERIC(10,2), meta JSONB, updated_at TIMESTAMPTZ(3))`,
		"mysql":    `CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, email VARCHAR(255), plan VARCHAR(64), balance INT, delinquent BOOLEAN, created DATETIME, price DECIMAL(10,2), meta JSON, updated_at DATETIME(3))`,
	}
	for _, kind := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			var loc string
			var exec func(q string, args ...any) error
			if kind == "sqlite" {
				loc = filepath.Join(t.TempDir(), "app.db")
				if err := localstate.CreateSQLite(context.Background(), loc, ddl[kind]); err != nil {
					t.Fatal(err)
				}
				db, err := sqlOpenSQLite(loc)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				exec = func(q string, args ...any) error { _, err := db.Exec(q, args...); return err }
			} else {
				d := servertest.New(t, kind)
				d.Exec(t, ddl[kind])
				loc = d.DSN
				exec = func(q string, args ...any) error {
					if kind == "postgres" {
						q = strings.Replace(q, "?", "$1", 1)
					}
					_, err := d.SQL.Exec(q, args...)
					return err
				}
			}
			const key = "sk_test_types"
			fake, srv := stripefake.NewServer(stripefake.Config{APIKey: key})
			defer srv.Close()
			now := time.Now()
			ids := fake.SeedCustomers(30, now.Add(-100*time.Hour), now.Add(-time.Hour), func(i int) map[string]any {
				return map[string]any{"email": fmt.Sprintf("U%d@example.com", i), "balance": i * 100, "delinquent": i%2 == 0,
					"metadata": map[string]any{"plan": "v1", "price": fmt.Sprintf("%d.50", i)}}
			})
			cfg := filepath.Join(t.TempDir(), "reconctl.yaml")
			body := fmt.Sprintf(`provider: stripe
api_base: %s
api_key_env: TYPES_STRIPE_KEY
state: %q
resources:
  customers:
    table: users
    fields:
      email: {path: email, compare: casefold}
      plan: metadata.plan
      balance: {path: balance, compare: number}
      delinquent: {path: delinquent, compare: bool}
      created: {path: created, compare: time}
      price: {path: metadata.price, compare: number}
      meta: {path: metadata, compare: json}
`, srv.URL, loc)
			if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("TYPES_STRIPE_KEY", key)
			diff := func(args ...string) (int, map[string]any, string) {
				var out, errb bytes.Buffer
				argv := append([]string{"reconctl", "diff", "-c", cfg, "-o", "json", "--no-progress", "--rps", "1000", "--max-changes", "unlimited", "--reconfirm-after", "1000h"}, args...)
				if kind != "sqlite" {
					argv = append(argv, "--journal", filepath.Join(t.TempDir(), "j.db"))
				}
				code := run(argv, strings.NewReader(""), &out, &errb)
				var rep map[string]any
				_ = json.Unmarshal(out.Bytes(), &rep)
				return code, rep, errb.String() + out.String()
			}
			if code, _, s := diff("--apply"); code != 0 {
				t.Fatalf("first apply (creates): exit %d\n%s", code, s)
			}
			if code, _, s := diff(); code != 0 {
				t.Fatalf("diff after creates: exit %d\n%s", code, s)
			}
			// Drift one compared column locally on a few rows: the fix is an update.
			for _, id := range ids[:3] {
				if err := exec(`UPDATE users SET plan = 'v0' WHERE id = ?`, id); err != nil {
					t.Fatal(err)
				}
			}
			code, rep, s := diff("--apply")
			if code != 0 {
				t.Errorf("apply of 3 updates with nothing concurrent: exit %d (false conflicts?)\n%s", code, s)
			}
			_ = rep
		})
	}
}

func sqlOpenSQLite(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
}
