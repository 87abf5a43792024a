package localstate_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
)

var serverKinds = []string{"postgres", "mysql"}

func lockOn(t *testing.T, dsn string, resources []string, run string, wait time.Duration) (*localstate.ServerLock, error) {
	t.Helper()
	return localstate.LockServerOf(context.Background(), dsn, localstate.ServerOptions{}, resources,
		localstate.LockHolder{RunID: run, Command: "reconctl resync", PID: 4242, Host: "ci-host"}, wait)
}

// One writer at a time per resource table, with the holder named; disjoint
// tables do not block each other; a release frees the lock.
func TestServerLockExcludes(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			db := servertest.New(t, kind)
			a, err := lockOn(t, db.DSN, []string{"users", "plans"}, "r_a", 0)
			if err != nil {
				t.Fatal(err)
			}
			if a.Stale != nil {
				t.Errorf("fresh lock has a stale holder: %+v", a.Stale)
			}
			_, err = lockOn(t, db.DSN, []string{"invoices", "users"}, "r_b", 0)
			var be *localstate.LockBusyError
			if !errors.As(err, &be) {
				t.Fatalf("overlapping lock: want *LockBusyError, got %v", err)
			}
			if be.Resource != "users" || be.Holder == nil || be.Holder.RunID != "r_a" || be.Holder.PID != 4242 ||
				be.Holder.Host != "ci-host" || be.Holder.Command != "reconctl resync" || be.Holder.StartedAt.IsZero() || be.Waited != 0 {
				t.Errorf("refusal: %+v holder %+v", be, be.Holder)
			}
			// A holder row is trusted only while its session holds the lock.
			if _, err := db.SQL.Exec(`UPDATE reconctl_lock_holders SET session_id = 0`); err != nil {
				t.Fatal(err)
			}
			_, err = lockOn(t, db.DSN, []string{"users"}, "r_b", 0)
			if !errors.As(err, &be) || be.Holder != nil || be.Session == 0 {
				t.Errorf("refusal with an untrusted row: %v %+v", err, be)
			}
			if _, err := db.SQL.Exec(`UPDATE reconctl_lock_holders SET session_id = ` + itoa64(be.Session)); err != nil {
				t.Fatal(err)
			}
			// invoices was free: the refused run must not keep it.
			c, err := lockOn(t, db.DSN, []string{"invoices"}, "r_c", 0)
			if err != nil {
				t.Fatalf("disjoint table blocked: %v", err)
			}
			must(t, c.Release())
			must(t, a.Release())
			must(t, a.Release()) // twice is fine
			b, err := lockOn(t, db.DSN, []string{"invoices", "users"}, "r_b", 0)
			if err != nil {
				t.Fatalf("after release: %v", err)
			}
			if b.Stale != nil {
				t.Errorf("a released lock left a stale holder: %+v", b.Stale)
			}
			must(t, b.Release())
		})
	}
}

// --wait: the waiter gets the lock once the holder releases; a wait that
// runs out says how long it waited; a cancelled context stops the wait.
func TestServerLockWait(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			db := servertest.New(t, kind)
			a, err := lockOn(t, db.DSN, []string{"users"}, "r_a", 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = lockOn(t, db.DSN, []string{"users"}, "r_b", 50*time.Millisecond)
			var be *localstate.LockBusyError
			if !errors.As(err, &be) || be.Waited != 50*time.Millisecond || be.Holder == nil || be.Holder.RunID != "r_a" {
				t.Fatalf("wait ran out: %v (%+v)", err, be)
			}
			// Cancelled once it is waiting (Ctrl-C during --wait).
			ctx, cancel := context.WithCancel(context.Background())
			localstate.SetLockWaitHook(cancel)
			_, err = localstate.LockServerOf(ctx, db.DSN, localstate.ServerOptions{}, []string{"users"}, localstate.LockHolder{RunID: "r_x"}, time.Hour)
			localstate.SetLockWaitHook(nil)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled wait: %v", err)
			}
			got := make(chan error, 1)
			var b *localstate.ServerLock
			go func() {
				var err error
				b, err = lockOn(t, db.DSN, []string{"users"}, "r_b", time.Hour)
				got <- err
			}()
			must(t, a.Release())
			if err := <-got; err != nil {
				t.Fatalf("waiter: %v", err)
			}
			must(t, b.Release())
		})
	}
}

// A holder whose session dies without releasing (its process killed, the
// connection gone) frees the lock: the next run gets it and names the dead
// run as the stale holder; the dead run's row is never trusted meanwhile.
func TestServerLockCrashedHolderReleases(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			db := servertest.New(t, kind)
			a, err := lockOn(t, db.DSN, []string{"users"}, "r_dead", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Release()
			// The server ends the holder's session, as when its process is
			// killed: no unlock, no row deleted.
			admin := servertest.AdminDB(t, kind)
			defer admin.Close()
			kill := `SELECT pg_terminate_backend(session_id::int) FROM reconctl_lock_holders`
			if kind == "mysql" {
				var id int64
				if err := db.SQL.QueryRow(`SELECT session_id FROM reconctl_lock_holders`).Scan(&id); err != nil {
					t.Fatal(err)
				}
				if _, err := admin.Exec(`KILL ?`, id); err != nil {
					t.Fatal(err)
				}
			} else if _, err := db.SQL.Exec(kill); err != nil {
				t.Fatal(err)
			}
			var b *localstate.ServerLock
			// The server drops the session's locks as it closes it: wait
			// for that (never on the clock: the wait is the lock's own).
			b, err = lockOn(t, db.DSN, []string{"users"}, "r_next", time.Minute)
			if err != nil {
				t.Fatalf("after the holder died: %v", err)
			}
			if b.Stale == nil || b.Stale.RunID != "r_dead" || b.Stale.PID != 4242 {
				t.Errorf("stale holder: %+v", b.Stale)
			}
			must(t, b.Release())
		})
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The lock is the table's, however the config spells it: schema: app with
// customers and app.customers are one table; so are t and public.t (and T,
// unquoted names being lower case); on MySQL t and T with
// lower_case_table_names, and a missing table's spellings.
func TestServerLockKeyedByTable(t *testing.T) {
	ctx := context.Background()
	lock := func(dsn string, opts localstate.ServerOptions, table, run string) (*localstate.ServerLock, error) {
		return localstate.LockServer(ctx, dsn, opts, []string{table}, localstate.LockHolder{RunID: run}, 0)
	}
	busy := func(t *testing.T, dsn string, a localstate.ServerOptions, ta string, b localstate.ServerOptions, tb string) {
		t.Helper()
		l1, err := lock(dsn, a, ta, "r1")
		if err != nil {
			t.Fatal(err)
		}
		defer l1.Release()
		l2, err := lock(dsn, b, tb, "r2")
		var be *localstate.LockBusyError
		if !errors.As(err, &be) {
			if err == nil {
				l2.Release()
			}
			t.Errorf("%q (schema %q) then %q (schema %q), one table: both got the writer lock (%v)", ta, a.Schema, tb, b.Schema, err)
		}
	}
	t.Run("postgres", func(t *testing.T) {
		db := servertest.New(t, "postgres")
		db.Exec(t, "CREATE SCHEMA app; CREATE TABLE app.customers (id text primary key); CREATE TABLE t (id text primary key)")
		none, app := localstate.ServerOptions{}, localstate.ServerOptions{Schema: "app"}
		busy(t, db.DSN, app, "customers", none, "app.customers")
		busy(t, db.DSN, none, "public.t", none, "t")
		busy(t, db.DSN, none, "T", none, "public.t")
		busy(t, db.DSN, none, "missing", none, "public.Missing")
		// Different tables still do not wait for each other.
		l1, err := lock(db.DSN, app, "t", "r1") // app.t: no such table, not public.t
		if err != nil {
			t.Fatal(err)
		}
		defer l1.Release()
		l2, err := lock(db.DSN, none, "t", "r2")
		if err != nil {
			t.Fatalf("app.t (missing) and public.t are different tables: %v", err)
		}
		l2.Release()
	})
	t.Run("mysql", func(t *testing.T) {
		db := servertest.New(t, "mysql")
		db.Exec(t, "CREATE TABLE t (id VARCHAR(16) PRIMARY KEY)")
		none := localstate.ServerOptions{}
		var lctn int
		if err := db.SQL.QueryRow("SELECT @@lower_case_table_names").Scan(&lctn); err != nil {
			t.Fatal(err)
		}
		if lctn != 0 {
			busy(t, db.DSN, none, "T", none, "t")
		}
		busy(t, db.DSN, none, "missing", none, "Missing")
	})
}

// A lock whose session ended (killed, a network failure, wait_timeout) is
// noticed: Check says so, and so does the background check, so the run
// does not commit believing it still holds it.
func TestServerLockLostNoticed(t *testing.T) {
	for _, kind := range serverKinds {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			db := servertest.New(t, kind)
			checks := make(chan error, 100)
			localstate.SetKeepAlive(time.Millisecond, func(err error) {
				select {
				case checks <- err:
				default:
				}
			})
			defer localstate.SetKeepAlive(30*time.Second, nil)
			l1, err := lockOn(t, db.DSN, []string{"t"}, "r1", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer l1.Release()
			if err := l1.Check(ctx); err != nil {
				t.Fatalf("a held lock: Check = %v", err)
			}
			if err := <-checks; err != nil {
				t.Fatalf("a held lock: background check = %v", err)
			}
			var sess int64
			if err := db.SQL.QueryRow("SELECT session_id FROM reconctl_lock_holders").Scan(&sess); err != nil {
				t.Fatal(err)
			}
			if kind == "postgres" {
				db.Exec(t, "SELECT pg_terminate_backend("+itoa64(sess)+")")
			} else {
				db.Exec(t, "KILL "+itoa64(sess))
			}
			// The background check notices (a guard against a hang, not a
			// timing assertion).
			deadline := time.After(2 * time.Minute)
			for noticed := false; !noticed; {
				select {
				case err := <-checks:
					noticed = err != nil
				case <-deadline:
					t.Fatal("the background check never noticed the lost lock")
				}
			}
			err = l1.Check(ctx)
			var le *localstate.LockLostError
			if !errors.As(err, &le) || le.Resource != "t" || !strings.Contains(err.Error(), "was lost (its session ended): nothing was written; run again") {
				t.Errorf("Check after the session ended = %v", err)
			}
			// Another run may take it now (the server released it).
			l2, err := lockOn(t, db.DSN, []string{"t"}, "r2", 0)
			if err != nil {
				t.Fatalf("after the holder's session ended: %v", err)
			}
			must(t, l2.Release())
			_ = l1.Release()
		})
	}
}
