package localstate_test

// Benchmarks of the Postgres store (issue #14), each next to a bare baseline
// measured in the same run; skipped without a server.
//
//	go test -run '^$' -bench 'Postgres(Diff|ResyncForce)1M' -benchtime 1x ./localstate/

import (
	"context"
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

// The reconcile package's EngineNoDecode1M scenario: n provider customers, 1% only
// at the provider, 1% only local, 1% with a changed plan.
var benchPlans = []string{"free", "pro", "team"}

func benchID(i int) string { return "cus_" + strconv.Itoa(1e8+i) }

// benchGenProvider streams the n generated customers (reconcile's genProvider).
type benchGenProvider struct{ n int }

func (p *benchGenProvider) Name() string               { return "gen" }
func (p *benchGenProvider) DefaultResources() []string { return []string{"customers"} }
func (p *benchGenProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	meta := map[string]any{}
	data := map[string]any{"object": "customer", "metadata": meta}
	for i := 0; i < p.n; i++ {
		if i%100 == 2 {
			continue
		}
		n := strconv.Itoa(i)
		id := benchID(i)
		data["id"] = id
		data["email"] = "user" + n + "@example.com"
		data["name"] = "User " + n
		data["balance"] = json.Number(strconv.Itoa(i % 1000))
		meta["plan"] = benchPlans[i%3]
		if err := fn(providers.Record{ID: id, Data: data}); err != nil {
			return err
		}
	}
	return nil
}
func (p *benchGenProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	return providers.Record{}, providers.StatusDeleted, nil
}

var benchPGTable = &localstate.Table{Resource: "customers", Name: "users", Key: "stripe_customer_id", Fields: []localstate.Field{
	{Column: "email", Path: "email", Compare: "casefold"},
	{Column: "name", Path: "name"},
	{Column: "plan", Path: "metadata.plan"},
	{Column: "balance", Path: "balance"},
}}

// benchPGDB creates the app database with the local side of the scenario
// (built by the server itself, in seconds) and drops it when b ends.
func benchPGDB(b *testing.B, n int) *servertest.DB {
	b.Helper()
	admin := servertest.AdminDB(b, "postgres")
	name := servertest.Name("bench")
	db, err := servertest.Create(admin, "postgres", name)
	if err != nil {
		admin.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		db.SQL.Close()
		if err := servertest.Drop(admin, "postgres", name); err != nil {
			b.Errorf("dropping %s: %v", name, err)
		}
		admin.Close()
	})
	db.Exec(b, fmt.Sprintf(`CREATE TABLE users (id bigserial PRIMARY KEY, stripe_customer_id text UNIQUE, email text, name text, plan text, balance bigint);
		INSERT INTO users (stripe_customer_id, email, name, plan, balance)
		SELECT 'cus_' || (100000000 + i), 'user' || i || '@example.com', 'User ' || i,
			CASE WHEN i %% 100 = 3 THEN 'legacy' ELSE (ARRAY['free', 'pro', 'team'])[i %% 3 + 1] END, i %% 1000
		FROM generate_series(0, %d) AS i WHERE i %% 100 <> 1`, n-1))
	db.Exec(b, `VACUUM ANALYZE users`)
	return db
}

// benchGenStore is the local side generated in memory: the engine alone,
// without any database.
type benchGenStore struct{ n int }

func (s *benchGenStore) Kind() string { return "gen" }
func (s *benchGenStore) Path() string { return "gen" }
func (s *benchGenStore) Columns(ctx context.Context, t *localstate.Table) ([]string, error) {
	return []string{"email", "name", "plan", "balance"}, nil
}
func (s *benchGenStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	vals := make([]any, len(cols))
	for i := 0; i < s.n; i++ {
		if i%100 == 1 {
			continue
		}
		n := strconv.Itoa(i)
		for j, c := range cols {
			switch c {
			case "email":
				vals[j] = "user" + n + "@example.com"
			case "name":
				vals[j] = "User " + n
			case "plan":
				vals[j] = benchPlans[i%3]
				if i%100 == 3 {
					vals[j] = "legacy"
				}
			case "balance":
				vals[j] = int64(i % 1000)
			}
		}
		if err := fn(localstate.Row{Key: benchID(i), Values: vals}); err != nil {
			return err
		}
	}
	return nil
}
func (s *benchGenStore) Get(ctx context.Context, t *localstate.Table, cols []string, key string) (localstate.Row, bool, error) {
	return localstate.Row{}, false, nil
}
func (s *benchGenStore) Apply(ctx context.Context, changes []localstate.Change) error { return nil }
func (s *benchGenStore) Features() localstate.Features {
	return localstate.Features{Count: func(context.Context, *localstate.Table) (int, error) { return s.n - s.n/100, nil }}
}
func (s *benchGenStore) Close() error { return nil }

func benchDiff(b *testing.B, st localstate.Store, n int) {
	b.Helper()
	ctx := context.Background()
	e := &reconcile.Engine{Provider: &benchGenProvider{n: n}, Store: st}
	r, err := e.Prepare(ctx, benchPGTable)
	if err != nil {
		b.Fatal(err)
	}
	res, err := e.Compare(ctx, []*reconcile.Resource{r}, reconcile.ModeDiff)
	if err != nil {
		b.Fatal(err)
	}
	s := res.Summaries()["customers"]
	if want := n / 100; s.MissingLocal != want || s.MissingRemote != want || s.Changed != want {
		b.Fatalf("summary = %+v, want %d of each kind", s, want)
	}
	if res.Brake(config.MaxChanges{Unlimited: true}) != nil {
		b.Fatal("brake")
	}
}

// peakRSS is VmHWM; resetPeakRSS starts it again (Linux).
func pgPeakRSS() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "?"
}

func pgResetPeak() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// BenchmarkPostgresDiff1M: diff of 1M local rows in Postgres vs 1M provider
// records, against the baseline of a bare streaming SELECT of the same
// columns plus the engine alone over a generated local side.
func BenchmarkPostgresDiff1M(b *testing.B) {
	const n = 1_000_000
	db := benchPGDB(b, n)
	ctx := context.Background()
	var store, bare, engine time.Duration
	pgResetPeak()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		st, err := localstate.Open(ctx, db.DSN, localstate.OpenOptions{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		benchDiff(b, st, n)
		st.Close()
		store += time.Since(t0)

		b.StopTimer()
		t1 := time.Now()
		rows, err := db.SQL.QueryContext(ctx, `SELECT stripe_customer_id, email, name, plan, balance FROM users WHERE stripe_customer_id IS NOT NULL AND stripe_customer_id <> ''`)
		if err != nil {
			b.Fatal(err)
		}
		var k, e, nm, p, bal any
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
		t2 := time.Now()
		benchDiff(b, &benchGenStore{n: n}, n)
		bare += t2.Sub(t1)
		engine += time.Since(t2)
		b.StartTimer()
	}
	b.StopTimer()
	per := func(d time.Duration) time.Duration { return d / time.Duration(b.N) }
	ratio := store.Seconds() / (bare + engine).Seconds()
	b.ReportMetric(ratio, "x_baseline")
	b.ReportMetric(float64(n)*float64(b.N)/store.Seconds(), "records/s")
	fmt.Fprintf(os.Stderr, "postgres diff 1M: store+engine %v; baseline %v (bare SELECT %v + engine alone %v); ratio %.2f (target <= 2); peak RSS %s\n",
		per(store), per(bare+engine), per(bare), per(engine), ratio, pgPeakRSS())
}

// BenchmarkPostgresResyncForce1M: resync --force of 1M rows (every row
// rewritten) against the baseline of a bare batched write of the same rows
// in one transaction: multi-row INSERT … ON CONFLICT DO UPDATE of 1000 rows
// a statement.
func BenchmarkPostgresResyncForce1M(b *testing.B) {
	n := mysqlBenchN() // RECONCTL_BENCH_N for a quick try
	db := benchPGDB(b, n)
	ctx := context.Background()
	var store, bare, compare time.Duration
	written := 0
	peak := ""
	pgResetPeak()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each side starts from a vacuumed table: the other's dead rows
		// are reusable space, not a handicap. The order alternates (odd
		// iterations write the bare baseline first), so a checkpoint one
		// side's million rows leave behind does not always fall on the
		// other.
		b.StopTimer()
		if i%2 == 1 {
			db.Exec(b, `VACUUM users`)
			t1 := time.Now()
			benchBareWrite(b, db, n)
			bare += time.Since(t1)
		}
		db.Exec(b, `VACUUM users`)
		b.StartTimer()
		t0 := time.Now()
		st, err := localstate.Open(ctx, db.DSN, localstate.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		e := &reconcile.Engine{Provider: &benchGenProvider{n: n}, Store: st}
		r, err := e.Prepare(ctx, benchPGTable)
		if err != nil {
			b.Fatal(err)
		}
		res, err := e.Compare(ctx, []*reconcile.Resource{r}, reconcile.ModeResyncForce)
		if err != nil {
			b.Fatal(err)
		}
		compare += time.Since(t0)
		written += res.PlannedWrites()
		if err := e.Apply(ctx, res); err != nil {
			b.Fatal(err)
		}
		st.Close()
		store += time.Since(t0)
		if i == 0 {
			peak = pgPeakRSS() // the reconctl side's, before the baseline runs
		}

		b.StopTimer()
		if i%2 == 0 {
			db.Exec(b, `VACUUM users`)
			t1 := time.Now()
			benchBareWrite(b, db, n)
			bare += time.Since(t1)
		}
		b.StartTimer()
	}
	b.StopTimer()
	rate := float64(written) / store.Seconds()
	bareRate := float64(n-n/100) * float64(b.N) / bare.Seconds()
	b.ReportMetric(rate, "written/s")
	b.ReportMetric(bareRate, "bare_written/s")
	b.ReportMetric(rate/bareRate, "of_baseline")
	b.ReportMetric(float64(written)/(store-compare).Seconds()/bareRate, "apply_of_baseline")
	per := func(d time.Duration) time.Duration { return d / time.Duration(b.N) }
	fmt.Fprintf(os.Stderr, "postgres resync --force 1M: %d writes in %v (%.0f/s; compare %v, apply %v); bare batched upsert of %d rows %v (%.0f/s); %.0f%% of baseline (target >= 70%%), apply alone %.0f%%; peak RSS %s\n",
		written/b.N, per(store), rate, per(compare), per(store-compare), n-n/100, per(bare), bareRate, 100*rate/bareRate, 100*float64(written)/(store-compare).Seconds()/bareRate, peak)
}

// benchBareWrite rewrites the provider's records with multi-row upserts of
// 1000 rows in one transaction.
func benchBareWrite(b *testing.B, db *servertest.DB, n int) {
	ctx := context.Background()
	const per = 1000
	var sb strings.Builder
	sb.WriteString("INSERT INTO users (stripe_customer_id, email, name, plan, balance) VALUES ")
	for r := range per {
		if r > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d)", 5*r+1, 5*r+2, 5*r+3, 5*r+4, 5*r+5)
	}
	sb.WriteString(" ON CONFLICT (stripe_customer_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, plan = EXCLUDED.plan, balance = EXCLUDED.balance")
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, sb.String())
	if err != nil {
		b.Fatal(err)
	}
	args := make([]any, 0, 5*per)
	flush := func() {
		if len(args) == 5*per {
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				b.Fatal(err)
			}
		} else if len(args) > 0 {
			for r := 0; r < len(args); r += 5 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO users (stripe_customer_id, email, name, plan, balance) VALUES ($1, $2, $3, $4, $5)
					ON CONFLICT (stripe_customer_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, plan = EXCLUDED.plan, balance = EXCLUDED.balance`, args[r:r+5]...); err != nil {
					b.Fatal(err)
				}
			}
		}
		args = args[:0]
	}
	for i := 0; i < n; i++ {
		if i%100 == 2 {
			continue
		}
		s := strconv.Itoa(i)
		args = append(args, benchID(i), "user"+s+"@example.com", "User "+s, benchPlans[i%3], int64(i%1000))
		if len(args) == 5*per {
			flush()
		}
	}
	flush()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
