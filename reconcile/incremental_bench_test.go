package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/stripe"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
	"github.com/reconctl/reconctl/reconcile"
)

// BenchmarkDiffIncremental1M: N customers (RECONCTL_BENCH_N, default
// 20,000; 1000000 for the figure) on the fake Stripe, a SQLite state
// in sync with them, and the snapshot of a previous full run in the journal
// (made without latency, as setup). Then 1% of the customers change at the
// provider, each with its event, and the app follows every change but 5
// (which stay drifted, beside 5 local rows the provider never had). With
// every call answered after 100 ms and 25 req/s enforced by the fake (the
// client paced at 25 req/s), the same benchmark runs diff --incremental and
// then a full diff (RECONCTL_BENCH_FULL=0 skips the full one), checks that
// they report the same drift, and reports each one's provider calls and
// seconds, their ratios, the snapshot's size in the journal and the
// process's peak RSS (VmHWM: the fake's own N objects included).
//
//	RECONCTL_BENCH_N=1000000 go test -run '^$' -bench DiffIncremental1M -benchtime 1x -timeout 60m ./reconcile/
func BenchmarkDiffIncremental1M(b *testing.B) {
	n := 20_000
	if v := os.Getenv("RECONCTL_BENCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	withFull := os.Getenv("RECONCTL_BENCH_FULL") != "0"
	ctx := context.Background()
	const key = "sk_test_benchincremental0123456789"
	b.Setenv("BENCH_STRIPE_KEY", key)
	fake, srv := stripefake.NewServer(stripefake.Config{APIKey: key})
	defer srv.Close()
	now := time.Now()
	ids := fake.SeedCustomers(n, now.Add(-10000*time.Hour), now.Add(-2*time.Hour), func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "metadata": map[string]any{"plan": "free"}}
	})
	dir := b.TempDir()
	state := filepath.Join(dir, "app.db")
	if err := localstate.CreateSQLite(ctx, state, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, plan TEXT)`); err != nil {
		b.Fatal(err)
	}
	db, err := localstate.OpenDB(ctx, state, localstate.DBOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	insert := func(rows [][3]any) {
		tx, err := db.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for start := 0; start < len(rows); start += 300 {
			batch := rows[start:min(start+300, len(rows))]
			q := "INSERT INTO users (id, email, plan) VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(batch)), ",")
			args := make([]any, 0, 3*len(batch))
			for _, r := range batch {
				args = append(args, r[0], r[1], r[2])
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	rows := make([][3]any, n)
	for i, id := range ids {
		rows[i] = [3]any{id, fmt.Sprintf("u%d@example.com", i), "free"}
	}
	insert(rows)
	store, err := localstate.Open(ctx, state, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	j, err := journal.Open(ctx, filepath.Join(dir, "journal.db"), journal.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	p, err := stripe.New(providers.Options{APIBase: srv.URL, APIKeyEnv: "BENCH_STRIPE_KEY", RPS: 25, Concurrency: 8})
	if err != nil {
		b.Fatal(err)
	}
	fast, err := stripe.New(providers.Options{APIBase: srv.URL, APIKeyEnv: "BENCH_STRIPE_KEY", RPS: -1, Concurrency: 8})
	if err != nil {
		b.Fatal(err)
	}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Key: "id", Fields: []localstate.Field{
		{Column: "email", Path: "email"}, {Column: "plan", Path: "metadata.plan"}}}
	diff := func(prov providers.Provider, inc *reconcile.Incremental) (*reconcile.Result, int, time.Duration) {
		fake.ResetStats()
		e := &reconcile.Engine{Provider: prov, Store: store, Incremental: inc}
		r, err := e.Prepare(ctx, tbl)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		res, err := e.Compare(ctx, []*reconcile.Resource{r}, reconcile.ModeDiff)
		took := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		return res, fake.Stats().Requests, took
	}
	// Setup: the previous full run, without latency, stores the snapshot.
	inc := &reconcile.Incremental{Store: j}
	if res, _, _ := diff(fast, &reconcile.Incremental{Store: j, Full: true}); len(res.Drift) != 0 {
		b.Fatalf("setup: %d drift items", len(res.Drift))
	}
	k := reconcile.SnapshotKey{Provider: "stripe", Resource: "customers"}
	snapBytes, err := j.SnapshotBytes(ctx, k)
	if err != nil {
		b.Fatal(err)
	}
	// 1% change at the provider, with events; the app follows all but 5.
	var follow [][3]any
	drifted := 0
	for i := 0; i < n; i += 100 {
		id := ids[i]
		email := fmt.Sprintf("changed%d@example.com", i)
		if _, err := fake.UpdateCustomer(id, map[string]any{"email": email}); err != nil {
			b.Fatal(err)
		}
		if drifted < 5 {
			drifted++
			continue
		}
		follow = append(follow, [3]any{id, email, "free"})
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range follow {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET email = ? WHERE id = ?`, r[1], r[0]); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	var extra [][3]any
	for i := range 5 {
		extra = append(extra, [3]any{fmt.Sprintf("cus_localonly%d", i), "x@example.com", "free"})
	}
	insert(extra)
	fake.SetFaults(stripefake.Faults{Latency: 100 * time.Millisecond, LimitRPS: 25, LimitBurst: 5})
	cpuProf := os.Getenv("RECONCTL_BENCH_CPUPROFILE")
	for b.Loop() {
		// The incremental run alone: its CPU time and its own heap
		// high-water (above what the setup, the fake's N customers
		// included, leaves live), and optionally its CPU profile.
		hw := startHeapWatch()
		cpu0 := processCPU()
		if cpuProf != "" {
			f, err := os.Create(cpuProf)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer f.Close()
		}
		ires, icalls, itook := diff(p, inc)
		if cpuProf != "" {
			pprof.StopCPUProfile()
		}
		icpu := processCPU() - cpu0
		peakHeap := hw.stop()
		b.ReportMetric(icpu.Seconds(), "cpu_s_incremental")
		b.ReportMetric(float64(peakHeap)/(1<<20), "peak_heap_MiB_incremental")
		if ir := ires.Incremental(); !ir.Incremental {
			b.Fatalf("not incremental: %s", *ir.Fallback)
		}
		if len(ires.Drift) != 10 {
			b.Fatalf("incremental: %d drift items, want 10", len(ires.Drift))
		}
		b.ReportMetric(float64(icalls), "calls_incremental")
		b.ReportMetric(itook.Seconds(), "s_incremental")
		b.ReportMetric(float64(snapBytes), "snapshot_bytes")
		if withFull {
			fres, fcalls, ftook := diff(p, nil)
			if got, want := driftText(ires), driftText(fres); got != want {
				b.Fatalf("incremental drift\n%s\nfull drift\n%s", got, want)
			}
			b.ReportMetric(float64(fcalls), "calls_full")
			b.ReportMetric(ftook.Seconds(), "s_full")
			b.ReportMetric(float64(fcalls)/float64(icalls), "calls_full/incremental")
			b.ReportMetric(ftook.Seconds()/itook.Seconds(), "time_full/incremental")
		}
		b.ReportMetric(peakRSSMiB(), "peak_rss_MiB")
	}
}

// heapWatch samples the live Go heap (runtime/metrics' heap objects) every
// millisecond and keeps its high-water above the baseline taken, after a
// GC, when it started: what one phase of the benchmark holds at its peak.
type heapWatch struct {
	base uint64
	peak atomic.Uint64
	done chan struct{}
	wg   sync.WaitGroup
}

func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapWatch() *heapWatch {
	runtime.GC()
	w := &heapWatch{base: heapObjects(), done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := heapObjects(); v > w.peak.Load() {
				w.peak.Store(v)
			}
			select {
			case <-w.done:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// stop ends the watch and returns the high-water above the baseline.
func (w *heapWatch) stop() uint64 {
	close(w.done)
	w.wg.Wait()
	if v := heapObjects(); v > w.peak.Load() {
		w.peak.Store(v)
	}
	if p := w.peak.Load(); p > w.base {
		return p - w.base
	}
	return 0
}

// processCPU is the process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMiB is the process's peak resident set (VmHWM), 0 where unknown.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
