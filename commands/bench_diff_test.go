package commands

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers/pick"
	"github.com/reconctl/reconctl/snapshot"
)

// BenchmarkDiffFile1M: `reconctl diff -o json` of a 1,000,000-record `file:`
// export against a 1,000,000-row SQLite table (1% drift of each kind, the
// data of testdata/bench/gen), next to its baseline measured in the same
// run: a bare SQLite scan of the same columns (database/sql, no engine)
// followed by a read of the export with the same decoder, keeping only the
// mapped paths (snapshot.RecordsWith + providers/pick). Each side runs in
// its own process (this test binary), alternating, so peak RSS is that
// side's alone. It reports diff-s, bare-s, the ratio diff/bare, the same
// in CPU time (diff-cpu-s, bare-cpu-s, diff/bare-cpu: on a busy machine)
// and the peak RSS of each. RECONCTL_BENCH_N sets another size;
// RECONCTL_BENCH_CPUPROFILE=DIR writes each side's CPU profile there,
// RECONCTL_BENCH_MEMPROFILE=DIR its heap profile at the peak of its heap.
//
//	go test -run '^$' -bench DiffFile1M -benchtime 3x -timeout 30m ./commands/
func BenchmarkDiffFile1M(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("RECONCTL_BENCH_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	writeDiffBenchData(b, dir, n)
	var diffT, bareT, diffCPU, bareCPU time.Duration
	var diffRSS, bareRSS int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, side := range []string{"bare", "diff"} {
			d, cpu, rss := runBenchChild(b, dir, side, n, i)
			if side == "bare" {
				bareT, bareCPU = bareT+d, bareCPU+cpu
				bareRSS = max(bareRSS, rss)
			} else {
				diffT, diffCPU = diffT+d, diffCPU+cpu
				diffRSS = max(diffRSS, rss)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(diffT.Seconds()/float64(b.N), "diff-s")
	b.ReportMetric(bareT.Seconds()/float64(b.N), "bare-s")
	b.ReportMetric(diffT.Seconds()/bareT.Seconds(), "diff/bare")
	// CPU time (user+system): what the ratio is when other processes take
	// the cores and wall time says more about them than about reconctl.
	b.ReportMetric(diffCPU.Seconds()/float64(b.N), "diff-cpu-s")
	b.ReportMetric(bareCPU.Seconds()/float64(b.N), "bare-cpu-s")
	b.ReportMetric(diffCPU.Seconds()/bareCPU.Seconds(), "diff/bare-cpu")
	b.ReportMetric(float64(diffRSS)/1024, "diff-peak-MB")
	b.ReportMetric(float64(bareRSS)/1024, "bare-peak-MB")
}

// runBenchChild runs one side in a child process and returns its wall
// time, CPU time and peak RSS (KB).
func runBenchChild(b *testing.B, dir, side string, n, iter int) (time.Duration, time.Duration, int64) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiffBenchChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RECONCTL_DIFFBENCH_DIR="+dir, "RECONCTL_DIFFBENCH_SIDE="+side,
		"RECONCTL_DIFFBENCH_N="+strconv.Itoa(n), "RECONCTL_DIFFBENCH_ITER="+strconv.Itoa(iter))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil || !strings.Contains(out.String(), "\nPASS") && !strings.HasPrefix(out.String(), "PASS") {
		b.Fatalf("%s side: %v\n%s", side, err, out.String())
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss
	}
	return d, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rss
}

// TestDiffBenchChild is one side of BenchmarkDiffFile1M in its own
// process; it does nothing in a normal test run.
func TestDiffBenchChild(t *testing.T) {
	dir, side := os.Getenv("RECONCTL_DIFFBENCH_DIR"), os.Getenv("RECONCTL_DIFFBENCH_SIDE")
	if dir == "" {
		t.Skip("only run by BenchmarkDiffFile1M")
	}
	n, err := strconv.Atoi(os.Getenv("RECONCTL_DIFFBENCH_N"))
	if err != nil {
		t.Fatal(err)
	}
	if pd := os.Getenv("RECONCTL_BENCH_CPUPROFILE"); pd != "" {
		f, err := os.Create(filepath.Join(pd, side+"-"+os.Getenv("RECONCTL_DIFFBENCH_ITER")+".pprof"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if pd := os.Getenv("RECONCTL_BENCH_MEMPROFILE"); pd != "" {
		stop := heapAtPeak(t, filepath.Join(pd, side+"-"+os.Getenv("RECONCTL_DIFFBENCH_ITER")+".heap"))
		defer stop()
	}
	switch side {
	case "diff":
		var out, errb strings.Builder
		app := New(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
		err := app.RunContext(context.Background(), Interspersed(app, []string{"reconctl", "diff", "-c", filepath.Join(dir, "reconctl.yaml"), "-o", "json"}))
		var exit *ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("diff: %v\n%s", err, errb.String())
		}
		want := fmt.Sprintf(`"missing_local": %d,`, n/100)
		if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), fmt.Sprintf(`"changed": %d,`, n/100)) {
			t.Fatalf("unexpected report (want %s):\n%.2000s", want, out.String())
		}
	case "bare":
		rows, err := bareScan(filepath.Join(dir, "app.db"))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := bareDecode(filepath.Join(dir, "provider.json"))
		if err != nil {
			t.Fatal(err)
		}
		if rows != n-n/100 || recs != n-n/100 {
			t.Fatalf("bare read %d rows and %d records, want %d each", rows, recs, n-n/100)
		}
	default:
		t.Fatalf("side %q", side)
	}
}

// bareScan reads the diff's columns of every row with database/sql alone.
func bareScan(path string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT "id", "email", "name", "plan", "balance" FROM "customers"`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	vals := make([]any, 5)
	ptrs := make([]any, 5)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		n++
	}
	return n, rows.Err()
}

// benchPaths are the mapped paths of the benchmark's reconctl.yaml.
var benchPaths = [][]string{{"email"}, {"name"}, {"metadata", "plan"}, {"balance"}}

// bareDecode reads the export's records keeping only the mapped paths
// (and what the file provider reads itself), as the diff's provider does,
// and looks each path up.
func bareDecode(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := snapshot.NewReader(path, f)
	if _, err := r.NextTable(); err != nil {
		return 0, err
	}
	keep := pick.Compile(benchPaths, "id", "updated_at", "updated")
	n := 0
	err = r.RecordsWith(keep.Object, func(_ int64, rec map[string]any) error {
		for _, p := range benchPaths {
			var cur any = rec
			for _, s := range p {
				m, _ := cur.(map[string]any)
				cur = m[s]
			}
			if cur == nil {
				return fmt.Errorf("record %v: no %v", rec["id"], p)
			}
		}
		n++
		return nil
	})
	return n, err
}

// writeDiffBenchData writes what testdata/bench/gen writes: app.db,
// provider.json and reconctl.yaml with 1% drift of each kind.
func writeDiffBenchData(b *testing.B, dir string, n int) {
	benchDB(b, dir, func(exec func(string, ...any)) {
		exec(`CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, name TEXT, plan TEXT, balance INTEGER)`)
		for i := 0; i < n; i++ {
			if i%100 == 2 {
				continue // only remote: a missed create
			}
			plan := []string{"free", "pro", "team"}[i%3]
			if i%100 == 3 {
				plan = "legacy"
			}
			exec(`INSERT INTO customers VALUES (?, ?, ?, ?, ?)`, fmt.Sprintf("cus_%08d", i), fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("User %d", i), plan, i%1000)
		}
	})
	pf, err := os.Create(filepath.Join(dir, "provider.json"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(pf, 1<<20)
	w.WriteString(`{"customers": [`)
	first := true
	for i := 0; i < n; i++ {
		if i%100 == 1 {
			continue // only local: a missed deletion
		}
		if !first {
			w.WriteString(",\n")
		}
		first = false
		fmt.Fprintf(w, `{"id":"cus_%08d","object":"customer","email":"user%d@example.com","name":"User %d","balance":%d,"created":%d,"metadata":{"plan":%q}}`,
			i, i, i, i%1000, 1700000000+i, []string{"free", "pro", "team"}[i%3])
	}
	w.WriteString("]}\n")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := pf.Close(); err != nil {
		b.Fatal(err)
	}
	cfg := "provider: file:provider.json\nstate: app.db\nresources:\n  customers:\n    fields:\n      email: email\n      name: name\n      plan: metadata.plan\n      balance: balance\n"
	if err := os.WriteFile(filepath.Join(dir, "reconctl.yaml"), []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
}

// heapAtPeak writes a heap profile to path whenever the live heap (as of
// the last GC) reaches a new high, 5% above the last one written, so the
// file left is what was live at the peak; stop ends the sampling.
func heapAtPeak(t *testing.T, path string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var best uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			live := sample[0].Value.Uint64()
			if live <= best+best/20 {
				continue
			}
			best = live
			f, err := os.Create(path)
			if err != nil {
				t.Error(err)
				return
			}
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}()
	return func() { close(done); <-finished }
}
