package main

// Regression test (#15, review) of the JSON snapshot state's guarantee
// under a live app (README "Running against a live app"): the app rewrites
// the snapshot (x moved to v2) while the listing runs. The write conditions
// are checked against reconctl's in-memory copy (as scanned), so the guard
// is the file's (size, mtime) stamp: the whole apply is refused with exit 1
// (not a per-record conflict), the app's file survives, and the next run
// converges.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

func TestRaceJSONSnapshotLiveApp(t *testing.T) {
	const key = "sk_test_json"
	fake, srv := stripefake.NewServer(stripefake.Config{APIKey: key})
	defer srv.Close()
	now := time.Now()
	ids := fake.SeedCustomers(250, now.Add(-1000*time.Hour), now.Add(-time.Hour), func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "metadata": map[string]any{"plan": "v1"}}
	})
	x, d := ids[249], ids[5]
	var rows []map[string]any
	for i, id := range ids {
		plan := "v1"
		if id == x || id == d {
			plan = "v0"
		}
		rows = append(rows, map[string]any{"id": id, "email": fmt.Sprintf("u%d@example.com", i), "plan": plan})
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	write := func() {
		b, _ := json.MarshalIndent(map[string]any{"users": rows}, "", "  ")
		if err := os.WriteFile(state, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write()
	cfg := filepath.Join(dir, "reconctl.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("provider: stripe\napi_base: %s\napi_key_env: JSON_STRIPE_KEY\nstate: %q\nresources:\n  customers:\n    table: users\n    fields:\n      email: email\n      plan: metadata.plan\n", srv.URL, state)), 0o644)
	t.Setenv("JSON_STRIPE_KEY", key)
	fake.SetListHook(func(resource string, page int) {
		if resource != "customers" || page != 1 {
			return
		}
		fake.UpdateCustomer(x, map[string]any{"metadata": map[string]any{"plan": "v2"}})
		rows[249]["plan"] = "v2"
		write()
	})
	var out, errb bytes.Buffer
	code := run([]string{"reconctl", "diff", "--apply", "-c", cfg, "-o", "json", "--no-progress", "--rps", "1000", "--max-changes", "unlimited", "--reconfirm-after", "1000h"}, strings.NewReader(""), &out, &errb)
	b, _ := os.ReadFile(state)
	if code != 1 || !strings.Contains(errb.String(), "changed on disk") {
		t.Errorf("exit %d, want 1 with \"changed on disk\"\nstderr: %s", code, errb.String())
	}
	var snap map[string][]map[string]any
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	for _, r := range snap["users"] {
		if want := map[string]string{x: "v2", d: "v0"}[r["id"].(string)]; want != "" && r["plan"] != want {
			t.Errorf("%s: plan %v after the refused apply, want %s (the app's file as it wrote it)", r["id"], r["plan"], want)
		}
	}
	fake.SetListHook(nil)
	out.Reset()
	errb.Reset()
	if code := run([]string{"reconctl", "diff", "--apply", "-c", cfg, "-o", "json", "--no-progress", "--rps", "1000", "--max-changes", "unlimited"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Errorf("the next run: exit %d, want 0 (d fixed, x in sync)\n%s\n%s", code, out.String(), errb.String())
	}
}
