package demo_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/demo"
	"github.com/reconctl/reconctl/localstate"
)

// TestWriteDB: the app database holds the drifted rows the demo's story
// needs, and is never written over.
func TestWriteDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	if err := demo.WriteDB(path); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := localstate.Open(ctx, path, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	users := &localstate.Table{Resource: "customers", Name: "users", Key: "stripe_customer_id", SoftDelete: "deleted_at"}
	got := map[string]string{}
	if err := st.Scan(ctx, users, []string{"email", "plan", "signup_source"}, func(r localstate.Row) error {
		parts := make([]string, len(r.Values))
		for i, v := range r.Values {
			parts[i], _ = v.(string)
		}
		got[r.Key] = strings.Join(parts, " ")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cus_demo_ann":     "ann@example.com pro ads",
		"cus_demo_bob":     "bob@example.com free web",
		"cus_demo_cy":      "cy@example.com team web",
		"cus_demo_upgrade": "dee@example.com free referral",
		"cus_demo_leaver":  "gus@example.com pro web",
		"cus_demo_eve":     "eve@example.com pro web",
	}
	if len(got) != len(want) {
		t.Fatalf("users: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("users[%s] = %q, want %q", k, got[k], v)
		}
	}
	subs := &localstate.Table{Resource: "subscriptions", Name: "subscriptions", Key: "id"}
	n := 0
	if err := st.Scan(ctx, subs, []string{"price"}, func(r localstate.Row) error {
		n++
		if r.Key == "sub_demo_dee" && r.Values[0] != "price_starter" {
			t.Errorf("sub_demo_dee price %v, want price_starter", r.Values[0])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d subscriptions, want 3", n)
	}
	if err := demo.WriteDB(path); err == nil || !strings.Contains(err.Error(), "creating the demo database") {
		t.Fatalf("second WriteDB: %v, want an error", err)
	}
}

// TestConfigAndStripe: the demo's config loads and points at the fake
// Stripe, which serves the scenario's customers (the deleted one gone).
func TestConfigAndStripe(t *testing.T) {
	const key = "sk_test_demo_test"
	base, stop, err := demo.StartStripe(key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "reconctl.yaml")
	if err := os.WriteFile(cfgPath, []byte(demo.Config(base)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Provider != "stripe" || cfg.APIBase != base || cfg.APIKeyEnv != demo.KeyEnv || len(cfg.Resources) != 2 {
		t.Fatalf("config: provider %q api_base %q key env %q, %d resources", cfg.Provider, cfg.APIBase, cfg.APIKeyEnv, len(cfg.Resources))
	}
	req, _ := http.NewRequest("GET", base+"/v1/customers?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"cus_demo_new"`) || strings.Contains(string(body), `"cus_demo_leaver"`) {
		t.Fatalf("GET /v1/customers: %d %s", resp.StatusCode, body)
	}
	notes := demo.Notes(cfgPath, filepath.Join(dir, "app.db"))
	if !strings.Contains(notes, "reconctl history --config "+cfgPath) {
		t.Fatalf("notes lack the history command:\n%s", notes)
	}
}
