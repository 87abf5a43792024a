package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate/servertest"
)

// The crash tests run on every store (TestKillMidApply/sqlite,
// …/postgres, …/mysql): a large resync is killed (SIGKILL) or interrupted
// (SIGINT) while it writes, and afterwards the state is all old or all new
// and the journal agrees with it. A server whose store has not landed skips
// with the reason (serverReady).

// crashState is one test's state: a SQLite file in dir, or a fresh
// database on a server.
type crashState struct {
	kind     string
	dir      string // the working directory (provider.json; app.db for SQLite)
	location string // --state
	server   *servertest.DB
}

func (c *crashState) dbPath() string { return filepath.Join(c.dir, "app.db") }

// forEachStore runs fn as a subtest per store.
func forEachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			if kind != "sqlite" {
				if why := serverReady(t, kind); why != "" {
					t.Skip(why + "; the test switches on once it lands")
				}
			}
			fn(t, kind)
		})
	}
}

// bigFixture writes an export of n customers and an app database holding
// none of them, so a resync creates n rows in one transaction.
func bigFixture(t *testing.T, kind string, n int) *crashState {
	t.Helper()
	c := &crashState{kind: kind, dir: t.TempDir()}
	f, err := os.Create(filepath.Join(c.dir, "provider.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(`{"customers": [`)
	for i := 0; i < n; i++ {
		if i > 0 {
			w.WriteString(",")
		}
		fmt.Fprintf(w, `{"id":"cus_%07d","email":"user%d@example.com","name":"User %d"}`, i, i, i)
	}
	w.WriteString("]}")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if kind == "sqlite" {
		c.location = c.dbPath()
		db, err := sql.Open("sqlite", "file:"+c.location)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, name TEXT)`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		return c
	}
	c.server = servertest.New(t, kind)
	c.server.Exec(t, `CREATE TABLE customers (id VARCHAR(64) PRIMARY KEY, email VARCHAR(255), name VARCHAR(255))`)
	c.location = c.server.DSN
	return c
}

// count is the number of customers (the test fails if it cannot tell).
func (c *crashState) count(t *testing.T) int {
	t.Helper()
	n, err := c.query(`SELECT count(*) FROM customers`, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// query runs a one-number query on the state; on SQLite, without waiting
// longer than busyMS for a writer. Servers' reads never wait for writers.
func (c *crashState) query(q string, busyMS int) (int, error) {
	var db *sql.DB
	if c.server != nil {
		db = c.server.SQL
	} else {
		var err error
		db, err = sql.Open("sqlite", fmt.Sprintf("file:%s?mode=ro&_pragma=busy_timeout(%d)", c.dbPath(), busyMS))
		if err != nil {
			return -1, err
		}
		defer db.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	err := db.QueryRowContext(ctx, q).Scan(&n)
	return n, err
}

// rowsNow counts the customers without waiting on a writer (-1 while busy).
func (c *crashState) rowsNow() int {
	n, err := c.query(`SELECT count(*) FROM customers`, 0)
	if err != nil {
		return -1
	}
	return n
}

func (c *crashState) runningRuns() int {
	n, err := c.query(`SELECT count(*) FROM reconctl_runs WHERE status = 'running'`, 50)
	if err != nil {
		return 0
	}
	return n
}

// writing reports whether a transaction other than ours is writing to the
// state: SQLite's rollback journal beside the file; on Postgres a session
// of the database with a transaction id; on MariaDB a session of the
// database running a write into customers (the apply's batches), or an
// InnoDB transaction of one that modified rows (information_schema.innodb_trx
// does not list every such transaction at every moment, so it is not the
// only sign).
func (c *crashState) writing() bool {
	switch c.kind {
	case "sqlite":
		_, err := os.Stat(c.dbPath() + "-journal")
		return err == nil
	case "postgres":
		n, err := c.query(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL`, 0)
		return err == nil && n > 0
	case "mysql":
		n, err := c.query("SELECT count(*) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID() AND (info LIKE 'INSERT INTO `customers`%' OR info LIKE 'UPDATE `customers`%' OR info LIKE 'DELETE%`customers`%')", 0)
		if err == nil && n > 0 {
			return true
		}
		n, err = c.query(`SELECT count(*) FROM information_schema.innodb_trx t JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id WHERE p.db = DATABASE() AND p.id <> CONNECTION_ID() AND t.trx_rows_modified > 0`, 0)
		return err == nil && n > 0
	}
	return false
}

func reconctl(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("reconctl", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RECONCTL_NO_PROGRESS=1")
	return cmd
}

// resync is the large resync the tests kill.
func (c *crashState) resync(extra ...string) *exec.Cmd {
	args := append([]string{"resync", "--provider", "file:provider.json", "--state", c.location, "--max-changes", "unlimited", "-q"}, extra...)
	return reconctl(c.dir, args...)
}

// proc is a started reconctl whose exit is watched.
type proc struct {
	cmd    *exec.Cmd
	out    strings.Builder // stdout and stderr, unless the caller set them
	done   chan struct{}
	err    error
	exited bool
}

func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil && cmd.Stderr == nil {
		cmd.Stdout, cmd.Stderr = &p.out, &p.out
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p
}

func (p *proc) wait() error { <-p.done; return p.err }

func (p *proc) hasExited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitForWrite waits until the run is journaled as running and then until
// its apply's write transaction has started (see writing; the journal's own
// first writes come earlier).
func waitForWrite(t *testing.T, p *proc, c *crashState) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute) // a liveness bound, not a speed check: CI shares two cores
	running := false
	for time.Now().Before(deadline) {
		if !running {
			running = c.runningRuns() > 0
		} else if c.writing() {
			if c.kind == "sqlite" {
				time.Sleep(30 * time.Millisecond) // well inside the apply
			}
			return
		}
		if p.hasExited() {
			t.Fatalf("reconctl exited (%v) before its write was seen (journaled as running: %v)\n%s", p.err, running, p.out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("the apply never started")
}

func lastRun(t *testing.T, c *crashState) map[string]any {
	t.Helper()
	out, err := reconctl(c.dir, "history", "--state", c.location, "-o", "json", "--limit", "1").Output()
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	var runs []map[string]any
	if err := json.Unmarshal(out, &runs); err != nil || len(runs) != 1 {
		t.Fatalf("history output %s: %v", out, err)
	}
	return runs[0]
}

// allOrNothing checks that the state has none or all n of the rows and
// that the journal agrees: no rows, and the run is journaled as notApplied
// (incomplete after SIGKILL, interrupted after Ctrl-C); all rows, and the
// run is journaled with its n items applied. It returns the rows.
func allOrNothing(t *testing.T, c *crashState, n int, notApplied string) int {
	t.Helper()
	got := c.count(t)
	run := lastRun(t, c)
	if run["command"] != "resync" {
		t.Fatalf("the last run is %v, want the resync", run)
	}
	switch got {
	case 0:
		if run["status"] != notApplied {
			t.Fatalf("the state has none of the rows; the journal shows %v, want the resync as %s", run, notApplied)
		}
	case n:
		counts, _ := run["counts"].(map[string]any)
		if counts == nil || counts["applied"] != float64(n) {
			t.Fatalf("the state has all %d rows but history shows %v", n, run)
		}
		out, err := reconctl(c.dir, "history", "--state", c.location, "-o", "json", run["run_id"].(string)).Output()
		if err != nil || !strings.Contains(string(out), `"applied": true`) {
			t.Fatalf("history of the run: %v\n%.300s", err, out)
		}
	default:
		t.Fatalf("the state has %d of %d rows: want all or nothing", got, n)
	}
	t.Logf("afterwards the state has %d of %d rows; the journal shows the run as %v", got, n, run["status"])
	return got
}

// TestKillMidApply starts a large resync, kills it with SIGKILL while it
// writes, and checks that the state is entirely as before (or, on a server
// that committed first, entirely new) and the journal agrees; then that the
// next run gets the lock (on SQLite taking over the stale lock file; a
// server's lock went with the killed session) and completes.
func TestKillMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("large apply")
	}
	forEachStore(t, func(t *testing.T, kind string) {
		const n = 60000
		c := bigFixture(t, kind, n)
		p := start(t, c.resync())
		waitForWrite(t, p, c)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.wait()

		got := allOrNothing(t, c, n, "incomplete")
		if kind == "sqlite" && got != 0 {
			t.Fatalf("after SIGKILL mid-write the SQLite state has %d rows: want 0", got)
		}

		out, err := c.resync().CombinedOutput()
		if err != nil {
			t.Fatalf("resync after the crash: %v\n%s", err, out)
		}
		if kind == "sqlite" && !strings.Contains(string(out), "took over the lock") {
			t.Errorf("the stale lock takeover was not reported:\n%s", out)
		}
		if got := c.count(t); got != n {
			t.Fatalf("after the second resync: %d rows, want %d", got, n)
		}
	})
}

// TestInterruptMidApply sends Ctrl-C (SIGINT) during the apply: the
// transaction rolls back and the run is journaled as interrupted (or, on
// a server that committed first, as applied).
func TestInterruptMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("large apply")
	}
	forEachStore(t, func(t *testing.T, kind string) {
		const n = 60000
		c := bigFixture(t, kind, n)
		p := start(t, c.resync())
		waitForWrite(t, p, c)
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		err := p.wait()
		got := allOrNothing(t, c, n, "interrupted")
		if ee, ok := err.(*exec.ExitError); got == 0 && (!ok || ee.ExitCode() != 1) {
			t.Fatalf("exit = %v, want 1\n%s", err, p.out.String())
		}
		if kind == "sqlite" && got != 0 {
			t.Fatalf("after Ctrl-C mid-write the SQLite state has %d rows: want 0", got)
		}
	})
}

// TestOneWriter: a second writing run fails at once naming the holder, or
// waits with --wait.
func TestOneWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("large apply")
	}
	forEachStore(t, func(t *testing.T, kind string) {
		c := bigFixture(t, kind, 60000)
		first := start(t, c.resync())
		waitForWrite(t, first, c)
		out, err := reconctl(c.dir, "diff", "--apply", "--provider", "file:provider.json", "--state", c.location).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("second writer: %v, want exit 1\n%s", err, out)
		}
		if !strings.Contains(string(out), "reconctl resync") || !strings.Contains(string(out), "--wait") {
			t.Errorf("the refusal does not name the holder and --wait:\n%s", out)
		}
		out, err = reconctl(c.dir, "diff", "--apply", "--wait", "5m", "--provider", "file:provider.json", "--state", c.location, "-q").CombinedOutput()
		if err != nil {
			t.Fatalf("with --wait: %v\n%s", err, out)
		}
		if err := first.wait(); err != nil {
			t.Fatalf("first writer: %v\n%s", err, first.out.String())
		}
	})
}

// TestKillAfterCommit kills a large resync with SIGKILL as soon as its
// writes are committed (while it still records the run's end): the journal,
// which lives in the same database, says what was applied, since it commits
// in the same transaction as the writes.
func TestKillAfterCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("large apply")
	}
	forEachStore(t, func(t *testing.T, kind string) {
		const n = 60000
		c := bigFixture(t, kind, n)
		p := start(t, c.resync())
		deadline := time.Now().Add(10 * time.Minute) // a liveness bound, not a speed check: CI shares two cores
		for c.rowsNow() < n {
			if p.hasExited() {
				t.Fatalf("reconctl exited (%v) before its writes were seen\n%s", p.err, p.out.String())
			}
			if time.Now().After(deadline) {
				t.Fatal("the apply never committed")
			}
			time.Sleep(time.Millisecond)
		}
		p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.wait()

		run := lastRun(t, c)
		counts, _ := run["counts"].(map[string]any)
		if counts == nil || counts["applied"] != float64(n) {
			t.Fatalf("the state has all %d rows but history shows %v", n, run)
		}
		out, err := reconctl(c.dir, "history", "--state", c.location, "-o", "json", run["run_id"].(string)).Output()
		if err != nil || !strings.Contains(string(out), `"applied": true`) {
			t.Fatalf("history of the run: %v\n%.300s", err, out)
		}
	})
}
