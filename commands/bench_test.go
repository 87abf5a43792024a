package commands

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
	"github.com/reconctl/reconctl/reconcile"
)

// peakRSS is VmHWM from /proc (Linux); "?" elsewhere.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "?"
}

// childVmHWM is the "child: VmHWM N kB" line a bench child prints last, in MB.
func childVmHWM(out string) (float64, bool) {
	i := strings.LastIndex(out, "child: VmHWM ")
	if i < 0 {
		return 0, false
	}
	var kb float64
	if _, err := fmt.Sscanf(out[i:], "child: VmHWM %f kB", &kb); err != nil {
		return 0, false
	}
	return kb / 1024, true
}

func benchDB(b *testing.B, dir string, rows func(exec func(q string, args ...any))) string {
	path := filepath.Join(dir, "app.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, _ := db.Begin()
	rows(func(q string, args ...any) {
		if _, err := tx.Exec(q, args...); err != nil {
			b.Fatal(err)
		}
	})
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return path
}

func runCLI(b *testing.B, args ...string) (string, error) {
	var out, errb bytes.Buffer
	app := New(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	err := app.RunContext(context.Background(), Interspersed(app, append([]string{"reconctl"}, args...)))
	if err != nil {
		if _, ok := err.(*ExitError); !ok {
			b.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
	}
	return out.String(), err
}

// BenchmarkCheckUserLatency: check-user of a customer with subscriptions
// against the fake Stripe with 100 ms added to every call.
//
//	go test -run '^$' -bench CheckUserLatency -benchtime 10x ./commands/
func BenchmarkCheckUserLatency(b *testing.B) {
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: "sk_test_bench"})
	defer srv.Close()
	f.CreateCustomer(map[string]any{"id": "cus_bench", "email": "bench@example.com", "metadata": map[string]any{"plan": "pro"}})
	for i := 0; i < 3; i++ {
		if _, err := f.CreateSubscription(map[string]any{"customer": "cus_bench"}); err != nil {
			b.Fatal(err)
		}
	}
	f.SetFaults(stripefake.Faults{Latency: 100 * time.Millisecond})
	dir := b.TempDir()
	benchDB(b, dir, func(exec func(string, ...any)) {
		exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, stripe_customer_id TEXT, email TEXT, plan TEXT)`)
		exec(`INSERT INTO users (stripe_customer_id, email, plan) VALUES ('cus_bench', 'bench@example.com', 'free')`)
		exec(`CREATE TABLE subscriptions (id TEXT PRIMARY KEY, customer TEXT, status TEXT)`)
	})
	cfg := fmt.Sprintf("provider: stripe\napi_base: %s\nstate: app.db\nresources:\n  customers:\n    table: users\n    key: stripe_customer_id\n    fields:\n      email: email\n      plan: metadata.plan\n  subscriptions:\n    fields:\n      customer: customer\n      status: status\n", srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "reconctl.yaml"), []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Setenv("STRIPE_API_KEY", "sk_test_bench")
	for _, q := range []string{"cus_bench", "bench@example.com"} {
		b.Run(strings.NewReplacer("@", "_at_").Replace(q), func(b *testing.B) {
			f.ResetStats()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				out, _ := runCLI(b, "check-user", q, "-c", filepath.Join(dir, "reconctl.yaml"))
				if !strings.Contains(out, "Verdict: drifted") {
					b.Fatalf("unexpected report:\n%s", out)
				}
			}
			b.ReportMetric(float64(f.Stats().Requests)/float64(b.N), "calls/op")
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/op")
		})
	}
}

// BenchmarkDiffStripe100k: reconctl diff of 100,000 customers on the fake
// Stripe API (no added latency) against an app database with 1% drift.
//
//	go test -run '^$' -bench DiffStripe100k -benchtime 1x ./commands/
func BenchmarkDiffStripe100k(b *testing.B) {
	const n = 100_000
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: "sk_test_bench"})
	defer srv.Close()
	to := time.Now().Add(-time.Hour)
	from := to.Add(-365 * 24 * time.Hour)
	ids := f.SeedCustomers(n, from, to, func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("user%d@example.com", i), "metadata": map[string]any{"plan": []string{"free", "pro"}[i%2]}}
	})
	dir := b.TempDir()
	benchDB(b, dir, func(exec func(string, ...any)) {
		exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, stripe_customer_id TEXT UNIQUE, email TEXT, plan TEXT)`)
		for i, id := range ids {
			if i%100 == 1 {
				continue // missed creates
			}
			plan := []string{"free", "pro"}[i%2]
			if i%100 == 3 {
				plan = "legacy"
			}
			exec(`INSERT INTO users (stripe_customer_id, email, plan) VALUES (?, ?, ?)`, id, fmt.Sprintf("user%d@example.com", i), plan)
		}
		for i := 0; i < n/100; i++ {
			exec(`INSERT INTO users (stripe_customer_id, email, plan) VALUES (?, 'gone@example.com', 'free')`, fmt.Sprintf("cus_gone%06d", i))
		}
	})
	cfg := fmt.Sprintf("provider: stripe\napi_base: %s\nstate: app.db\nresources:\n  customers:\n    table: users\n    key: stripe_customer_id\n    fields:\n      email: email\n      plan: metadata.plan\n", srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "reconctl.yaml"), []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Setenv("STRIPE_API_KEY", "sk_test_bench")
	runtime.GC()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.ResetStats()
		out, _ := runCLI(b, "diff", "-c", filepath.Join(dir, "reconctl.yaml"), "-o", "ndjson", "--rps", "1000", "--concurrency", "8")
		if !strings.Contains(out, `"missing_local":1000,"missing_remote":1000,"changed":1000`) {
			b.Fatalf("unexpected summary: %s", out[strings.LastIndex(out, `{"summary"`):])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(f.Stats().Requests), "requests")
	fmt.Fprintf(os.Stderr, "peak RSS (fake server in the same process): %s\n", peakRSS())
}

// BenchmarkReplay100k: replay of 100,000 events (customer.created and
// customer.updated for 50,000 customers) from the fake Stripe API into SQLite,
// next to its baseline measured in the same run: "bare" reads the same
// events from the same fake through the same Stripe client and writes the
// same rows (each chunk's net upserts of users plus one event row and one
// version row per event) in the same batches of 500, one transaction each,
// with database/sql. Each side runs in a child process (this test binary,
// TestBenchChild), so its peak RSS (the VmHWM it prints at its end) is its
// own, not the fake's, which stays in this process. For a closer look,
// RECONCTL_BENCH_TRACE=FILE keeps each child's stderr (with GODEBUG=gctrace=1,
// its heap over time), RECONCTL_BENCH_CPUPROF=FILE and
// RECONCTL_BENCH_HEAPPROF=FILE write its CPU profile and its heap at the
// largest.
//
//	go test -run '^$' -bench Replay100k -benchtime 1x ./commands/
func BenchmarkReplay100k(b *testing.B) {
	const n = 100_000
	f, srv := stripefake.NewServer(stripefake.Config{APIKey: "sk_test_bench"})
	defer srv.Close()
	start := time.Now().Add(-20 * time.Hour)
	for i := 0; i < n; i++ {
		typ := "customer.created"
		if i%2 == 1 {
			typ = "customer.updated"
		}
		id := fmt.Sprintf("cus_%06d", i/2)
		f.AddEvent(typ, map[string]any{"id": id, "object": "customer", "email": fmt.Sprintf("user%d@example.com", i/2),
			"metadata": map[string]any{"plan": []string{"free", "pro"}[i%2]}}, start.Add(time.Duration(i)*500*time.Millisecond))
	}
	b.Setenv("STRIPE_API_KEY", "sk_test_bench")
	for _, mode := range []string{"reconctl", "bare"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				benchDB(b, dir, func(exec func(string, ...any)) {
					exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, stripe_customer_id TEXT UNIQUE, email TEXT, plan TEXT)`)
				})
				cfg := fmt.Sprintf("provider: stripe\napi_base: %s\nstate: app.db\nresources:\n  customers:\n    table: users\n    key: stripe_customer_id\n    fields:\n      email: email\n      plan: metadata.plan\n", srv.URL)
				if err := os.WriteFile(filepath.Join(dir, "reconctl.yaml"), []byte(cfg), 0o644); err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(os.Args[0], "-test.run", "^TestBenchChild$", "-test.count", "1")
				cmd.Env = append(os.Environ(), "RECONCTL_BENCH_CHILD="+mode, "RECONCTL_BENCH_DIR="+dir, "RECONCTL_BENCH_API="+srv.URL)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if tr := os.Getenv("RECONCTL_BENCH_TRACE"); tr != "" {
					fe, _ := os.Create(tr + "." + mode)
					defer fe.Close()
					cmd.Stderr = fe
				}
				b.StartTimer()
				t0 := time.Now()
				err := cmd.Run()
				el := time.Since(t0)
				b.StopTimer()
				if err != nil || !strings.Contains(out.String(), "child: applied 100000") && !strings.Contains(out.String(), `"applied":100000`) {
					b.Fatalf("%s: %v\n%s", mode, err, out.String()[max(0, out.Len()-600):])
				}
				b.ReportMetric(float64(n)/el.Seconds(), "events/s")
				// The child's own peak: its VmHWM, which it prints last. Not
				// getrusage's maxrss: a child started with vfork inherits the
				// parent's high-water mark at exec, here the fake's 100k
				// events (about 180 MB), which hid any child below it.
				if mb, ok := childVmHWM(out.String()); ok {
					b.ReportMetric(mb, "peakRSS-MB")
				} else if mb, ok := childPeakRSS(cmd.ProcessState); ok {
					b.ReportMetric(mb, "peakRSS-MB")
				}
				// CPU seconds of the child: less at the mercy of a busy machine than events/s.
				b.ReportMetric((cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds(), "cpu-s")
			}
		})
	}
}

// TestBenchChild is BenchmarkReplay100k's child process (skipped unless
// the benchmark starts it): RECONCTL_BENCH_CHILD=reconctl runs reconctl
// replay, =bare its baseline.
func TestBenchChild(t *testing.T) {
	mode, dir := os.Getenv("RECONCTL_BENCH_CHILD"), os.Getenv("RECONCTL_BENCH_DIR")
	if mode == "" {
		t.Skip("run by BenchmarkReplay100k only")
	}
	ctx := context.Background()
	defer func() { fmt.Printf("\nchild: VmHWM %s\n", peakRSS()) }() // the parent's peakRSS-MB
	if prof := os.Getenv("RECONCTL_BENCH_CPUPROF"); prof != "" {
		if f, err := os.Create(prof + "." + mode); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if prof := os.Getenv("RECONCTL_BENCH_HEAPPROF"); prof != "" {
		// The heap at its largest live size (as of the last GC), for a profile.
		go func() {
			var best uint64
			for {
				time.Sleep(50 * time.Millisecond)
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > best+best/10 {
					best = ms.HeapAlloc
					if f, err := os.Create(prof); err == nil {
						_ = pprof.WriteHeapProfile(f)
						f.Close()
					}
				}
			}
		}()
	}
	switch mode {
	case "reconctl":
		// The report goes straight to stdout (the parent keeps it), as
		// reconctl's would: the child holds no copy of it.
		app := New(IO{In: strings.NewReader(""), Out: os.Stdout, Err: os.Stderr})
		err := app.RunContext(ctx, Interspersed(app, []string{"reconctl", "replay", "--since", "1d", "-c", filepath.Join(dir, "reconctl.yaml"),
			"-o", "ndjson", "--rps", "1000", "--max-changes", "unlimited"}))
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
	case "bare":
		fmt.Printf("child: applied %d\n", bareReplay(t, ctx, dir, os.Getenv("RECONCTL_BENCH_API")))
	default:
		t.Fatalf("unknown mode %q", mode)
	}
}

// bareReplay is the replay baseline: the same events through the same
// client, the same rows written in the same batches, nothing else.
func bareReplay(t *testing.T, ctx context.Context, dir, api string) int {
	p, err := providers.Open(providers.Options{Spec: "stripe", APIBase: api, RPS: 1000, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	src := providers.FeaturesOf(p).Events
	q := providers.EventQuery{Since: time.Now().Add(-24 * time.Hour), Until: time.Now(), Types: providers.FeaturesOf(p).EventTypes.EventTypesFor([]string{"customers"})}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, ddl := range []string{
		`CREATE TABLE events (provider TEXT, target TEXT, event_id TEXT, run_id TEXT, event_type TEXT, created_at TEXT, outcome TEXT, processed_at TEXT, PRIMARY KEY (provider, target, event_id))`,
		`CREATE TABLE versions (provider TEXT, resource TEXT, object_id TEXT, version_at TEXT, event_id TEXT, source TEXT, PRIMARY KEY (provider, resource, object_id))`,
	} {
		if _, err := db.Exec(ddl); err != nil {
			t.Fatal(err)
		}
	}
	var batch []providers.Event
	applied := 0
	flush := func() {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		net := map[string]providers.Event{}
		var order []string
		for _, e := range batch {
			if _, ok := net[e.ObjectID]; !ok {
				order = append(order, e.ObjectID)
			}
			net[e.ObjectID] = e
		}
		up, _ := tx.Prepare(`INSERT INTO users (stripe_customer_id, email, plan) VALUES (?, ?, ?) ON CONFLICT (stripe_customer_id) DO UPDATE SET email = excluded.email, plan = excluded.plan`)
		for _, id := range order {
			e := net[id]
			plan, _ := reconcile.Lookup(e.Object, []string{"metadata", "plan"})
			if _, err := up.Exec(id, e.Object["email"], plan); err != nil {
				t.Fatal(err)
			}
		}
		ev, _ := tx.Prepare(`INSERT INTO events VALUES (?, '', ?, 'r_bare', ?, ?, 'applied', ?) ON CONFLICT DO UPDATE SET outcome = excluded.outcome`)
		ver, _ := tx.Prepare(`INSERT INTO versions VALUES (?, 'customers', ?, ?, ?, 'replay') ON CONFLICT DO UPDATE SET version_at = excluded.version_at, event_id = excluded.event_id`)
		now := time.Now().UTC().Format(time.RFC3339)
		for _, e := range batch {
			at := e.Created.UTC().Format(time.RFC3339)
			if _, err := ev.Exec("stripe", e.ID, e.Type, at, now); err != nil {
				t.Fatal(err)
			}
			if _, err := ver.Exec("stripe", e.ObjectID, at, e.ID); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		applied += len(batch)
		batch = batch[:0]
	}
	if err := src.Events(ctx, q, func(e providers.Event) error {
		e.Raw = nil
		batch = append(batch, e)
		if len(batch) == 500 {
			flush()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(batch) > 0 {
		flush()
	}
	return applied
}
