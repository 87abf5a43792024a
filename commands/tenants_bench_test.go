package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// BenchmarkTenants: a diff over many small Stripe Connect accounts (20
// customers each, all in sync) against the same records held by one big
// account (the baseline, measured in the same run), both under one request
// budget (--rps). Reported: wall time against the floor (provider calls ÷
// rps) as x-floor, the calls, peak RSS and the journal's size on disk after
// the run (each case has its own journal file).
//
// Knobs: RECONCTL_BENCH_TENANTS (default 200), RECONCTL_BENCH_RPS (default
// 200), and RECONCTL_BENCH_BIG=N, which adds the case "big_next_to_small": one
// tenant of N records next to TENANTS-1 small ones.
//
//	RECONCTL_BENCH_TENANTS=10000 RECONCTL_BENCH_RPS=100 RECONCTL_BENCH_BIG=200000 go test -run '^$' -bench Tenants -benchtime 1x -timeout 60m ./commands/
func BenchmarkTenants(b *testing.B) {
	tenants := 200
	if v, err := strconv.Atoi(os.Getenv("RECONCTL_BENCH_TENANTS")); err == nil && v > 0 {
		tenants = v
	}
	const perTenant = 20
	rps := 200.0
	if v, err := strconv.ParseFloat(os.Getenv("RECONCTL_BENCH_RPS"), 64); err == nil && v > 0 {
		rps = v
	}
	big := 0
	if v, err := strconv.Atoi(os.Getenv("RECONCTL_BENCH_BIG")); err == nil && v > 0 {
		big = v
	}
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: "sk_test_bench"})
	defer srv.Close()
	b.Setenv("STRIPE_API_KEY", "sk_test_bench")
	now := time.Now()
	from, to := now.Add(-365*24*time.Hour), now.Add(-time.Hour)
	var ids []string
	rows := map[string][]string{} // account → customer ids
	for t := range tenants {
		id := fmt.Sprintf("acct_%05d", t)
		ids = append(ids, id)
		rows[id] = f.Account(id).SeedCustomers(perTenant, from, to, func(i int) map[string]any {
			return map[string]any{"email": fmt.Sprintf("%s-%d@example.com", id, i)}
		})
	}
	rows["acct_big"] = f.Account("acct_big").SeedCustomers(tenants*perTenant, from, to, func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("big-%d@example.com", i)}
	})
	if big > 0 {
		rows["acct_huge"] = f.Account("acct_huge").SeedCustomers(big, from, to, func(i int) map[string]any {
			return map[string]any{"email": fmt.Sprintf("huge-%d@example.com", i)}
		})
	}
	dir := b.TempDir()
	db := benchDB(b, dir, func(exec func(string, ...any)) {
		exec(`CREATE TABLE users (stripe_customer_id TEXT PRIMARY KEY, account TEXT NOT NULL, email TEXT)`)
		exec(`CREATE INDEX users_account ON users (account)`)
		for acct, cs := range rows {
			for _, c := range cs {
				exec(`INSERT INTO users VALUES (?, ?, ?)`, c, acct, "")
			}
		}
	})
	// Emails in the database are filled from the fake, so both sides agree.
	write := func(name, list string) string {
		p := filepath.Join(dir, name)
		cfg := "provider: stripe\nstate: " + db + "\ntenants:\n  from: list\n  column: account\n  list: [" + list + "]\n" +
			"resources:\n  customers:\n    table: users\n    key: stripe_customer_id\n    fields:\n      email: email\n"
		if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
			b.Fatal(err)
		}
		return p
	}
	many, one := write("many.yaml", strings.Join(ids, ", ")), write("one.yaml", "acct_big")
	cases := []struct{ name, cfg string }{{"one_big_account", one}, {"many_accounts", many}}
	seed := []string{many, one}
	if big > 0 {
		// The small tenants are the first TENANTS-1 of many (already filled by its resync).
		mixed := write("mixed.yaml", strings.Join(append(append([]string{}, ids[:len(ids)-1]...), "acct_huge"), ", "))
		cases = append(cases, struct{ name, cfg string }{"big_next_to_small", mixed})
		seed = append(seed, write("huge.yaml", "acct_huge"))
	}
	// Fill the local emails once (a resync of every tenant), so the runs measured are all in sync.
	for _, cfg := range seed {
		if out, err := runCLI(b, "resync", "-c", cfg, "--api-base", srv.URL, "-q", "-o", "json", "--max-changes", "unlimited", "--rps", "1000", "--tenant-concurrency", "8"); err != nil {
			var errs []string
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, `"error": "`) {
					errs = append(errs, l)
				}
			}
			b.Fatalf("seeding: %v\n%s", err, strings.Join(errs, "\n"))
		}
	}
	calls := func() int {
		n := f.Stats().Requests
		for acct := range rows {
			n += f.Account(acct).Stats().Requests
		}
		return n
	}
	reset := func() {
		f.ResetStats()
		for acct := range rows {
			f.Account(acct).ResetStats()
		}
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				reset()
				jpath := filepath.Join(dir, bc.name+".journal.db")
				start := time.Now()
				out, err := runCLI(b, "diff", "-c", bc.cfg, "--journal", jpath, "--api-base", srv.URL, "-q", "-o", "json", "--rps", strconv.FormatFloat(rps, 'f', -1, 64), "--tenant-concurrency", "8")
				wall := time.Since(start)
				if err != nil || !strings.Contains(out, `"exit_code": 0`) {
					b.Fatalf("diff: %v\n%.2000s", err, out)
				}
				n := calls()
				floor := time.Duration(float64(n) / rps * float64(time.Second))
				b.ReportMetric(float64(n), "calls")
				b.ReportMetric(wall.Seconds()/floor.Seconds(), "x-floor")
				jsize := fileSizes(jpath, jpath+"-wal", jpath+"-shm")
				b.ReportMetric(float64(jsize), "journal-bytes")
				records := tenants * perTenant
				if bc.name == "big_next_to_small" {
					records = (tenants-1)*perTenant + big
				}
				b.Logf("%s: %d records, %d calls, wall %v, floor %v (calls/rps), peak RSS %s, journal %d bytes", bc.name, records, n, wall.Round(time.Millisecond), floor.Round(time.Millisecond), peakRSS(), jsize)
			}
		})
	}
}

// fileSizes is the total size of the files that exist among paths.
func fileSizes(paths ...string) int64 {
	var n int64
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}
