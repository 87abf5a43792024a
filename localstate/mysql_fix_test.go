package localstate_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
)

// mysqlUser creates a user with password pw allowed on db, dropped at the end.
func mysqlUser(t *testing.T, db *servertest.DB, pw string) string {
	t.Helper()
	user := servertest.Name("u")
	db.Exec(t, fmt.Sprintf("CREATE USER '%[1]s'@'%%' IDENTIFIED BY '%[2]s'; CREATE USER '%[1]s'@'localhost' IDENTIFIED BY '%[2]s'; GRANT ALL ON `%[3]s`.* TO '%[1]s'@'%%'; GRANT ALL ON `%[3]s`.* TO '%[1]s'@'localhost'", user, pw, db.Name))
	t.Cleanup(func() {
		if _, err := db.SQL.Exec(fmt.Sprintf("DROP USER IF EXISTS '%[1]s'@'%%', '%[1]s'@'localhost'", user)); err != nil {
			t.Errorf("dropping user %s: %v", user, err)
		}
	})
	return user
}

// A DSN's ?password= is a password in the DSN: accepted (the userinfo's
// wins when both are there, password_env over both), never shown.
func TestMySQLDSNPasswordParam(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE users (id VARCHAR(64) PRIMARY KEY)")
	pw := "Qp4ss-W0rd_7"
	user := mysqlUser(t, db, pw)
	host := func() string { u, _ := url.Parse(db.DSN); return u.Host }()
	t.Setenv("RCT_MYSQL_FIX_PW", pw)
	for _, tc := range []struct {
		name, loc string
		env       string
	}{
		{"query password", fmt.Sprintf("mysql://%s@%s/%s?password=%s", user, host, db.Name, url.QueryEscape(pw)), ""},
		{"userinfo wins", fmt.Sprintf("mysql://%s:%s@%s/%s?password=wrong", user, pw, host, db.Name), ""},
		{"password_env wins", fmt.Sprintf("mysql://%s:wrong@%s/%s?password=wrong2", user, host, db.Name), "RCT_MYSQL_FIX_PW"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := localstate.Open(ctx, tc.loc, localstate.OpenOptions{Server: localstate.ServerOptions{PasswordEnv: tc.env}})
			if err != nil {
				if strings.Contains(err.Error(), pw) {
					t.Errorf("the error shows the password")
				}
				t.Fatalf("open: %v", err)
			}
			defer st.Close()
			if _, err := st.Columns(ctx, &localstate.Table{Resource: "users"}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A wrong ?password= is the server's "access denied", not a refused DSN.
	_, err := localstate.Open(ctx, fmt.Sprintf("mysql://%s@%s/%s?password=nope-%s", user, host, db.Name, pw), localstate.OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), "access denied") || strings.Contains(err.Error(), pw) {
		t.Errorf("wrong ?password=: %v", err)
	}
}

// waitInnoDBLockWait returns once the transaction of the session whose
// CONNECTION_ID() is thread waits for a row lock: seen in INNODB_TRX, or in
// PROCESSLIST running its DELETE (MariaDB's INNODB_TRX can be a stale cache
// and its PROCESSLIST state for a row-lock wait is "Updating"; the row is the
// application's, so a DELETE under way is one waiting for it, and if InnoDB
// has not queued the wait yet when the application asks for k1, the deadlock
// forms the other way round with the same victim). The wait cannot time out before it is
// seen (the sessions' innodb_lock_wait_timeout is raised far above ctx's
// bound); done reports the waiting call ending first, and ctx bounds the
// whole wait: either fails the test, it never skips or hangs.
func waitInnoDBLockWait(ctx context.Context, t *testing.T, db *servertest.DB, thread int64, done <-chan error) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int
		err := db.SQL.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = ? AND trx_state = 'LOCK WAIT') +
			(SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND (STATE LIKE '%lock%' OR INFO LIKE 'DELETE%'))`, thread, thread).Scan(&n)
		if err != nil {
			t.Fatalf("watching session %d for its lock wait: %v", thread, err)
		}
		if n > 0 {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("the statement that was to wait for the row lock ended first: %v", err)
		case <-ctx.Done():
			t.Fatalf("session %d was not seen waiting for the row lock: %v", thread, ctx.Err())
		case <-tick.C:
		}
	}
}

// A statement inside Savepoint that is a deadlock victim: InnoDB rolled the
// WHOLE transaction back. Savepoint says so, every later call fails, and
// nothing runs in autocommit outside the transaction.
func TestMySQLSavepointDeadlock(t *testing.T) {
	// Everything below is bounded by ctx: a wait that does not come, or a
	// deadlock the server does not detect, fails the test instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := servertest.New(t, "mysql")
	var detect int
	if err := db.SQL.QueryRowContext(ctx, "SELECT @@innodb_deadlock_detect").Scan(&detect); err != nil {
		t.Fatal(err)
	}
	if detect != 1 {
		t.Fatal("innodb_deadlock_detect is off on the test server: the deadlock would end only by a lock wait timeout; turn it on")
	}
	db.Exec(t, "CREATE TABLE t (id VARCHAR(16) PRIMARY KEY, v TEXT)")
	var rows []string
	for i := range 60 {
		rows = append(rows, fmt.Sprintf("('k%d', 'old')", i))
	}
	db.Exec(t, "INSERT INTO t VALUES "+strings.Join(rows, ", "))
	app, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	// A failure below must not leave the application's transaction open
	// (its locks would hold the database's drop).
	defer func() { _, _ = app.ExecContext(context.Background(), "ROLLBACK") }()
	// No lock wait of either session may time out before the test sees it.
	if _, err := app.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 3600"); err != nil {
		t.Fatal(err)
	}
	// The application holds k2…k58 (many rows: InnoDB picks the smaller
	// transaction, ours, as the victim).
	if _, err := app.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	for i := 2; i < 59; i++ {
		if _, err := app.ExecContext(ctx, fmt.Sprintf("UPDATE t SET v = 'app' WHERE id = 'k%d'", i)); err != nil {
			t.Fatal(err)
		}
	}
	tb := &localstate.Table{Resource: "t"}
	// BusyTimeout sets the store's sessions' innodb_lock_wait_timeout: an
	// hour, far beyond ctx.
	st := mysqlStore(t, db, localstate.OpenOptions{BusyTimeout: time.Hour})
	tx, err := st.Features().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ours int64
	if err := tx.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&ours); err != nil {
		t.Fatal(err)
	}
	if err := tx.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpUpdate, Key: "k1", Values: map[string]any{"v": "ours"}}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- tx.Savepoint(ctx, func() error {
			return tx.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpDelete, Key: "k2"}})
		})
	}()
	waitInnoDBLockWait(ctx, t, db, ours, done) // ours waits for k2
	// The application now waits for k1, which ours holds: a deadlock, and
	// InnoDB rolls ours back at once.
	if _, err := app.ExecContext(ctx, "UPDATE t SET v = 'app' WHERE id = 'k1'"); err != nil {
		t.Fatalf("the application was the deadlock victim: %v", err)
	}
	if _, err := app.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	spErr := <-done
	t.Logf("Savepoint: %v", spErr)
	if !errors.Is(spErr, localstate.ErrTxRolledBack) || !strings.Contains(spErr.Error(), "deadlock") || !strings.Contains(spErr.Error(), "nothing of it was committed") {
		t.Errorf("Savepoint must say the whole transaction was rolled back: %v", spErr)
	}
	aerr := tx.Apply(ctx, []localstate.Change{{Table: tb, Op: localstate.OpUpdate, Key: "k59", Values: map[string]any{"v": "after-failure"}}})
	if !errors.Is(aerr, localstate.ErrTxRolledBack) {
		t.Errorf("Apply after the deadlock: %v, want ErrTxRolledBack", aerr)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE t SET v = 'journal' WHERE id = 'k0'"); !errors.Is(err, localstate.ErrTxRolledBack) {
		t.Errorf("ExecContext after the deadlock: %v, want ErrTxRolledBack", err)
	}
	if err := tx.Savepoint(ctx, func() error { return nil }); !errors.Is(err, localstate.ErrTxRolledBack) {
		t.Errorf("Savepoint after the deadlock: %v, want ErrTxRolledBack", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err == nil {
		t.Errorf("QueryRowContext after the deadlock read in autocommit")
	}
	if err := tx.Commit(); !errors.Is(err, localstate.ErrTxRolledBack) {
		t.Errorf("Commit after the deadlock: %v, want ErrTxRolledBack", err)
	}
	var v0, v1, v59 string
	if err := db.SQL.QueryRow("SELECT (SELECT v FROM t WHERE id='k0'), (SELECT v FROM t WHERE id='k1'), (SELECT v FROM t WHERE id='k59')").Scan(&v0, &v1, &v59); err != nil {
		t.Fatal(err)
	}
	if v0 != "old" || v1 != "app" || v59 != "old" {
		t.Errorf("k0=%q k1=%q k59=%q: want old, app (the application's commit), old: nothing of the rolled-back transaction may be written", v0, v1, v59)
	}
}

// A table whose engine has no transactions (MyISAM, MEMORY) would be left
// half written by a failing Apply: writes are refused with one line naming
// the engine and what to do; reads work.
func TestMySQLNonTransactionalEngine(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE t (id VARCHAR(32) PRIMARY KEY, code VARCHAR(5)) ENGINE=MyISAM; INSERT INTO t VALUES ('k0', 'old');"+
		"CREATE TABLE m (id VARCHAR(32) PRIMARY KEY, code VARCHAR(5)) ENGINE=MEMORY; CREATE TABLE i (id VARCHAR(32) PRIMARY KEY, code VARCHAR(5)) ENGINE=InnoDB")
	var changes []localstate.Change
	tb := &localstate.Table{Resource: "t"}
	for i := range 5 {
		v := "ok"
		if i == 3 {
			v = "far too long for five"
		}
		changes = append(changes, localstate.Change{Table: tb, Op: localstate.OpCreate, Key: fmt.Sprintf("k%03d", i+1), Values: map[string]any{"code": v}})
	}
	st := mysqlStore(t, db, localstate.OpenOptions{})
	err := st.Apply(ctx, changes)
	if err == nil || !strings.Contains(err.Error(), "MyISAM") || !strings.Contains(err.Error(), "ENGINE=InnoDB") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Apply to a MyISAM table: %v, want one line naming the engine and what to do", err)
	}
	var n int
	if err := db.SQL.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("after a failed Apply the MyISAM table holds %d rows, want 1", n)
	}
	// Inside a transaction too, and for MEMORY; InnoDB is written.
	tx, err := st.Features().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mt := &localstate.Table{Resource: "m"}
	if err := tx.Apply(ctx, []localstate.Change{{Table: mt, Op: localstate.OpCreate, Key: "a", Values: map[string]any{"code": "x"}}}); err == nil || !strings.Contains(err.Error(), "MEMORY") {
		t.Errorf("Tx.Apply to a MEMORY table: %v", err)
	}
	tx.Rollback()
	if err := st.Apply(ctx, []localstate.Change{{Table: &localstate.Table{Resource: "i"}, Op: localstate.OpCreate, Key: "a", Values: map[string]any{"code": "x"}}}); err != nil {
		t.Errorf("Apply to an InnoDB table: %v", err)
	}
	// Reads work, read-only and writable.
	if got := mysqlDump(t, st, tb, "code"); len(got) != 1 {
		t.Errorf("Scan of the MyISAM table: %v", got)
	}
	ro := mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true})
	if got := mysqlDump(t, ro, tb, "code"); len(got) != 1 {
		t.Errorf("read-only Scan of the MyISAM table: %v", got)
	}
	if c, err := ro.Features().Count(ctx, tb); err != nil || c != 1 {
		t.Errorf("read-only Count of the MyISAM table: %d, %v", c, err)
	}
}

// A read-only store reads one moment: its Count and its Scan agree while
// the application keeps committing, on every open (they used to run on two
// snapshots started one after the other).
func TestMySQLReadOnlyOneSnapshot(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE t (id VARCHAR(16) PRIMARY KEY, v TEXT)")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			db.SQL.Exec("INSERT INTO t VALUES (?, 'x')", fmt.Sprint(i))
		}
	}()
	defer wg.Wait()
	defer close(stop)
	tb := &localstate.Table{Resource: "t"}
	bad := 0
	for i := range 200 {
		st, err := localstate.Open(ctx, db.DSN, localstate.OpenOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		c, err := st.Features().Count(ctx, tb)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := st.Scan(ctx, tb, []string{"v"}, func(localstate.Row) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		kh, err := st.Features().KeyHealth(ctx, tb)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		if c != n || kh.NullKeys != 0 {
			bad++
			if bad < 3 {
				t.Logf("open %d: Count=%d, Scan saw %d rows", i, c, n)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of 200 read-only stores saw two different moments", bad)
	}
}

// A query while a Scan streams (no command does it today) gets a second
// snapshot instead of breaking the streaming connection.
func TestMySQLReadOnlyGetDuringScan(t *testing.T) {
	ctx := context.Background()
	db := servertest.New(t, "mysql")
	db.Exec(t, "CREATE TABLE t (id VARCHAR(16) PRIMARY KEY, v TEXT); INSERT INTO t VALUES ('a', '1'), ('b', '2'), ('c', '3')")
	st := mysqlStore(t, db, localstate.OpenOptions{ReadOnly: true})
	tb := &localstate.Table{Resource: "t"}
	seen := 0
	if err := st.Scan(ctx, tb, []string{"v"}, func(r localstate.Row) error {
		row, ok, err := st.Get(ctx, tb, []string{"v"}, r.Key)
		if err != nil || !ok || row.Values[0] != r.Values[0] {
			return fmt.Errorf("Get %s during the Scan: %v %v %v", r.Key, row, ok, err)
		}
		if c, err := st.Features().Count(ctx, tb); err != nil || c != 3 {
			return fmt.Errorf("Count during the Scan: %d %v", c, err)
		}
		seen++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != 3 {
		t.Errorf("Scan saw %d rows, want 3", seen)
	}
	// After the Scan, reads are on the main snapshot again.
	if c, err := st.Features().Count(ctx, tb); err != nil || c != 3 {
		t.Errorf("Count after the Scan: %d %v", c, err)
	}
}
