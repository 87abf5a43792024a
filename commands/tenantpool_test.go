package commands

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// A run over many tenants sends every tenant's calls through one connection
// pool: the fake Stripe sees about as many connections as tenants run at
// once, not one (or more) per tenant; for diff and for replay. With a pool per tenant each tenant
// dials its own connection and leaves it idle, with its goroutines and
// buffers, for 90 s: memory grows with the number of tenants.
func TestTenantsShareConnections(t *testing.T) {
	const tenants, perTenant, concurrency = 40, 2, 2
	f := stripefake.New(stripefake.Config{APIKey: "sk_test_pool"})
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	t.Setenv("STRIPE_API_KEY", "sk_test_pool")
	now := time.Now()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE users (stripe_customer_id TEXT PRIMARY KEY, account TEXT NOT NULL, email TEXT)`)
	var ids []string
	for i := range tenants {
		acct := fmt.Sprintf("acct_%03d", i)
		ids = append(ids, acct)
		cs := f.Account(acct).SeedCustomers(perTenant, now.Add(-48*time.Hour), now.Add(-time.Hour), func(j int) map[string]any {
			return map[string]any{"email": fmt.Sprintf("%s-%d@example.com", acct, j)}
		})
		for j, c := range cs {
			exec(`INSERT INTO users VALUES (?, ?, ?)`, c, acct, fmt.Sprintf("%s-%d@example.com", acct, j))
		}
	}
	cfg := filepath.Join(dir, "reconctl.yaml")
	yaml := "provider: stripe\nstate: " + filepath.Join(dir, "app.db") + "\ntenants:\n  from: list\n  column: account\n  list: [" + strings.Join(ids, ", ") + "]\n" +
		"resources:\n  customers:\n    table: users\n    key: stripe_customer_id\n    fields:\n      email: email\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"diff"}, {"replay", "--since", "24h"}} {
		opened.Store(0)
		var out, errb bytes.Buffer
		app := New(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		err := app.RunContext(context.Background(), Interspersed(app, append(append([]string{"reconctl"}, args...), "-c", cfg, "--journal", filepath.Join(dir, "j.db"),
			"--api-base", srv.URL, "-q", "-o", "json", "--tenant-concurrency", fmt.Sprint(concurrency))))
		if err != nil || !strings.Contains(out.String(), `"exit_code": 0`) {
			t.Fatalf("%s: %v\n%.2000s\n%.2000s", args[0], err, out.String(), errb.String())
		}
		for _, id := range ids {
			if !strings.Contains(out.String(), `"tenant": "`+id+`"`) {
				t.Fatalf("%s: the report has no section for tenant %s:\n%.2000s", args[0], id, out.String())
			}
		}
		// The platform's provider (it names the resources) may dial its own.
		if n := opened.Load(); n > 2*concurrency+1 {
			t.Errorf("%s: %d tenants at %d at a time opened %d connections: want one pool reused from tenant to tenant (at most %d)", args[0], tenants, concurrency, n, 2*concurrency+1)
		}
	}
}
