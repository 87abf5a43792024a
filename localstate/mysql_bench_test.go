package localstate_test

// Benchmarks of the MySQL/MariaDB store at 1M rows (skipped without a
// server). Each measures a bare baseline in the same run and reports the
// ratio:
//
//	go test -run '^$' -bench 'MySQL.*1M' -benchtime 1x -timeout 30m ./localstate/

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// mysqlBenchN is 1,000,000, or RECONCTL_BENCH_N for a quick try.
func mysqlBenchN() int {
	if n, err := strconv.Atoi(os.Getenv("RECONCTL_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var mysqlBenchPlans = []string{"free", "pro", "team"}

// mysqlBenchProvider streams n generated customers from memory, as
// reconcile/bench_test.go's genProvider: every 100th+2 record exists only
// locally, every 100th+1 only at the provider, every 100th+3 has another plan.
type mysqlBenchProvider struct{ n int }

func (p *mysqlBenchProvider) Name() string               { return "gen" }
func (p *mysqlBenchProvider) DefaultResources() []string { return []string{"customers"} }
func (p *mysqlBenchProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
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
		meta["plan"] = mysqlBenchPlans[i%3]
		if err := fn(providers.Record{ID: id, Data: data}); err != nil {
			return err
		}
	}
	return nil
}
func (p *mysqlBenchProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	return providers.Record{}, providers.StatusDeleted, nil
}

// mysqlBenchLocal is local row i (ok false: missing locally), as the table holds it.
func mysqlBenchLocal(i int) (key, email, name, plan string, balance int64, ok bool) {
	if i%100 == 1 {
		return "", "", "", "", 0, false
	}
	plan = mysqlBenchPlans[i%3]
	if i%100 == 3 {
		plan = "legacy"
	}
	n := strconv.Itoa(i)
	return "cus_" + strconv.Itoa(1e8+i), "user" + n + "@example.com", "User " + n, plan, int64(i % 1000), true
}

var mysqlBenchTable = &localstate.Table{Resource: "customers", Name: "users", Key: "stripe_customer_id", Fields: []localstate.Field{
	{Column: "email", Path: "email", Compare: "casefold"},
	{Column: "name", Path: "name"},
	{Column: "plan", Path: "metadata.plan"},
	{Column: "balance", Path: "balance"},
}}

const mysqlBenchSchema = "(id BIGINT AUTO_INCREMENT PRIMARY KEY, stripe_customer_id VARCHAR(64) NOT NULL UNIQUE, email VARCHAR(191), name VARCHAR(191), plan VARCHAR(32), balance BIGINT) ENGINE=InnoDB"

// mysqlBenchInsert writes rows (stripe_customer_id, email, name, plan, balance)
// into table in one transaction, 1000 rows per multi-row INSERT: the bare
// batched write the store's writes are measured against.
func mysqlBenchInsert(b *testing.B, db *sql.DB, table string, n int, row func(i int) ([]any, bool)) int {
	b.Helper()
	return mysqlBenchWrite(b, db, table, n, row, "")
}

// mysqlBenchWrite is mysqlBenchInsert with suffix after each INSERT's
// VALUES (an ON DUPLICATE KEY UPDATE clause: a batched upsert).
func mysqlBenchWrite(b *testing.B, db *sql.DB, table string, n int, row func(i int) ([]any, bool), suffix string) int {
	b.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	const per = 1000
	stmts := map[int]*sql.Stmt{}
	args := make([]any, 0, per*5)
	rows, total := 0, 0
	flush := func() {
		if rows == 0 {
			return
		}
		st := stmts[rows]
		if st == nil {
			q := "INSERT INTO " + table + " (stripe_customer_id, email, name, plan, balance) VALUES (?, ?, ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?, ?)", rows-1) + suffix
			if st, err = tx.PrepareContext(ctx, q); err != nil {
				b.Fatal(err)
			}
			stmts[rows] = st
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
		total += rows
		rows, args = 0, args[:0]
	}
	for i := range n {
		vals, ok := row(i)
		if !ok {
			continue
		}
		args = append(args, vals...)
		if rows++; rows == per {
			flush()
		}
	}
	flush()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return total
}

// mysqlBenchUpdate rewrites rows 0…n-1 of table (those it has) with the
// provider's values in one transaction, in the store's statement shape
// written bare: joined UPDATEs of 1000 rows.
func mysqlBenchUpdate(b *testing.B, db *sql.DB, table string, n int) {
	b.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	const per = 1000
	q := "UPDATE (SELECT ? AS k, ? AS e, ? AS nm, ? AS p, ? AS bal" + strings.Repeat(" UNION ALL SELECT ?, ?, ?, ?, ?", per-1) +
		") AS v STRAIGHT_JOIN " + table + " ON " + table + ".stripe_customer_id = v.k SET " + table + ".email = v.e, " + table + ".name = v.nm, " + table + ".plan = v.p, " + table + ".balance = v.bal"
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	args := make([]any, 0, per*5)
	for i := 0; i+per <= n; i += per {
		args = args[:0]
		for j := i; j < i+per; j++ {
			s := strconv.Itoa(j)
			// The provider's values: what resync --force writes.
			args = append(args, "cus_"+strconv.Itoa(1e8+j), "user"+s+"@example.com", "User "+s, mysqlBenchPlans[j%3], int64(j%1000))
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

func mysqlBenchLocalRow(i int) ([]any, bool) {
	k, e, nm, p, bal, ok := mysqlBenchLocal(i)
	return []any{k, e, nm, p, bal}, ok
}

// mysqlBenchDB is a fresh database holding the 1M-row users table.
func mysqlBenchDB(b *testing.B, n int) *servertest.DB {
	db := servertest.New(b, "mysql")
	db.Exec(b, "CREATE TABLE users "+mysqlBenchSchema)
	mysqlBenchInsert(b, db.SQL, "users", n, mysqlBenchLocalRow)
	return db
}

// mysqlGenStore is the local side without a database: the rows mysqlBenchLocal
// describes, generated as Scan streams them (the engine alone).
type mysqlGenStore struct {
	localstate.Store
	n int
}

func (s *mysqlGenStore) Columns(ctx context.Context, t *localstate.Table) ([]string, error) {
	return []string{"email", "name", "plan", "balance"}, nil
}
func (s *mysqlGenStore) Features() localstate.Features { return localstate.Features{} }
func (s *mysqlGenStore) Close() error                  { return nil }
func (s *mysqlGenStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	vals := make([]any, len(cols))
	for i := range s.n {
		k, e, nm, p, bal, ok := mysqlBenchLocal(i)
		if !ok {
			continue
		}
		for j, c := range cols {
			switch c {
			case "email":
				vals[j] = e
			case "name":
				vals[j] = nm
			case "plan":
				vals[j] = p
			case "balance":
				vals[j] = bal
			}
		}
		if err := fn(localstate.Row{Key: k, Values: vals}); err != nil {
			return err
		}
	}
	return nil
}

func mysqlBenchCompare(b *testing.B, store localstate.Store, n int, mode reconcile.Mode) (*reconcile.Engine, *reconcile.Result) {
	b.Helper()
	e := &reconcile.Engine{Provider: &mysqlBenchProvider{n: n}, Store: store}
	r, err := e.Prepare(context.Background(), mysqlBenchTable)
	if err != nil {
		b.Fatal(err)
	}
	res, err := e.Compare(context.Background(), []*reconcile.Resource{r}, mode)
	if err != nil {
		b.Fatal(err)
	}
	s := res.Summaries()["customers"]
	if want := n / 100; s.MissingLocal != want || s.MissingRemote != want || s.Changed != want {
		b.Fatalf("summary = %+v, want %d of each kind", s, want)
	}
	return e, res
}

func mysqlBenchPeakMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func mysqlBenchResetPeak() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// BenchmarkMySQLEngine1M: a diff of 1,000,000 local rows on MariaDB vs
// 1,000,000 provider records, against the bare baseline of the same run: a
// plain streaming SELECT of the same columns plus the engine alone (over
// rows generated in memory). ratio = store run / (select + engine alone).
func BenchmarkMySQLEngine1M(b *testing.B) {
	n := mysqlBenchN()
	db := mysqlBenchDB(b, n)
	ctx := context.Background()
	var sel, alone, full time.Duration
	var peak float64
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		rows, err := db.SQL.QueryContext(ctx, "SELECT stripe_customer_id, email, name, plan, balance FROM users")
		if err != nil {
			b.Fatal(err)
		}
		var k, e, nm, p sql.NullString
		var bal sql.NullInt64
		got := 0
		for rows.Next() {
			if err := rows.Scan(&k, &e, &nm, &p, &bal); err != nil {
				b.Fatal(err)
			}
			got++
		}
		if err := rows.Err(); err != nil || got != n-n/100 {
			b.Fatalf("bare select: %d rows, %v", got, err)
		}
		rows.Close()
		t1 := time.Now()
		mysqlBenchCompare(b, &mysqlGenStore{n: n}, n, reconcile.ModeDiff)
		t2 := time.Now()
		mysqlBenchResetPeak()
		t2 = time.Now()
		store, err := localstate.Open(ctx, db.DSN, localstate.OpenOptions{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		_, res := mysqlBenchCompare(b, store, n, reconcile.ModeDiff)
		if res.Brake(config.MaxChanges{Unlimited: true}) != nil {
			b.Fatal("brake")
		}
		store.Close()
		t3 := time.Now()
		peak = max(peak, mysqlBenchPeakMB())
		sel, alone, full = sel+t1.Sub(t0), alone+t2.Sub(t1), full+t3.Sub(t2)
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(per(sel), "select-s")
	b.ReportMetric(per(alone), "engine-alone-s")
	b.ReportMetric(per(full), "store-diff-s")
	b.ReportMetric(full.Seconds()/(sel+alone).Seconds(), "ratio")
	b.ReportMetric(peak, "peak-RSS-MB")
	fmt.Fprintf(os.Stderr, "mysql diff 1M: select %v + engine alone %v vs engine over the store %v (ratio %.2f, target <= 2); peak RSS %.0f MB\n",
		sel/time.Duration(b.N), alone/time.Duration(b.N), full/time.Duration(b.N), full.Seconds()/(sel+alone).Seconds(), peak)
}

// BenchmarkMySQLResyncForce1M: resync --force of 1,000,000 rows on MariaDB
// (every row rewritten, 1% creates and deletes), end to end (compare, plan,
// apply), against the baseline of the same run: a bare batched upsert of
// the same rows (the provider's records, with the values the store writes,
// multi-row INSERT … ON DUPLICATE KEY UPDATE of 1000 rows, one
// transaction) into a copy of the table holding the local rows;
// e2e-share-of-bare-upsert = bare / end to end (target >= 0.70). Also
// reported: the apply alone against it (share-of-bare-upsert), a bare
// insert of the local rows into the empty copy (share) and a bare joined
// update of as many rows (share-of-bare-update).
func BenchmarkMySQLResyncForce1M(b *testing.B) {
	n := mysqlBenchN()
	db := mysqlBenchDB(b, n)
	ctx := context.Background()
	var bare, bareUpd, bareUps, apply, compare time.Duration
	var written int
	var peak float64
	b.ResetTimer()
	for i := range b.N {
		copyName := fmt.Sprintf("users_bare%d", i)
		db.Exec(b, "CREATE TABLE "+copyName+" "+mysqlBenchSchema)
		mysqlBenchResetPeak()
		store, err := localstate.Open(ctx, db.DSN, localstate.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		e, res := mysqlBenchCompare(b, store, n, reconcile.ModeResyncForce)
		t1 := time.Now()
		written = res.PlannedWrites()
		if err := e.Apply(ctx, res); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		store.Close()
		peak = max(peak, mysqlBenchPeakMB())
		// The copy starts as the store's table did: the local rows.
		mysqlBenchInsert(b, db.SQL, copyName, n, mysqlBenchLocalRow)
		t3 := time.Now()
		// The bare write of the same rows: the provider's records, with
		// the values resync --force writes, upserted into that state.
		mysqlBenchWrite(b, db.SQL, copyName, n, func(i int) ([]any, bool) {
			if i%100 == 2 {
				return nil, false // not at the provider
			}
			n := strconv.Itoa(i)
			return []any{"cus_" + strconv.Itoa(1e8+i), "user" + n + "@example.com", "User " + n, mysqlBenchPlans[i%3], int64(i % 1000)}, true
		}, " ON DUPLICATE KEY UPDATE email = VALUES(email), name = VALUES(name), plan = VALUES(plan), balance = VALUES(balance)")
		t4 := time.Now()
		mysqlBenchUpdate(b, db.SQL, copyName, written)
		t5 := time.Now()
		compare, apply, bare, bareUps, bareUpd = compare+t1.Sub(t0), apply+t2.Sub(t1), bare+t3.Sub(t2), bareUps+t4.Sub(t3), bareUpd+t5.Sub(t4)
		db.Exec(b, "DROP TABLE "+copyName)
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(per(compare), "compare-s")
	b.ReportMetric(per(apply), "apply-s")
	b.ReportMetric(per(bare), "bare-write-s")
	b.ReportMetric(bare.Seconds()/apply.Seconds(), "share")
	b.ReportMetric(per(bareUpd), "bare-update-s")
	b.ReportMetric(bareUpd.Seconds()/apply.Seconds(), "share-of-bare-update")
	b.ReportMetric(per(bareUps), "bare-upsert-s")
	b.ReportMetric(bareUps.Seconds()/apply.Seconds(), "share-of-bare-upsert")
	// End to end (compare, plan and apply) against the bare batched
	// upsert of as many rows: the figure issue #14's target is about.
	b.ReportMetric(bareUps.Seconds()/(compare+apply).Seconds(), "e2e-share-of-bare-upsert")
	b.ReportMetric(float64(written*b.N)/(compare+apply).Seconds(), "e2e-records/s")
	b.ReportMetric(float64(written*b.N)/bareUps.Seconds(), "bare-upsert-records/s")
	b.ReportMetric(bareUpd.Seconds()/(compare+apply).Seconds(), "e2e-share-of-bare-update")
	b.ReportMetric(peak, "peak-RSS-MB")
	fmt.Fprintf(os.Stderr, "mysql resync --force 1M: %d writes; compare %v, apply %v vs bare batched insert into an empty table %v (share %.0f%%), bare joined update of as many existing rows %v (share %.0f%%), bare batched upsert of as many existing rows %v (share %.0f%%; target >= 70%% of a write of the same kind); peak RSS %.0f MB\n",
		written, compare/time.Duration(b.N), apply/time.Duration(b.N), bare/time.Duration(b.N), 100*bare.Seconds()/apply.Seconds(),
		bareUpd/time.Duration(b.N), 100*bareUpd.Seconds()/apply.Seconds(), bareUps/time.Duration(b.N), 100*bareUps.Seconds()/apply.Seconds(), peak)
	fmt.Fprintf(os.Stderr, "mysql resync --force 1M end to end: %v (%.0f records/s) vs bare batched upsert %v (%.0f records/s): %.0f%% of baseline (target >= 70%%); vs bare joined update %v: %.0f%%\n",
		(compare+apply)/time.Duration(b.N), float64(written*b.N)/(compare+apply).Seconds(), bareUps/time.Duration(b.N), float64(written*b.N)/bareUps.Seconds(), 100*bareUps.Seconds()/(compare+apply).Seconds(),
		bareUpd/time.Duration(b.N), 100*bareUpd.Seconds()/(compare+apply).Seconds())
}
