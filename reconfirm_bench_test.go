package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// BenchmarkReconfirm100k: what the re-reads before writing cost (issue
// #15). A 100,000-customer diff --apply with 1% drift (1,000 changed
// records) against the fake Stripe answering every call after 100 ms, run
// twice in the same benchmark on copies of one state: with
// --reconfirm-after 1000h (no re-reads) and with --reconfirm-after 0 (every
// planned write re-read). It reports the extra provider calls and the extra
// wall time of the second run. --rps is lifted so the figures are the
// latency's, not the pacing's: at Stripe's 25 req/s each extra call costs
// 40 ms of the request budget on top.
//
//	go test -run '^$' -bench Reconfirm100k -benchtime 1x .
//
// RECONCTL_BENCH_N changes the record count (default 100000).
func BenchmarkReconfirm100k(b *testing.B) {
	n := 100_000
	if v := os.Getenv("RECONCTL_BENCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	const key = "sk_test_bench"
	fake, srv := stripefake.NewServer(stripefake.Config{APIKey: key})
	defer srv.Close()
	now := time.Now()
	ids := fake.SeedCustomers(n, now.Add(-10000*time.Hour), now.Add(-time.Hour), func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "metadata": map[string]any{"plan": "v1"}}
	})
	dir := b.TempDir()
	base := filepath.Join(dir, "base.db")
	if err := localstate.CreateSQLite(context.Background(), base, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, plan TEXT)`); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+base)
	if err != nil {
		b.Fatal(err)
	}
	tx, _ := db.Begin()
	st, _ := tx.Prepare(`INSERT INTO users VALUES (?, ?, ?)`)
	for i, id := range ids {
		plan := "v1"
		if i%100 == 7 {
			plan = "v0" // 1% drift
		}
		if _, err := st.Exec(id, fmt.Sprintf("u%d@example.com", i), plan); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	db.Close()
	b.Setenv("BENCH_STRIPE_KEY", key)
	fake.SetFaults(stripefake.Faults{Latency: 100 * time.Millisecond})

	diff := func(i int, reconfirm string) (calls int, took time.Duration) {
		state := filepath.Join(dir, fmt.Sprintf("run%d-%s.db", i, reconfirm))
		copyFile(b, base, state)
		cfg := filepath.Join(dir, "reconctl.yaml")
		body := fmt.Sprintf("provider: stripe\napi_base: %s\napi_key_env: BENCH_STRIPE_KEY\nstate: %q\nresources:\n  customers:\n    table: users\n    fields:\n      email: email\n      plan: metadata.plan\n", srv.URL, state)
		if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
		fake.ResetStats()
		var out bytes.Buffer
		t0 := time.Now()
		code := run([]string{"reconctl", "diff", "--apply", "-c", cfg, "-o", "json", "-q", "--no-progress", "--rps", "100000", "--max-changes", "unlimited", "--reconfirm-after", reconfirm},
			strings.NewReader(""), &out, io.Discard)
		took = time.Since(t0)
		if code != 0 {
			b.Fatalf("diff --apply --reconfirm-after %s: exit %d\n%s", reconfirm, code, out.String())
		}
		return fake.Stats().Requests, took
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		calls0, t0 := diff(i, "1000h")
		calls1, t1 := diff(i, "0")
		b.ReportMetric(float64(calls0), "calls_no_reread")
		b.ReportMetric(float64(calls1-calls0), "extra_calls")
		b.ReportMetric(t0.Seconds(), "s_no_reread")
		b.ReportMetric((t1 - t0).Seconds(), "extra_s")
	}
}

func copyFile(b *testing.B, from, to string) {
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		b.Fatal(err)
	}
}
