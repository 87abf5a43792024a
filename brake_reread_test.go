package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// A plan the brake refuses is refused before any re-read is spent on it
// (#15 review): 60 drifted records, --max-changes 5, --reconfirm-after 0:
// exit 3 and no single-object GET.
func TestBrakeBeforeRereads(t *testing.T) {
	const key = "sk_test_brake"
	fake, _ := stripefake.NewServer(stripefake.Config{APIKey: key})
	var gets atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/customers/cus_") {
			gets.Add(1)
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	now := time.Now()
	ids := fake.SeedCustomers(100, now.Add(-1000*time.Hour), now.Add(-time.Hour), func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "metadata": map[string]any{"plan": "v1"}}
	})
	var rows []string
	for i, id := range ids {
		plan := "v1"
		if i < 60 {
			plan = "v0"
		}
		rows = append(rows, fmt.Sprintf("INSERT INTO users VALUES ('%s', 'u%d@example.com', '%s');", id, i, plan))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	if err := localstate.CreateSQLite(t.Context(), path, "CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, email VARCHAR(255), plan VARCHAR(64));\n"+strings.Join(rows, "\n")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "reconctl.yaml")
	y := fmt.Sprintf("provider: stripe\napi_base: %s\napi_key_env: BRAKE_STRIPE_KEY\nstate: %q\nresources:\n  customers:\n    table: users\n    fields:\n      email: email\n      plan: metadata.plan\n", srv.URL, path)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BRAKE_STRIPE_KEY", key)
	var out, errb bytes.Buffer
	argv := []string{"reconctl", "diff", "-c", cfg, "-o", "json", "--no-progress", "--rps", "1000", "--apply", "--reconfirm-after", "0", "--max-changes", "5"}
	code := run(argv, strings.NewReader(""), &out, &errb)
	var rep struct {
		ExitCode int             `json:"exit_code"`
		Brake    json.RawMessage `json:"brake"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out.String(), errb.String())
	}
	if code != 3 || rep.ExitCode != 3 || len(rep.Brake) == 0 {
		t.Fatalf("exit %d (report %d), brake %s: want the brake's refusal", code, rep.ExitCode, rep.Brake)
	}
	if n := gets.Load(); n != 0 {
		t.Errorf("the brake refused the plan, but %d single-object re-reads were made first", n)
	}
}
