package journal

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/reconcile"
)

// The journal's conformance: the same tests on a SQLite file, a Postgres
// database and a MySQL/MariaDB database (servertest: a fresh database per
// test, skipped with a message when the server does not answer).
var kinds = []string{localstate.KindSQLite, localstate.KindPostgres, localstate.KindMySQL}

func eachKind(t *testing.T, fn func(t *testing.T, j *Journal)) {
	t.Helper()
	for _, k := range kinds {
		t.Run(k, func(t *testing.T) { fn(t, newJournalOn(t, k)) })
	}
}

// journalLocation is a fresh place for a journal of kind: a SQLite file
// path or a server database's DSN.
func journalLocation(t *testing.T, kind string) string {
	t.Helper()
	if kind == localstate.KindSQLite {
		return filepath.Join(t.TempDir(), "journal.db")
	}
	return servertest.New(t, kind).DSN
}

func newJournalOn(t *testing.T, kind string) *Journal {
	t.Helper()
	j, err := Open(context.Background(), journalLocation(t, kind), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// execq runs a test's statement (written with ?) on the journal's database.
func execq(ctx context.Context, j *Journal, q string, args ...any) error {
	_, err := j.DB().ExecContext(ctx, j.d.bind(q), args...)
	return err
}

// tableCount counts the tables named name in the journal's own schema.
func tableCount(t *testing.T, j *Journal, name string) int {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	switch j.Kind() {
	case localstate.KindPostgres:
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`
	case localstate.KindMySQL:
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`
	}
	var n int
	if err := j.DB().QueryRowContext(context.Background(), j.d.bind(q), name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestServerOpenCreatesCurrentSchema(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			loc := journalLocation(t, kind)
			j, err := Open(ctx, loc, Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if ver, err := j.d.schemaVersion(ctx, j.DB()); err != nil || ver != SchemaVersion() {
				t.Fatalf("schema version %d (%v), want %d", ver, err, SchemaVersion())
			}
			for _, tbl := range []string{"reconctl_meta", "reconctl_runs", "reconctl_drift", "reconctl_events", "reconctl_versions", "reconctl_checkpoints"} {
				if n := tableCount(t, j, tbl); n != 1 {
					t.Errorf("table %s: %d", tbl, n)
				}
			}
			// Opening again is a no-op.
			j2, err := Open(ctx, loc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			j2.Close()
		})
	}
}

// A v1 journal on a server (as a crash between the steps leaves it) is
// upgraded in place and keeps its runs.
func TestServerMigrateV1ToCurrent(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			loc := journalLocation(t, kind)
			j1, err := open(ctx, loc, Options{Create: true}, migrations[:1])
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := j1.d.schemaVersion(ctx, j1.DB()); v != 1 {
				t.Fatalf("v1 journal has version %d", v)
			}
			if n := tableCount(t, j1, "reconctl_events"); n != 0 {
				t.Fatal("v1 already has reconctl_events")
			}
			must(t, execq(ctx, j1, `INSERT INTO reconctl_runs (run_id, command, args_json, provider, state, resources_json,
				started_at, status, error, pid, host) VALUES ('r_old', 'diff', '[]', 'stripe', 'app', '[]',
				'2026-11-01T10:00:00.000000000Z', 'drift', '', 42, 'h')`))
			j1.Close()
			j, err := Open(ctx, loc, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if v, _ := j.d.schemaVersion(ctx, j.DB()); v != SchemaVersion() {
				t.Fatalf("after upgrade: version %d", v)
			}
			if ri, _, err := j.GetRun(ctx, "r_old"); err != nil || ri.Command != "diff" {
				t.Fatalf("old run after upgrade: %+v %v", ri, err)
			}
			must(t, j.RecordEvent(ctx, nil, EventRow{Provider: "stripe", EventID: "evt_1", RunID: "r_new", Outcome: OutcomeApplied}))
		})
	}
}

// Eight processes' worth of opens at once on an empty database: every step
// runs exactly once, and every open succeeds.
func TestConcurrentOpenMigratesOnceEachKind(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			loc := journalLocation(t, kind)
			var mu sync.Mutex
			ran := make([]int, len(migrations))
			ms := make([]migration, len(migrations))
			for i, m := range migrations {
				ms[i] = func(ctx context.Context, d dialect, q Querier) error {
					mu.Lock()
					ran[i]++
					mu.Unlock()
					return m(ctx, d, q)
				}
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					j, err := open(ctx, loc, Options{Create: true}, ms)
					if err != nil {
						errs <- err
						return
					}
					j.Close()
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for i, n := range ran {
				if n != 1 {
					t.Errorf("step v%d→v%d ran %d times, want once", i, i+1, n)
				}
			}
		})
	}
}

// On Postgres the journal is in the connection's current schema (schema:):
// a journal in another schema of the search path is not taken for it.
func TestPostgresJournalInItsSchema(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "postgres")
	pub, err := Open(ctx, db.DSN, Options{})
	if err != nil {
		t.Fatal(err)
	}
	must(t, pub.StartRun(ctx, Run{ID: "r_public", Command: "diff"}))
	pub.Close()
	db.Exec(t, `CREATE SCHEMA app`)
	j, err := Open(ctx, db.DSN, Options{Server: localstate.ServerOptions{Schema: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if runs, err := j.ListRuns(ctx, Filter{}); err != nil || len(runs) != 0 {
		t.Fatalf("app schema's journal sees %d runs (%v), want its own empty one", len(runs), err)
	}
	var n int
	if err := db.SQL.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'app' AND table_name LIKE 'reconctl_%'`).Scan(&n); err != nil || n < 6 {
		t.Fatalf("reconctl tables in schema app: %d (%v)", n, err)
	}
}

// MySQL commits DDL statement by statement: a step cut short after its
// tables were made (a crash) leaves the old version, and the next open
// completes the step instead of failing on what is already there.
func TestMySQLInterruptedMigrationCompletes(t *testing.T) {
	ctx := context.Background()
	loc := journalLocation(t, localstate.KindMySQL)
	crash := errors.New("killed mid-step")
	cut := []migration{
		func(ctx context.Context, d dialect, q Querier) error { must(t, migrateV1(ctx, d, q)); return crash },
	}
	if _, err := open(ctx, loc, Options{}, cut); !errors.Is(err, crash) {
		t.Fatalf("cut migration: %v", err)
	}
	cut = []migration{migrateV1, func(ctx context.Context, d dialect, q Querier) error {
		must(t, mysqlAddColumn(ctx, q, "reconctl_drift", "error", "LONGTEXT NOT NULL"))
		return crash
	}}
	if _, err := open(ctx, loc, Options{}, cut); !errors.Is(err, crash) {
		t.Fatalf("cut second step: %v", err)
	}
	j, err := Open(ctx, loc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if v, err := j.d.schemaVersion(ctx, j.DB()); err != nil || v != SchemaVersion() {
		t.Fatalf("version %d (%v)", v, err)
	}
	testRunRoundTrip(t, j)
}

// A DSN's password given on the command line (--state, --journal) or in an
// error is never stored: args, state and error columns hold it masked.
func TestDSNPasswordsRedacted(t *testing.T) { eachKind(t, testDSNPasswordsRedacted) }

func testDSNPasswordsRedacted(t *testing.T, j *Journal) {
	ctx := context.Background()
	state := "postgres://app:s3cret@db.internal:5432/app?sslmode=require"
	must(t, j.StartRun(ctx, Run{ID: "r_pw", Command: "resync", State: localstate.RedactLocation(state),
		Args: []string{"reconctl", "resync", "--state", state, "--journal=mysql://audit:pa55w0rd@db2/audit", "postgresql://x:we@ird@h/d"}}))
	must(t, j.FinishRun(ctx, "r_pw", Finish{Status: StatusFailed, ExitCode: 1, Err: "cannot connect to " + state + ": connection refused",
		Report: &reconcile.Report{Drift: []reconcile.Drift{{Resource: "customers", ID: "cus_1", Kind: reconcile.KindChanged, Error: "lost mysql://audit:pa55w0rd@db2/audit"}}}}))
	var args, st, msg, derr string
	if err := j.DB().QueryRowContext(ctx, j.d.bind(`SELECT args_json, state, error FROM reconctl_runs WHERE run_id = ?`), "r_pw").Scan(&args, &st, &msg); err != nil {
		t.Fatal(err)
	}
	if err := j.DB().QueryRowContext(ctx, j.d.bind(`SELECT error FROM reconctl_drift WHERE run_id = ?`), "r_pw").Scan(&derr); err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{args, st, msg, derr} {
		for _, secret := range []string{"s3cret", "pa55w0rd", "ird@"} {
			if strings.Contains(col, secret) {
				t.Errorf("stored %q holds the password %q", col, secret)
			}
		}
	}
	if !strings.Contains(args, "postgres://app:***@db.internal:5432/app") || !strings.Contains(st, "app:***@db.internal") || !strings.Contains(msg, "postgres://app:***@db.internal") {
		t.Errorf("masked DSNs: args %s state %s error %s", args, st, msg)
	}
}
