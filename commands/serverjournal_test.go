package commands

// Where a run on a server state is recorded (issue #14): in the state's own
// database by default; with --journal elsewhere; a role that may only SELECT
// still runs a read-only diff when --journal names a place it can write,
// and gets an error saying what to do when neither can be written. Real
// roles on the local servers (servertest), dropped when the test ends.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
)

// selectOnlyRole makes a login role that may only read db's tables and
// returns db's DSN for it.
func selectOnlyRole(t *testing.T, db *servertest.DB) string {
	t.Helper()
	name := servertest.Name("ro")
	admin := servertest.AdminDB(t, db.Kind)
	u, err := url.Parse(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(name)
	if db.Kind == "postgres" {
		if _, err := admin.Exec(`CREATE ROLE "` + name + `" LOGIN`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Its grants live in db: drop them there, then the role.
			if _, err := db.SQL.Exec(`DROP OWNED BY "` + name + `"`); err != nil {
				t.Errorf("dropping %s's grants: %v", name, err)
			}
			if _, err := admin.Exec(`DROP ROLE IF EXISTS "` + name + `"`); err != nil {
				t.Errorf("dropping role %s: %v", name, err)
			}
			admin.Close()
		})
		db.Exec(t, `GRANT USAGE ON SCHEMA public TO "`+name+`"; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "`+name+`"; REVOKE CREATE ON SCHEMA public FROM PUBLIC`)
		return u.String()
	}
	for _, host := range []string{"%", "localhost"} {
		if _, err := admin.Exec("CREATE USER '" + name + "'@'" + host + "'"); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec("GRANT SELECT ON `" + db.Name + "`.* TO '" + name + "'@'" + host + "'"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, host := range []string{"%", "localhost"} {
			if _, err := admin.Exec("DROP USER IF EXISTS '" + name + "'@'" + host + "'"); err != nil {
				t.Errorf("dropping user %s@%s: %v", name, host, err)
			}
		}
		admin.Close()
	})
	return u.String()
}

func serverSettings(state, journalAt string) *Settings {
	return &Settings{Config: &config.Config{}, Provider: "stripe", State: state, Journal: journalAt,
		Resources: []string{"customers"}, Output: "json", NoProgress: true, Logger: slog.New(slog.DiscardHandler),
		IO: IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}, Args: []string{"reconctl", "diff"}}
}

func reconctlTables(t *testing.T, db *servertest.DB) int {
	t.Helper()
	q := `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'reconctl%'`
	if db.Kind == "mysql" {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'reconctl%'`
	}
	var n int
	if err := db.SQL.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestServerJournalPlacement(t *testing.T) {
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			state := servertest.New(t, kind)
			state.Exec(t, `CREATE TABLE customers (id VARCHAR(40) PRIMARY KEY, email VARCHAR(100))`)
			ro := selectOnlyRole(t, state)

			// Default: the journal is in the state's own database, and a
			// read-only run recorded there.
			s := serverSettings(state.DSN, "")
			r, err := s.beginRun(ctx, "diff", false, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !r.inState || r.j.Kind() != kind {
				t.Errorf("journal in state %v, kind %s", r.inState, r.j.Kind())
			}
			r.finish(ctx, 0, nil, nil, nil, nil)
			if n := reconctlTables(t, state); n < 6 {
				t.Fatalf("%d reconctl tables in the state's database", n)
			}

			// A SELECT-only role (that may read the journal too) cannot
			// record there: the error says so and what to do; nothing is
			// written.
			if kind == "postgres" {
				u, _ := url.Parse(ro)
				state.Exec(t, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO "`+u.User.Username()+`"`)
			}
			before := runCount(t, ctx, state.DSN)
			_, err = serverSettings(ro, "").beginRun(ctx, "diff", false, 0)
			if err == nil || !strings.Contains(err.Error(), "cannot record the run: the state's database "+localstate.RedactLocation(ro)+" does not let this role create or write the journal's reconctl_* tables") ||
				!strings.Contains(err.Error(), "--journal PATH") || !errors.Is(err, journal.ErrNotWritable) {
				t.Fatalf("select-only role, no --journal: %v", err)
			}
			if n := runCount(t, ctx, state.DSN); n != before {
				t.Errorf("runs %d → %d after the refused run", before, n)
			}

			// --journal names a SQLite file: the run records there.
			file := filepath.Join(t.TempDir(), "runs.db")
			r, err = serverSettings(ro, file).beginRun(ctx, "diff", false, 0)
			if err != nil {
				t.Fatalf("select-only role, --journal file: %v", err)
			}
			if r.inState {
				t.Error("a --journal file counted as the state's database")
			}
			r.finish(ctx, 0, nil, nil, nil, nil)
			if n := runCount(t, ctx, file); n != 1 {
				t.Errorf("%d runs in the --journal file", n)
			}

			// --journal names another database: the run records there.
			other := servertest.New(t, kind)
			r, err = serverSettings(ro, other.DSN).beginRun(ctx, "diff", false, 0)
			if err != nil {
				t.Fatalf("select-only role, --journal DSN: %v", err)
			}
			r.finish(ctx, 0, nil, nil, nil, nil)
			if n := runCount(t, ctx, other.DSN); n != 1 {
				t.Errorf("%d runs in the --journal database", n)
			}

			// --journal names a database the role cannot write either.
			third := servertest.New(t, kind)
			roThird := selectOnlyRole(t, third)
			_, err = serverSettings(ro, roThird).beginRun(ctx, "diff", false, 0)
			if err == nil || !strings.Contains(err.Error(), "cannot record the run: the journal "+roThird+" (--journal/journal:) does not let this role create or write its reconctl_* tables") {
				t.Fatalf("neither writable: %v", err)
			}
			if n := reconctlTables(t, third); n != 0 {
				t.Errorf("%d reconctl tables half-made in the unwritable journal database", n)
			}
		})
	}
}

func runCount(t *testing.T, ctx context.Context, loc string) int {
	t.Helper()
	j, err := journal.Open(ctx, loc, journal.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	runs, err := j.ListRuns(ctx, journal.Filter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	return len(runs)
}

// A writing run on a server state takes the server's lock on its tables:
// a second writer is refused naming the first; the lock is released when
// the run finishes.
func TestServerStateWriterLock(t *testing.T) {
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			state := servertest.New(t, kind)
			a, err := serverSettings(state.DSN, "").beginRun(ctx, "resync", true, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = serverSettings(state.DSN, "").beginRun(ctx, "resync", true, 0)
			var le *journal.LockedError
			if !errors.As(err, &le) || le.Holder == nil || le.Holder.RunID != a.id ||
				!strings.Contains(err.Error(), "is being written by run "+a.id+" (reconctl resync") {
				t.Fatalf("second writer: %v", err)
			}
			a.finish(ctx, 0, nil, nil, nil, nil)
			b, err := serverSettings(state.DSN, "").beginRun(ctx, "resync", true, time.Minute)
			if err != nil {
				t.Fatalf("after the first finished: %v", err)
			}
			b.finish(ctx, 0, nil, nil, nil, nil)
		})
	}
}

// A password inside --state never reaches the journal or an error.
func TestServerStatePasswordRedacted(t *testing.T) {
	ctx := context.Background()
	state := servertest.New(t, "postgres") // trust auth: the password is accepted and unused
	u, _ := url.Parse(state.DSN)
	u.User = url.UserPassword("postgres", "s3cret")
	dsn := u.String()
	s := serverSettings(dsn, "")
	s.Args = []string{"reconctl", "resync", "--state", dsn}
	r, err := s.beginRun(ctx, "resync", true, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.finish(ctx, 1, errors.New("apply failed on "+dsn), nil, nil, nil)
	j, err := journal.Open(ctx, state.DSN, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	runs, err := j.ListRuns(ctx, journal.Filter{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	got := strings.Join(runs[0].Args, " ") + " " + runs[0].State + " " + runs[0].Error
	if strings.Contains(got, "s3cret") || !strings.Contains(runs[0].State, "postgres:***@") {
		t.Errorf("journaled: %s", got)
	}
	// A server that does not answer: the error names the DSN masked.
	u.Host = "127.0.0.1:1"
	_, err = serverSettings(u.String(), "").beginRun(ctx, "resync", true, 0)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unreachable server: %v", err)
	}
}

// schema: puts a Postgres state's journal beside its tables; password_env:
// reaches a --journal database on the same server, schema: does not.
func TestServerJournalOptions(t *testing.T) {
	ctx := context.Background()
	state := servertest.New(t, "postgres")
	state.Exec(t, `CREATE SCHEMA app`)
	s := serverSettings(state.DSN, "")
	s.Server = localstate.ServerOptions{Schema: "app", PasswordEnv: "APP_DB_PW"}
	t.Setenv("APP_DB_PW", "unused-under-trust")
	r, err := s.beginRun(ctx, "diff", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	r.finish(ctx, 0, nil, nil, nil, nil)
	var inApp, inPublic int
	state.SQL.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'app' AND table_name = 'reconctl_runs'`).Scan(&inApp)
	state.SQL.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'reconctl_runs'`).Scan(&inPublic)
	if inApp != 1 || inPublic != 0 {
		t.Errorf("reconctl_runs in app: %d, in public: %d", inApp, inPublic)
	}
	other := "postgres://u@" + mustHost(t, state.DSN) + "/elsewhere"
	if o := s.journalServerOptions(other); o.PasswordEnv != "APP_DB_PW" || o.Schema != "" {
		t.Errorf("same server: %+v", o)
	}
	if o := s.journalServerOptions("postgres://u@other.host:5432/j"); !reflect.DeepEqual(o, localstate.ServerOptions{}) {
		t.Errorf("another server: %+v", o)
	}
	if o := s.journalServerOptions(filepath.Join(t.TempDir(), "j.db")); !reflect.DeepEqual(o, localstate.ServerOptions{}) {
		t.Errorf("a file: %+v", o)
	}
}

func mustHost(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// The state a report shows (printed, and stored with the run) is the DSN
// with its password masked.
func TestDisplayStateRedactsDSN(t *testing.T) {
	s := serverSettings("postgres://app:s3cret@db.internal/app", "")
	if got := s.displayState(); got != "postgres://app:***@db.internal/app" {
		t.Errorf("displayState = %q", got)
	}
}

// A writing run whose server lock's session ended notices before it
// commits (checkLock, which the apply's commit hook calls): the lock is
// lost, nothing is written, and the journal records why.
func TestServerStateLockLostBeforeCommit(t *testing.T) {
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			state := servertest.New(t, kind)
			a, err := serverSettings(state.DSN, "").beginRun(ctx, "resync", true, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.checkLock(ctx); err != nil {
				t.Fatalf("a held lock: %v", err)
			}
			var sess int64
			if err := state.SQL.QueryRow("SELECT session_id FROM reconctl_lock_holders").Scan(&sess); err != nil {
				t.Fatal(err)
			}
			if kind == "postgres" {
				state.Exec(t, "SELECT pg_terminate_backend("+strconv.FormatInt(sess, 10)+")")
			} else {
				state.Exec(t, "KILL "+strconv.FormatInt(sess, 10))
			}
			err = a.checkLock(ctx)
			var le *localstate.LockLostError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), "(table customers) was lost (its session ended): nothing was written; run again") {
				t.Fatalf("checkLock after the lock's session ended: %v", err)
			}
			a.finish(ctx, 1, err, nil, nil, nil)
			j, err := journal.Open(ctx, state.DSN, journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			info, _, err := j.GetRun(ctx, a.id)
			if err != nil {
				t.Fatal(err)
			}
			if info.Error == "" || !strings.Contains(info.Error, "was lost (its session ended)") {
				t.Errorf("journal error = %q", info.Error)
			}
		})
	}
}
