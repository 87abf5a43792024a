package commands

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// BenchmarkTenants: a diff over many small Stripe Connect accounts (20
// customers each, all in sync) against the same records held by one big
// account (the baseline, measured in the same run), both under one request
// budget (--rps). Reported: wall time against the floor (provider calls ÷
// rps) as x-floor, the calls, peak RSS and the journal's size on disk after
// the run (each case has its own journal file), and the JSON report's size
// per tenant (report-B/tenant). The measured diff runs as
// a subprocess, the reconctl binary built from this module (go build), so
// its peak RSS (rusage maxrss, reported as peak-rss-MB) is the run's alone,
// without the fake Stripe and its records, which stay in this process.
// The peak is the child's own VmHWM, read from /proc/PID/status while it
// runs (every 20 ms; the high-water mark only grows, so the last reading
// misses at most the last 20 ms): rusage's maxrss is no use here, as Linux
// carries the parent's high-water mark into an exec'd child's.
//
// Knobs: RECONCTL_BENCH_TENANTS (default 200), RECONCTL_BENCH_RPS (default
// 200), and RECONCTL_BENCH_BIG=N, which adds the case "big_next_to_small": one
// tenant of N records next to TENANTS-1 small ones.
//
//	RECONCTL_BENCH_TENANTS=10000 RECONCTL_BENCH_RPS=100 RECONCTL_BENCH_BIG=1000000 go test -run '^$' -bench Tenants -benchtime 1x -timeout 60m ./commands/
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
	// First: the binary of the code as it is when the benchmark starts.
	bin := buildReconctl(b, b.TempDir())
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: "sk_test_bench"})
	defer srv.Close()
	b.Setenv("STRIPE_API_KEY", "sk_test_bench")
	now := time.Now()
	from, to := now.Add(-365*24*time.Hour), now.Add(-time.Hour)
	var ids []string
	rows := map[string][]string{} // account → customer ids
	emails := map[string]func(i int) string{}
	seed := func(acct, prefix string, n int) {
		emails[acct] = func(i int) string { return fmt.Sprintf("%s-%d@example.com", prefix, i) }
		rows[acct] = f.Account(acct).SeedCustomers(n, from, to, func(i int) map[string]any {
			return map[string]any{"email": emails[acct](i)}
		})
	}
	for t := range tenants {
		id := fmt.Sprintf("acct_%05d", t)
		ids = append(ids, id)
		seed(id, id, perTenant)
	}
	seed("acct_big", "big", tenants*perTenant)
	if big > 0 {
		seed("acct_huge", "huge", big)
	}
	dir := b.TempDir()
	db := benchDB(b, dir, func(exec func(string, ...any)) {
		exec(`CREATE TABLE users (stripe_customer_id TEXT PRIMARY KEY, account TEXT NOT NULL, email TEXT)`)
		exec(`CREATE INDEX users_account ON users (account)`)
		// The same emails as the fake's, so the runs measured are all in
		// sync (cheaper than filling them with a resync of every tenant).
		for acct, cs := range rows {
			for i, c := range cs {
				exec(`INSERT INTO users VALUES (?, ?, ?)`, c, acct, emails[acct](i))
			}
		}
	})
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
	if big > 0 {
		// The small tenants are the first TENANTS-1 of many.
		mixed := write("mixed.yaml", strings.Join(append(append([]string{}, ids[:len(ids)-1]...), "acct_huge"), ", "))
		cases = append(cases, struct{ name, cfg string }{"big_next_to_small", mixed})
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
				cmd := exec.Command(bin, "diff", "-c", bc.cfg, "--journal", jpath, "--api-base", srv.URL, "-q", "-o", "json", "--rps", strconv.FormatFloat(rps, 'f', -1, 64), "--tenant-concurrency", "8")
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				start := time.Now()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				hwm := watchHWM(cmd.Process.Pid)
				err := cmd.Wait()
				wall := time.Since(start)
				peakKB := hwm()
				out := stdout.String()
				if err != nil || !strings.Contains(out, `"exit_code": 0`) {
					b.Fatalf("diff: %v\n%.2000s\n%.2000s", err, out, stderr.String())
				}
				rssMB := float64(peakKB) / 1024
				b.ReportMetric(rssMB, "peak-rss-MB")
				n := calls()
				floor := time.Duration(float64(n) / rps * float64(time.Second))
				b.ReportMetric(float64(n), "calls")
				b.ReportMetric(wall.Seconds()/floor.Seconds(), "x-floor")
				jsize := fileSizes(jpath, jpath+"-wal", jpath+"-shm")
				b.ReportMetric(float64(jsize), "journal-bytes")
				records, ntenants := tenants*perTenant, tenants
				switch bc.name {
				case "big_next_to_small":
					records = (tenants-1)*perTenant + big
				case "one_big_account":
					ntenants = 1
				}
				// The report lists every tenant (summary, exit code): what
				// the run must hold per tenant until it prints.
				b.ReportMetric(float64(len(out))/float64(ntenants), "report-B/tenant")
				b.Logf("%s: %d records, %d calls, wall %v, floor %v (calls/rps), %.2fx the floor, peak RSS of the run %.0f MB (this process with the fake: %s), journal %d bytes, report %d bytes (%d a tenant)", bc.name, records, n, wall.Round(time.Millisecond), floor.Round(time.Millisecond), wall.Seconds()/floor.Seconds(), rssMB, peakRSS(), jsize, len(out), len(out)/ntenants)
			}
		})
	}
}

// buildReconctl builds the reconctl binary (the module's main package) into
// dir, for benchmarks that measure a run as its own process.
func buildReconctl(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "reconctl")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/reconctl/reconctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// watchHWM polls process pid's VmHWM (its peak resident set, KiB) until
// the returned function is called, which stops and returns the highest
// reading.
func watchHWM(pid int) func() int64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var peak atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	read := func() {
		data, err := os.ReadFile(path)
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil && kb > peak.Load() {
					peak.Store(kb)
				}
			}
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			read()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return peak.Load()
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
