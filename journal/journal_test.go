package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

func newJournal(t *testing.T) *Journal {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.json.reconctl.db")
	j, err := Open(context.Background(), path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func TestSidecarPath(t *testing.T) {
	if got := SidecarPath("data/app.json"); got != "data/app.json.reconctl.db" {
		t.Fatalf("SidecarPath = %q", got)
	}
}

func TestOpenCreatesCurrentSchema(t *testing.T) {
	j := newJournal(t)
	ver, err := j.d.schemaVersion(context.Background(), j.DB())
	if err != nil {
		t.Fatal(err)
	}
	if ver != SchemaVersion() || ver < 2 {
		t.Fatalf("schema version %d, want %d", ver, SchemaVersion())
	}
	for _, tbl := range []string{"reconctl_meta", "reconctl_runs", "reconctl_drift", "reconctl_events", "reconctl_versions", "reconctl_checkpoints"} {
		var n int
		if err := j.DB().QueryRowContext(context.Background(), `SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?`, tbl).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: n=%d err=%v", tbl, n, err)
		}
	}
	// Opening again is a no-op.
	j2, err := Open(context.Background(), j.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	j2.Close()
}

func TestMigrateV1ToCurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	j1, err := open(ctx, path, Options{Create: true}, migrations[:1])
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := j1.d.schemaVersion(ctx, j1.DB()); v != 1 {
		t.Fatalf("v1 journal has version %d", v)
	}
	// Rows as a v1 binary wrote them.
	if _, err := j1.DB().ExecContext(ctx, `INSERT INTO reconctl_runs (run_id, command, args_json, provider, state, resources_json,
		started_at, finished_at, status, exit_code, error, counts_json, report_json, pid, host)
		VALUES ('r_old', 'diff', '["diff"]', 'stripe', 'app.db', '["customers"]', '2026-11-01T10:00:00.000000000Z',
		'2026-11-01T10:00:04.000000000Z', 'drift', 2, '', '{"changed":1}', '{"command":"diff"}', 42, 'h')`); err != nil {
		t.Fatal(err)
	}
	if _, err := j1.DB().ExecContext(ctx, `INSERT INTO reconctl_drift (run_id, seq, resource, object_id, kind, remote_status, action, applied, fields_json)
		VALUES ('r_old', 0, 'customers', 'cus_1', 'changed', 'present', 'update', 0, '[{"name":"email","path":"email","local":"a","remote":"b"}]')`); err != nil {
		t.Fatal(err)
	}
	// v1 has no replay tables.
	var n int
	j1.DB().QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name='reconctl_events'`).Scan(&n)
	if n != 0 {
		t.Fatal("v1 already has reconctl_events")
	}
	j1.Close()

	j, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if v, _ := j.d.schemaVersion(ctx, j.DB()); v != SchemaVersion() {
		t.Fatalf("after upgrade: version %d, want %d", v, SchemaVersion())
	}
	ri, rep, err := j.GetRun(ctx, "r_old")
	if err != nil {
		t.Fatal(err)
	}
	if ri.Command != "diff" || ri.Status != "drift" || *ri.ExitCode != 2 || ri.Counts["changed"] != 1 || string(rep) != `{"command":"diff"}` {
		t.Fatalf("old run after upgrade: %+v %s", ri, rep)
	}
	drift, err := j.RunDrift(ctx, "r_old")
	if err != nil {
		t.Fatal(err)
	}
	if len(drift) != 1 || drift[0].ID != "cus_1" || drift[0].Error != "" || drift[0].Fields[0].Remote != "b" {
		t.Fatalf("old drift after upgrade: %+v", drift)
	}
	// The v2 tables work.
	if err := j.RecordEvent(ctx, nil, EventRow{Provider: "stripe", EventID: "evt_1", RunID: "r_new", Outcome: OutcomeApplied}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := Open(ctx, path, Options{Create: true})
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
}

func TestNewerSchemaRefused(t *testing.T) {
	j := newJournal(t)
	if _, err := j.DB().ExecContext(context.Background(), `UPDATE reconctl_meta SET value = '99' WHERE key = 'schema_version'`); err != nil {
		t.Fatal(err)
	}
	j.Close()
	_, err := Open(context.Background(), j.Path(), Options{})
	want := "journal schema v99 is newer than this reconctl (v" + itoa(SchemaVersion()) + "): upgrade reconctl"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestCorruptJournal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.json.reconctl.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("this is not a database\n"), 400), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path, Options{Create: true})
	if err == nil {
		t.Fatal("opened a text file as a journal")
	}
	msg := err.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, "not a usable SQLite database") ||
		!strings.Contains(msg, "move it aside") || strings.Contains(msg, "\n") {
		t.Fatalf("unhelpful error: %q", msg)
	}

	// The same inside an app's state: never advise moving the state aside.
	_, err = Open(context.Background(), path, Options{})
	if err == nil || strings.Contains(err.Error(), "move it aside") || !strings.Contains(err.Error(), "restore it") {
		t.Fatalf("state error: %v", err)
	}

	// A SQLite header followed by garbage.
	bad := filepath.Join(dir, "bad.db")
	garbage := append([]byte("SQLite format 3\x00"), bytes.Repeat([]byte{0xff}, 8192)...)
	os.WriteFile(bad, garbage, 0o644)
	if _, err := Open(context.Background(), bad, Options{Create: true}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("garbage after header: %v", err)
	}
}

func TestOpenMissingWithoutCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	_, err := Open(context.Background(), path, Options{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Open created the app's state file")
	}
}

func TestOpenOddPath(t *testing.T) {
	// URI-special characters in the path must not change what is opened.
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, "j.db")
	j, err := Open(context.Background(), path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("journal not at %s: %v", path, err)
	}
}

// The journal inside the app's SQLite state: app tables untouched, and
// replay rows written through the store's own transaction commit or roll
// back with it.
func TestJournalInsideAppDB(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	if err := localstate.CreateSQLite(ctx, path, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT); INSERT INTO users VALUES ('cus_1', 'a@example.com')`); err != nil {
		t.Fatal(err)
	}
	// The app's own connection, whose transactions carry the journal's rows.
	app, err := localstate.OpenSQLiteDB(path, localstate.SQLiteDBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	j, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()

	created := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	write := func(tx localstate.Tx) {
		t.Helper()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET email = 'b@example.com' WHERE id = 'cus_1'`); err != nil {
			t.Fatal(err)
		}
		if err := j.RecordEvent(ctx, tx, EventRow{Provider: "stripe", EventID: "evt_1", RunID: "r_1", Type: "customer.updated", Created: created, Outcome: OutcomeApplied}); err != nil {
			t.Fatal(err)
		}
		if err := j.RecordVersion(ctx, tx, "stripe", "customers", "cus_1", created, "evt_1", "event"); err != nil {
			t.Fatal(err)
		}
		if err := j.SetCheckpoint(ctx, tx, "stripe", "evt_1", created, "r_1"); err != nil {
			t.Fatal(err)
		}
		// Visible inside the transaction.
		if _, found, _ := j.EventProcessed(ctx, tx, "stripe", "", "evt_1"); !found {
			t.Fatal("event not visible inside its transaction")
		}
	}

	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write(tx)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, found, err := j.EventProcessed(ctx, nil, "stripe", "", "evt_1"); err != nil || found {
		t.Fatalf("rolled-back event recorded: found=%v err=%v", found, err)
	}
	if _, _, found, _ := j.Version(ctx, nil, "stripe", "customers", "cus_1"); found {
		t.Fatal("rolled-back version recorded")
	}
	if _, _, found, _ := j.Checkpoint(ctx, "stripe"); found {
		t.Fatal("rolled-back checkpoint recorded")
	}
	var email string
	app.QueryRowContext(ctx, `SELECT email FROM users`).Scan(&email)
	if email != "a@example.com" {
		t.Fatalf("email %q", email)
	}

	tx, err = app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	write(tx)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if out, found, err := j.EventProcessed(ctx, nil, "stripe", "", "evt_1"); err != nil || !found || out != OutcomeApplied {
		t.Fatalf("committed event: %q %v %v", out, found, err)
	}
	if id, at, found, err := j.Checkpoint(ctx, "stripe"); err != nil || !found || id != "evt_1" || !at.Equal(created) {
		t.Fatalf("checkpoint: %q %v %v %v", id, at, found, err)
	}
}

func TestEventsVersionsCheckpoints(t *testing.T) { eachKind(t, testEventsVersionsCheckpoints) }

func testEventsVersionsCheckpoints(t *testing.T, j *Journal) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

	// Events: keyed by provider, target and id.
	if _, found, err := j.EventProcessed(ctx, nil, "stripe", "", "evt_1"); err != nil || found {
		t.Fatalf("fresh journal: found=%v err=%v", found, err)
	}
	must(t, j.RecordEvent(ctx, nil, EventRow{Provider: "stripe", EventID: "evt_1", RunID: "r_1", Type: "customer.updated", Created: t0, Outcome: OutcomeFailed}))
	must(t, j.RecordEvent(ctx, j.DB(), EventRow{Provider: "stripe", EventID: "evt_1", RunID: "r_2", Created: t0, Outcome: OutcomeApplied}))
	// A later failure does not undo a success.
	must(t, j.RecordEvent(ctx, nil, EventRow{Provider: "stripe", EventID: "evt_1", RunID: "r_3", Created: t0, Outcome: OutcomeFailed}))
	if out, found, _ := j.EventProcessed(ctx, nil, "stripe", "", "evt_1"); !found || out != OutcomeApplied {
		t.Fatalf("evt_1 outcome %q found %v", out, found)
	}
	if _, found, _ := j.EventProcessed(ctx, nil, "stripe", "https://app.example.com/hook", "evt_1"); found {
		t.Fatal("a state replay counted as a delivery")
	}
	if _, found, _ := j.EventProcessed(ctx, nil, "workos", "", "evt_1"); found {
		t.Fatal("event ids leak across providers")
	}
	for _, bad := range []string{"would_apply", "duplicate", ""} {
		if err := j.RecordEvent(ctx, nil, EventRow{Provider: "stripe", EventID: "evt_2", Outcome: bad}); err == nil {
			t.Errorf("outcome %q accepted", bad)
		}
	}

	// Versions keep the newest time.
	must(t, j.RecordVersion(ctx, nil, "stripe", "customers", "cus_1", t0.Add(time.Hour), "evt_5", "event"))
	must(t, j.RecordVersion(ctx, nil, "stripe", "customers", "cus_1", t0, "evt_4", "event")) // older: ignored
	at, id, found, err := j.Version(ctx, nil, "stripe", "customers", "cus_1")
	if err != nil || !found || id != "evt_5" || !at.Equal(t0.Add(time.Hour)) {
		t.Fatalf("version: %v %q %v %v", at, id, found, err)
	}
	must(t, j.RecordVersion(ctx, nil, "stripe", "customers", "cus_1", t0.Add(2*time.Hour+time.Nanosecond), "", "resync"))
	at, id, _, _ = j.Version(ctx, nil, "stripe", "customers", "cus_1")
	if id != "" || !at.Equal(t0.Add(2*time.Hour+time.Nanosecond)) {
		t.Fatalf("newer state version: %v %q", at, id)
	}
	if _, _, found, _ := j.Version(ctx, nil, "stripe", "customers", "cus_2"); found {
		t.Fatal("unknown record has a version")
	}

	// Checkpoints only move forward.
	must(t, j.SetCheckpoint(ctx, nil, "stripe", "evt_9", t0.Add(time.Hour), "r_1"))
	must(t, j.SetCheckpoint(ctx, nil, "stripe", "evt_3", t0, "r_2"))
	if id, created, found, err := j.Checkpoint(ctx, "stripe"); err != nil || !found || id != "evt_9" || !created.Equal(t0.Add(time.Hour)) {
		t.Fatalf("checkpoint: %q %v %v %v", id, created, found, err)
	}
	if _, _, found, _ := j.Checkpoint(ctx, "clerk"); found {
		t.Fatal("checkpoint for another provider")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewRunID(t *testing.T) {
	now := time.Date(2026, 11, 27, 11, 15, 0, 0, time.FixedZone("CET", 3600))
	id := NewRunID(now)
	if !regexp.MustCompile(`^r_20261127T101500Z_[0-9a-f]{4}$`).MatchString(id) {
		t.Fatalf("run id %q", id)
	}
	seen := map[string]bool{}
	for range 50 {
		seen[NewRunID(now)] = true
	}
	if len(seen) < 40 {
		t.Fatalf("only %d distinct ids of 50", len(seen))
	}
}

func TestRedactArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"diff", "--state", "app.db", "-r", "customers"}, []string{"diff", "--state", "app.db", "-r", "customers"}},
		{[]string{"--api-key", "abc123", "diff"}, []string{"--api-key", Redacted, "diff"}},
		{[]string{"--api-key=abc123"}, []string{"--api-key=" + Redacted}},
		{[]string{"--signing-secret", "whsec_abc"}, []string{"--signing-secret", Redacted}},
		{[]string{"--TOKEN=x y z"}, []string{"--TOKEN=" + Redacted}},
		{[]string{"--db-password", "hunter2"}, []string{"--db-password", Redacted}},
		{[]string{"--keys-only", "--state", "a.db"}, []string{"--keys-only", "--state", "a.db"}}, // next is a flag: not a value
		{[]string{"replay", "--secret"}, []string{"replay", "--secret"}},
		{[]string{"check-user", "sk_live_51Habc"}, []string{"check-user", Redacted}},
		{[]string{"--header", "X-Key: rk_test_abc"}, []string{"--header", "X-Key: " + Redacted}},
		{[]string{"--webhook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, []string{"--webhook", Redacted}},
		{[]string{"--api-base", "http://127.0.0.1:1/?token=abc&x=1"}, []string{"--api-base", "http://127.0.0.1:1/?…"}},
		{[]string{"--deliver-to=https://app.example.com/hook?sig=abc"}, []string{"--deliver-to=https://app.example.com/hook?…"}},
		{[]string{"--provider", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"}, []string{"--provider", Redacted}},
		{[]string{"-r", "pk_live_abcdef"}, []string{"-r", Redacted}},
		{[]string{"-H", "Authorization: Bearer eyJhbGciOi"}, []string{"-H", "Authorization: Bearer " + Redacted}},
		{[]string{"task_sk_1", "cus_sk_1"}, []string{"task_sk_1", "cus_sk_1"}},
		{[]string{"--", "--api-key", "v"}, []string{"--", "--api-key", "v"}},
		{[]string{"--state", "mysql://app:s3cret@db:3306/app"}, []string{"--state", "mysql://app:***@db:3306/app"}},
		{[]string{"--journal=postgres://app:p%40ss:w@db/app?sslmode=disable"}, []string{"--journal=postgres://app:***@db/app?…"}},
		{[]string{"--state", "mysql://app@db/app"}, []string{"--state", "mysql://app@db/app"}},
		{nil, nil},
	} {
		got := RedactArgs(tc.in)
		if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") || (got == nil) != (tc.want == nil) {
			t.Errorf("RedactArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A DSN with the password twice (user:pw@ and ?password=): neither is kept.
	for _, in := range [][]string{{"--state", "postgres://app:one1@db/app?password=two2"}, {"--state=mysql://app@db/app?password=two2"}, {"--journal", "mysql://a:one1@h/j?sslmode=x&password=two2"}} {
		got := strings.Join(RedactArgs(in), " ")
		if strings.Contains(got, "one1") || strings.Contains(got, "two2") || !strings.Contains(got, "://") {
			t.Errorf("RedactArgs(%q) = %q: a password kept", in, got)
		}
	}
	in := []string{"--api-key", "abc"}
	RedactArgs(in)
	if in[1] != "abc" {
		t.Fatal("RedactArgs changed its input")
	}
}

func sampleReport(runID string, started time.Time) *reconcile.Report {
	return &reconcile.Report{
		Command: "diff", RunID: runID, Provider: "stripe", State: "app.db",
		StartedAt: started, FinishedAt: started.Add(4 * time.Second),
		Resources: []string{"customers", "subscriptions"},
		Summary: map[string]*reconcile.ResourceSummary{
			"customers":     {Remote: 300, Local: 302, InSync: 279, MissingLocal: 7, MissingRemote: 7, Changed: 9, Applied: 1, Unresolved: 22},
			"subscriptions": {Remote: 10, Local: 10, InSync: 9, Changed: 1, Unresolved: 1},
		},
		Drift: []reconcile.Drift{
			{Resource: "customers", ID: "cus_9", Kind: reconcile.KindChanged, RemoteStatus: reconcile.RemotePresent,
				Fields: []reconcile.FieldDiff{{Name: "full_name", Path: "name", Local: "Ann", Remote: "Ann Lee"}},
				Action: reconcile.ActionUpdate, Applied: true},
			{Resource: "customers", ID: "cus_7", Kind: reconcile.KindMissingRemote, RemoteStatus: reconcile.RemoteInaccessible,
				Action: reconcile.ActionNone},
			{Resource: "subscriptions", ID: "sub_1", Kind: reconcile.KindChanged, RemoteStatus: reconcile.RemotePresent,
				Fields: []reconcile.FieldDiff{{Name: "qty", Path: "quantity", Local: json.Number("1"), Remote: json.Number("2")}},
				Action: reconcile.ActionUpdate, Error: "constraint failed"},
		},
		ExitCode: 2,
	}
}

func TestRunRoundTrip(t *testing.T) { eachKind(t, testRunRoundTrip) }

func testRunRoundTrip(t *testing.T, j *Journal) {
	ctx := context.Background()
	base := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)

	ids := []string{"r_a", "r_b", "r_c"}
	for i, id := range ids {
		cmd := "diff"
		if i == 1 {
			cmd = "replay"
		}
		must(t, j.StartRun(ctx, Run{ID: id, Command: cmd, Args: []string{cmd, "--api-key=sk_test_1", "-r", "customers"},
			Provider: "stripe", State: "app.db", Resources: []string{"customers"}, StartedAt: base.Add(time.Duration(i) * time.Minute)}))
	}
	if err := j.StartRun(ctx, Run{ID: "r_a", Command: "diff"}); err == nil {
		t.Fatal("duplicate run id accepted")
	}

	rep := sampleReport("r_a", base)
	printed, _ := json.MarshalIndent(rep, "", "  ")
	printed = append(printed, '\n')
	must(t, j.FinishRun(ctx, "r_a", Finish{FinishedAt: base.Add(4 * time.Second), Status: StatusDrift, ExitCode: 2, Report: rep, ReportJSON: printed}))

	replayJSON := []byte(`{"command":"replay","since":"2026-11-20T00:00:00Z","events":[],"summary":{"fetched":20,"applied":12,"duplicate":5,"stale":2,"ignored":1,"failed":0},"cursor":"evt_20","exit_code":0}`)
	must(t, j.FinishRun(ctx, "r_b", Finish{Status: StatusOK, ReportJSON: replayJSON,
		Counts: map[string]int{"fetched": 20, "applied": 12, "duplicate": 5, "stale": 2, "ignored": 1, "failed": 0}}))

	// r_c: report only, no printed JSON; error run.
	rep2 := sampleReport("r_c", base)
	must(t, j.FinishRun(ctx, "r_c", Finish{Status: StatusFailed, ExitCode: 1, Err: "provider: 500", Report: rep2}))
	if err := j.FinishRun(ctx, "r_zz", Finish{Status: StatusOK}); !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("finish unknown run: %v", err)
	}
	if err := j.FinishRun(ctx, "r_c", Finish{Status: "running"}); err == nil {
		t.Fatal("finished with status running")
	}

	runs, err := j.ListRuns(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].RunID != "r_c" || runs[1].RunID != "r_b" || runs[2].RunID != "r_a" {
		t.Fatalf("order: %+v", runs)
	}
	a := runs[2]
	if a.Status != StatusDrift || a.ExitCode == nil || *a.ExitCode != 2 || a.FinishedAt == nil || !a.FinishedAt.Equal(base.Add(4*time.Second)) ||
		!a.StartedAt.Equal(base) || a.Provider != "stripe" || a.State != "app.db" || a.PID != os.Getpid() || a.Host != hostname() {
		t.Fatalf("run a: %+v", a)
	}
	wantCounts := map[string]int{"missing_local": 7, "missing_remote": 7, "changed": 10, "applied": 1, "unresolved": 23}
	for k, v := range wantCounts {
		if a.Counts[k] != v {
			t.Errorf("counts[%s] = %d, want %d (%v)", k, a.Counts[k], v, a.Counts)
		}
	}
	if strings.Join(a.Args, " ") != "diff --api-key="+Redacted+" -r customers" {
		t.Fatalf("args not redacted: %q", a.Args)
	}
	if runs[1].Counts["duplicate"] != 5 || runs[0].Error != "provider: 500" {
		t.Fatalf("runs: %+v", runs)
	}

	if r, _ := j.ListRuns(ctx, Filter{Limit: 1}); len(r) != 1 || r[0].RunID != "r_c" {
		t.Fatalf("limit 1: %+v", r)
	}
	if r, _ := j.ListRuns(ctx, Filter{Command: "replay"}); len(r) != 1 || r[0].RunID != "r_b" {
		t.Fatalf("command filter: %+v", r)
	}

	// Report JSON comes back byte for byte.
	ri, got, err := j.GetRun(ctx, "r_a")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, printed) || ri.RunID != "r_a" {
		t.Fatalf("report JSON changed:\n%s\nwant\n%s", got, printed)
	}
	if _, got, _ := j.GetRun(ctx, "r_b"); !bytes.Equal(got, replayJSON) {
		t.Fatalf("replay JSON changed: %s", got)
	}
	_, got, _ = j.GetRun(ctx, "r_c")
	var back reconcile.Report
	if err := json.Unmarshal(got, &back); err != nil || back.RunID != "r_c" || len(back.Drift) != 3 {
		t.Fatalf("marshalled report: %v %s", err, got)
	}

	drift, err := j.RunDrift(ctx, "r_a")
	if err != nil {
		t.Fatal(err)
	}
	if len(drift) != 3 || drift[0].ID != "cus_9" || !drift[0].Applied || drift[0].Fields[0].Remote != "Ann Lee" ||
		drift[1].RemoteStatus != "inaccessible" || drift[1].Fields != nil || drift[2].Error != "constraint failed" ||
		drift[2].Fields[0].Remote != json.Number("2") {
		t.Fatalf("drift: %+v", drift)
	}
	// Finishing again replaces, not doubles, the drift rows.
	must(t, j.FinishRun(ctx, "r_a", Finish{Status: StatusDrift, ExitCode: 2, Report: rep}))
	if d, _ := j.RunDrift(ctx, "r_a"); len(d) != 3 {
		t.Fatalf("%d drift rows after finishing twice", len(d))
	}
}

func TestGetRunUnknown(t *testing.T) { eachKind(t, testGetRunUnknown) }

func testGetRunUnknown(t *testing.T, j *Journal) {
	_, _, err := j.GetRun(context.Background(), "r_20261127T101500Z_dead")
	want := "no run r_20261127T101500Z_dead in the journal at " + j.Path() + "; `reconctl history` lists runs"
	if err == nil || err.Error() != want || !errors.Is(err, ErrRunNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestFinishRunCancelledContext(t *testing.T) {
	j := newJournal(t)
	must(t, j.StartRun(context.Background(), Run{ID: "r_1", Command: "resync"}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C
	must(t, j.FinishRun(ctx, "r_1", Finish{Status: StatusInterrupted, ExitCode: 1, Err: "interrupted"}))
	ri, rep, err := j.GetRun(context.Background(), "r_1")
	if err != nil || ri.Status != StatusInterrupted || rep != nil || ri.Counts != nil {
		t.Fatalf("%+v %s %v", ri, rep, err)
	}
}

func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess(os.Args[0], []string{os.Args[0], "-test.run=^$"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return p.Pid
}

func TestIncompleteRuns(t *testing.T) { eachKind(t, testIncompleteRuns) }

func testIncompleteRuns(t *testing.T, j *Journal) {
	ctx := context.Background()
	now := time.Now()
	for _, id := range []string{"r_live", "r_dead", "r_reused", "r_far_old", "r_far_new", "r_done"} {
		must(t, j.StartRun(ctx, Run{ID: id, Command: "resync", StartedAt: now.Add(-time.Minute)}))
	}
	must(t, j.FinishRun(ctx, "r_done", Finish{Status: StatusOK}))
	db := j.DB()
	must(t, execq(ctx, j, `UPDATE reconctl_runs SET pid = ? WHERE run_id = 'r_dead'`, deadPID(t)))
	must(t, execq(ctx, j, `UPDATE reconctl_runs SET proc_start = proc_start + 1 WHERE run_id = 'r_reused'`))
	must(t, execq(ctx, j, `UPDATE reconctl_runs SET host = 'elsewhere', started_at = ? WHERE run_id = 'r_far_old'`, fmtTS(now.Add(-25*time.Hour))))
	must(t, execq(ctx, j, `UPDATE reconctl_runs SET host = 'elsewhere', pid = 1 WHERE run_id = 'r_far_new'`))
	_ = db

	runs, err := j.ListRuns(ctx, Filter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range runs {
		got[r.RunID] = r.Status
	}
	want := map[string]string{"r_live": "running", "r_dead": "incomplete", "r_far_old": "incomplete", "r_far_new": "running", "r_done": "ok", "r_reused": "incomplete"}
	if _, ok := procStartTime(os.Getpid()); !ok {
		want["r_reused"] = "running" // no /proc: pid reuse cannot be seen
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: status %q, want %q", id, got[id], w)
		}
	}
	ri, _, _ := j.GetRun(ctx, "r_dead")
	if ri.Status != StatusIncomplete {
		t.Errorf("GetRun r_dead: %q", ri.Status)
	}
}

func TestFinishRun100kDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	eachKind(t, testFinishRun100kDrift)
}

func testFinishRun100kDrift(t *testing.T, j *Journal) {
	ctx := context.Background()
	// The race detector slows SQLite (compiled from C to Go) some 25 times:
	// there, check the same path with fewer rows.
	rows := 100000
	if raceEnabled {
		rows = 10000
	}
	must(t, j.StartRun(ctx, Run{ID: "r_big", Command: "diff"}))
	rep := &reconcile.Report{Command: "diff", RunID: "r_big", Summary: map[string]*reconcile.ResourceSummary{"customers": {Changed: rows}}}
	rep.Drift = make([]reconcile.Drift, rows)
	for i := range rep.Drift {
		rep.Drift[i] = reconcile.Drift{Resource: "customers", ID: "cus_" + itoa(i), Kind: reconcile.KindChanged,
			RemoteStatus: reconcile.RemotePresent, Action: reconcile.ActionUpdate,
			Fields: []reconcile.FieldDiff{{Name: "email", Path: "email", Local: "a@example.com", Remote: "b@example.com"}}}
	}
	// Correctness only: speed is a benchmark's business, never a timed test's.
	must(t, j.FinishRun(ctx, "r_big", Finish{Status: StatusDrift, ExitCode: 2, Report: rep}))
	var n int
	j.DB().QueryRowContext(ctx, `SELECT count(*) FROM reconctl_drift WHERE run_id = 'r_big'`).Scan(&n)
	if n != rows {
		t.Fatalf("%d drift rows, want %d", n, rows)
	}
	// The report (some 20 MB: more than MariaDB's default max_allowed_packet)
	// comes back whole.
	want, _ := json.Marshal(rep)
	if _, got, err := j.GetRun(ctx, "r_big"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("report: %d bytes, want %d (%v)", len(got), len(want), err)
	}
}

// A report stored in parts (MySQL) is cut between characters, never inside one.
func TestReportPartsKeepCharacters(t *testing.T) { eachKind(t, testReportPartsKeepCharacters) }

func testReportPartsKeepCharacters(t *testing.T, j *Journal) {
	ctx := context.Background()
	must(t, j.StartRun(ctx, Run{ID: "r_eur", Command: "replay"}))
	js := []byte(`{"note":"` + strings.Repeat("€", 3*reportPart/3/2) + `"}`) // 1.5 MiB of 3-byte characters
	must(t, j.FinishRun(ctx, "r_eur", Finish{Status: StatusOK, ReportJSON: js}))
	if _, got, err := j.GetRun(ctx, "r_eur"); err != nil || !bytes.Equal(got, js) {
		t.Fatalf("report: %d bytes, want %d (%v)", len(got), len(js), err)
	}
	must(t, j.FinishRun(ctx, "r_eur", Finish{Status: StatusOK, ReportJSON: []byte(`{}`)}))
	if _, got, err := j.GetRun(ctx, "r_eur"); err != nil || string(got) != `{}` {
		t.Fatalf("report after finishing again: %q (%v)", got, err)
	}
}

// A report written by Finish.WriteReport is stored like ReportJSON, and a
// failing writer fails the finish rather than storing part of a report.
func TestFinishWriteReport(t *testing.T) { eachKind(t, testFinishWriteReport) }

func testFinishWriteReport(t *testing.T, j *Journal) {
	ctx := context.Background()
	must(t, j.StartRun(ctx, Run{ID: "r_w", Command: "replay"}))
	js := []byte(`{"events":[` + strings.Repeat(`{"id":"evt_1"},`, 50_000) + `{}]}`)
	must(t, j.FinishRun(ctx, "r_w", Finish{Status: StatusOK, WriteReport: func(w io.Writer) error {
		for c := range slices.Chunk(js, 4096) {
			if _, err := w.Write(c); err != nil {
				return err
			}
		}
		return nil
	}}))
	if _, got, err := j.GetRun(ctx, "r_w"); err != nil || !bytes.Equal(got, js) {
		t.Fatalf("report: %d bytes, want %d (%v)", len(got), len(js), err)
	}
	must(t, j.StartRun(ctx, Run{ID: "r_wfail", Command: "replay"}))
	if err := j.FinishRun(ctx, "r_wfail", Finish{Status: StatusOK, WriteReport: func(w io.Writer) error {
		w.Write([]byte(`{"events":[`))
		return errors.New("encoding failed")
	}}); err == nil {
		t.Fatal("a failing report writer finished the run")
	}
}

func TestBatchLookups(t *testing.T) { eachKind(t, testBatchLookups) }

func testBatchLookups(t *testing.T, j *Journal) {
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 1200 {
		id := fmt.Sprintf("evt_%d", i)
		ids = append(ids, id)
		if i%3 == 0 {
			if err := j.RecordEvent(ctx, nil, EventRow{Provider: "stripe", EventID: id, RunID: "r", Type: "customer.updated", Created: at, Outcome: OutcomeApplied}); err != nil {
				t.Fatal(err)
			}
			if err := j.RecordVersion(ctx, nil, "stripe", "customers", fmt.Sprintf("cus_%d", i), at.Add(time.Duration(i)*time.Second), id, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := j.EventsProcessed(ctx, "stripe", "", ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 400 || got["evt_3"] != OutcomeApplied || got["evt_4"] != "" {
		t.Errorf("EventsProcessed: %d found, evt_3=%q evt_4=%q", len(got), got["evt_3"], got["evt_4"])
	}
	if other, _ := j.EventsProcessed(ctx, "stripe", "https://app.example/hook", ids); len(other) != 0 {
		t.Errorf("another target sees %d events", len(other))
	}
	var objs []string
	for i := range 1200 {
		objs = append(objs, fmt.Sprintf("cus_%d", i))
	}
	vs, err := j.Versions(ctx, "stripe", "customers", objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 400 || !vs["cus_999"].Equal(at.Add(999*time.Second)) {
		t.Errorf("Versions: %d found, cus_999=%v", len(vs), vs["cus_999"])
	}
}
