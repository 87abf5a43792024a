package reconcile_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// genProvider streams n generated customers from memory, the way a provider
// streams decoded pages: every 100th+2 record exists only locally (deleted
// at the provider), every 100th+1 only here, every 100th+3 has a changed plan.
type genProvider struct{ n int }

func (p *genProvider) Name() string               { return "gen" }
func (p *genProvider) DefaultResources() []string { return []string{"customers"} }

// List reuses one object map between records, as a streaming decoder may:
// the engine must not keep Record.Data (values are immutable and may be kept).
func (p *genProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	meta := map[string]any{}
	data := map[string]any{"object": "customer", "metadata": meta}
	for i := 0; i < p.n; i++ {
		if i%100 == 2 {
			continue
		}
		n := strconv.Itoa(i)
		id := "cus_" + strconv.Itoa(1e8+i)
		data["id"] = id
		data["email"] = "user" + n + "@example.com"
		data["name"] = "User " + n
		data["balance"] = json.Number(strconv.Itoa(i % 1000))
		meta["plan"] = plans[i%3]
		if err := fn(providers.Record{ID: id, Data: data}); err != nil {
			return err
		}
	}
	return nil
}
func (p *genProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	return providers.Record{}, providers.StatusDeleted, nil
}

var plans = []string{"free", "pro", "team"}

// makeDB builds the benchmark's app database in a child process (this test
// binary running TestMakeBenchDB), so the benchmark's peak RSS covers the
// comparison and not SQLite's memory from a million inserts.
func makeDB(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "app.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestMakeBenchDB$")
	cmd.Env = append(os.Environ(), "RECONCTL_BENCH_DB="+path, "RECONCTL_BENCH_N="+strconv.Itoa(n))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("making the benchmark database: %v\n%s", err, out)
	}
	return path
}

// TestMakeBenchDB is the child process of makeDB; it does nothing in a normal test run.
func TestMakeBenchDB(t *testing.T) {
	path := os.Getenv("RECONCTL_BENCH_DB")
	if path == "" {
		t.Skip("only run by the benchmarks")
	}
	n, err := strconv.Atoi(os.Getenv("RECONCTL_BENCH_N"))
	if err != nil {
		t.Fatal(err)
	}
	writeBenchDB(t, path, n)
}

func writeBenchDB(b testing.TB, path string, n int) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(off)&_pragma=synchronous(off)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, stripe_customer_id TEXT UNIQUE, email TEXT, name TEXT, plan TEXT, balance INTEGER)`); err != nil {
		b.Fatal(err)
	}
	tx, _ := db.Begin()
	stmt, _ := tx.Prepare(`INSERT INTO users (stripe_customer_id, email, name, plan, balance) VALUES (?, ?, ?, ?, ?)`)
	for i := 0; i < n; i++ {
		if i%100 == 1 {
			continue // missing locally
		}
		plan := plans[i%3]
		if i%100 == 3 {
			plan = "legacy"
		}
		if _, err := stmt.Exec("cus_"+strconv.Itoa(1e8+i), "user"+strconv.Itoa(i)+"@example.com", "User "+strconv.Itoa(i), plan, i%1000); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

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

// resetPeakRSS resets VmHWM (Linux: writing 5 to clear_refs) so the figure
// covers the comparison only, not the database setup.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// BenchmarkEngineNoDecode1M: the engine alone — the SQLite store's scan,
// the index, the comparison and the plan — 1,000,000 local rows vs
// 1,000,000 provider records that an in-memory provider hands over already
// decoded (one reused map, no JSON at all), 1% drift of each kind. It
// measures the engine without any provider decoding; the end-to-end diff of
// a real export, decoding included, is commands' BenchmarkDiffFile1M.
//
//	go test -run '^$' -bench EngineNoDecode1M -benchtime 1x ./reconcile/
func BenchmarkEngineNoDecode1M(b *testing.B) {
	benchEngine(b, 1_000_000)
}

func benchEngine(b *testing.B, n int) {
	path := makeDB(b, n)
	tbl := &localstate.Table{Resource: "customers", Name: "users", Key: "stripe_customer_id", Fields: []localstate.Field{
		{Column: "email", Path: "email", Compare: "casefold"},
		{Column: "name", Path: "name"},
		{Column: "plan", Path: "metadata.plan"},
		{Column: "balance", Path: "balance"},
	}}
	runtime.GC()
	debug.FreeOSMemory() // return the setup's heap, so the peak covers the comparison
	resetPeakRSS()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		store, err := localstate.Open(context.Background(), path, localstate.OpenOptions{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		e := &reconcile.Engine{Provider: &genProvider{n: n}, Store: store}
		r, err := e.Prepare(context.Background(), tbl)
		if err != nil {
			b.Fatal(err)
		}
		res, err := e.Compare(context.Background(), []*reconcile.Resource{r}, reconcile.ModeDiff)
		if err != nil {
			b.Fatal(err)
		}
		s := res.Summaries()["customers"]
		want := n / 100
		if s.MissingLocal != want || s.MissingRemote != want || s.Changed != want {
			b.Fatalf("summary = %+v, want %d of each kind", s, want)
		}
		if res.Brake(config.MaxChanges{Unlimited: true}) != nil {
			b.Fatal("brake")
		}
		store.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	fmt.Fprintf(os.Stderr, "peak RSS during comparison: %s\n", peakRSS())
}

// BenchmarkResyncForce1M: resync --force of 1,000,000 records into SQLite
// from an in-memory provider (every record rewritten; 1% of each drift
// kind), end to end (open, compare, plan, apply in one transaction), next to
// the baseline measured in the same run: a bare batched write of the
// provider's rows into the same table (multi-row INSERT … ON CONFLICT DO
// UPDATE of 1000 rows a statement, prepared once, one transaction, the
// connection settings of the store but for a 256 MB page cache, which the
// store's write transactions once had). of_baseline = end-to-end records/s
// ÷ bare records/s (target ≥ 0.70, issue #16); of_baseline_default_cache
// is the same against the bare write with the store's own settings, SQLite's
// default page cache included. Peak RSS is the reconctl side's.
//
//	go test -run '^$' -bench ResyncForce1M -benchtime 1x ./reconcile/
func BenchmarkResyncForce1M(b *testing.B) {
	n := benchN(1_000_000)
	path := makeDB(b, n)
	tbl := &localstate.Table{Resource: "customers", Name: "users", Key: "stripe_customer_id", Fields: []localstate.Field{
		{Column: "email", Path: "email", Compare: "casefold"},
		{Column: "name", Path: "name"},
		{Column: "plan", Path: "metadata.plan"},
		{Column: "balance", Path: "balance"},
	}}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	b.ResetTimer()
	var compare, apply, bare, bareDef time.Duration
	var written int
	peak := ""
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		store, err := localstate.Open(context.Background(), path, localstate.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		e := &reconcile.Engine{Provider: &genProvider{n: n}, Store: store}
		r, err := e.Prepare(context.Background(), tbl)
		if err != nil {
			b.Fatal(err)
		}
		res, err := e.Compare(context.Background(), []*reconcile.Resource{r}, reconcile.ModeResyncForce)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		written = res.PlannedWrites()
		if err := e.Apply(context.Background(), res); err != nil {
			b.Fatal(err)
		}
		store.Close()
		t2 := time.Now()
		compare, apply = compare+t1.Sub(t0), apply+t2.Sub(t1)
		if i == 0 {
			peak = peakRSS()
		}
		benchBareSQLite(b, path, n, "&_pragma=cache_size(-262144)")
		t3 := time.Now()
		bare += t3.Sub(t2)
		benchBareSQLite(b, path, n, "")
		bareDef += time.Since(t3)
	}
	b.StopTimer()
	rate := float64(written*b.N) / (compare + apply).Seconds()
	bareRate := float64((n-n/100)*b.N) / bare.Seconds()
	bareDefRate := float64((n-n/100)*b.N) / bareDef.Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(bareRate, "bare_records/s")
	b.ReportMetric(rate/bareRate, "of_baseline")
	b.ReportMetric(rate/bareDefRate, "of_baseline_default_cache")
	b.ReportMetric(float64(written*b.N)/apply.Seconds(), "written/s(apply)")
	per := func(d time.Duration) time.Duration { return d / time.Duration(b.N) }
	fmt.Fprintf(os.Stderr, "resync --force: %d writes end to end in %v (%.0f/s: compare %v, apply %v); bare batched upsert of %d rows %v (%.0f/s, 256 MB cache), %v (%.0f/s, default cache); %.0f%% of baseline (target >= 70%%), %.0f%% of the default-cache one; peak RSS %s\n",
		written, per(compare+apply), rate, per(compare), per(apply), n-n/100, per(bare), bareRate, per(bareDef), bareDefRate, 100*rate/bareRate, 100*rate/bareDefRate, peak)
}

// benchBareSQLite is what a hand-written tool would do to write the
// provider's records into the table: one transaction, a prepared
// multi-row upsert of 1000 rows. pragmas are added to the store's
// connection settings (the 256 MB cache of the baseline: "&_pragma=cache_size(-262144)").
func benchBareSQLite(b *testing.B, path string, n int, pragmas string) {
	const per = 1000
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_txlock=immediate&_pragma=busy_timeout(5000)"+pragmas)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	const cols = "INSERT INTO users (stripe_customer_id, email, name, plan, balance) VALUES "
	const upsert = " ON CONFLICT (stripe_customer_id) DO UPDATE SET email = excluded.email, name = excluded.name, plan = excluded.plan, balance = excluded.balance"
	q := cols + "(?, ?, ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?, ?)", per-1) + upsert
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(q)
	if err != nil {
		b.Fatal(err)
	}
	args := make([]any, 0, 5*per)
	for i := 0; i < n; i++ {
		if i%100 == 2 {
			continue // not at the provider
		}
		s := strconv.Itoa(i)
		args = append(args, "cus_"+strconv.Itoa(1e8+i), "user"+s+"@example.com", "User "+s, plans[i%3], int64(i%1000))
		if len(args) == 5*per {
			if _, err := stmt.Exec(args...); err != nil {
				b.Fatal(err)
			}
			args = args[:0]
		}
	}
	if len(args) > 0 {
		if _, err := tx.Exec(cols+"(?, ?, ?, ?, ?)"+strings.Repeat(", (?, ?, ?, ?, ?)", len(args)/5-1)+upsert, args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// benchN is RECONCTL_BENCH_N when set (a quicker try), else def.
func benchN(def int) int {
	if v, err := strconv.Atoi(os.Getenv("RECONCTL_BENCH_N")); err == nil && v > 0 {
		return v
	}
	return def
}
