package main

import (
	"bufio"
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
)

// bigFixture writes an export of n customers and an app database holding
// none of them, so a resync creates n rows in one transaction.
func bigFixture(t *testing.T, n int) (dir string) {
	t.Helper()
	dir = t.TempDir()
	f, err := os.Create(filepath.Join(dir, "provider.json"))
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
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE customers (id TEXT PRIMARY KEY, email TEXT, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return dir
}

func countRows(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM customers`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func reconctl(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("reconctl", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RECONCTL_NO_PROGRESS=1")
	return cmd
}

// waitForWrite waits until the run is journaled as running and then until
// SQLite's rollback journal appears beside the database: the apply's write
// transaction has started (the journal's own first writes come earlier).
func waitForWrite(t *testing.T, cmd *exec.Cmd, db string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	running := false
	for time.Now().Before(deadline) {
		if !running {
			running = runningRuns(db) > 0
		} else if _, err := os.Stat(db + "-journal"); err == nil {
			time.Sleep(30 * time.Millisecond) // well inside the apply
			return
		}
		if cmd.ProcessState != nil {
			t.Fatal("reconctl exited before writing")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("the apply never started")
}

func runningRuns(path string) int {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(50)")
	if err != nil {
		return 0
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM reconctl_runs WHERE status = 'running'`).Scan(&n); err != nil {
		return 0
	}
	return n
}

func lastRun(t *testing.T, dir string) map[string]any {
	t.Helper()
	out, err := reconctl(dir, "history", "--state", "app.db", "-o", "json", "--limit", "1").Output()
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	var runs []map[string]any
	if err := json.Unmarshal(out, &runs); err != nil || len(runs) != 1 {
		t.Fatalf("history output %s: %v", out, err)
	}
	return runs[0]
}

// TestKillMidApply starts a large resync, kills it with SIGKILL while it
// writes, and checks that the state is entirely as before and the journal
// shows the run as incomplete; then that the next run takes over the stale
// lock and completes.
func TestKillMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("large apply")
	}
	const n = 60000
	dir := bigFixture(t, n)
	cmd := reconctl(dir, "resync", "--provider", "file:provider.json", "--state", "app.db", "--max-changes", "unlimited", "-q")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForWrite(t, cmd, filepath.Join(dir, "app.db"))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	if got := countRows(t, filepath.Join(dir, "app.db")); got != 0 {
		t.Fatalf("after SIGKILL the state has %d rows: want all or nothing (0)", got)
	}
	if run := lastRun(t, dir); run["status"] != "incomplete" || run["command"] != "resync" {
		t.Fatalf("journal shows %v, want the resync as incomplete", run)
	}

	out, err := reconctl(dir, "resync", "--provider", "file:provider.json", "--state", "app.db", "--max-changes", "unlimited", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("resync after the crash: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "took over the lock") {
		t.Errorf("the stale lock takeover was not reported:\n%s", out)
	}
	if got := countRows(t, filepath.Join(dir, "app.db")); got != n {
		t.Fatalf("after the second resync: %d rows, want %d", got, n)
	}
}

// TestInterruptMidApply sends Ctrl-C (SIGINT) during the apply: the
// transaction rolls back and the run is journaled as interrupted.
func TestInterruptMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("large apply")
	}
	const n = 60000
	dir := bigFixture(t, n)
	cmd := reconctl(dir, "resync", "--provider", "file:provider.json", "--state", "app.db", "--max-changes", "unlimited", "-q")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForWrite(t, cmd, filepath.Join(dir, "app.db"))
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit = %v, want 1\n%s", err, stderr.String())
	}
	if got := countRows(t, filepath.Join(dir, "app.db")); got != 0 && got != n {
		t.Fatalf("after Ctrl-C the state has %d rows: want all or nothing", got)
	}
	if run := lastRun(t, dir); run["status"] != "interrupted" {
		t.Fatalf("journal shows %v, want interrupted", run)
	}
}

// TestOneWriter: a second writing run fails at once naming the holder, or
// waits with --wait.
func TestOneWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("large apply")
	}
	dir := bigFixture(t, 60000)
	first := reconctl(dir, "resync", "--provider", "file:provider.json", "--state", "app.db", "--max-changes", "unlimited", "-q")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitForWrite(t, first, filepath.Join(dir, "app.db"))
	out, err := reconctl(dir, "diff", "--apply", "--provider", "file:provider.json", "--state", "app.db").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("second writer: %v, want exit 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "reconctl resync") || !strings.Contains(string(out), "--wait") {
		t.Errorf("the refusal does not name the holder and --wait:\n%s", out)
	}
	out, err = reconctl(dir, "diff", "--apply", "--wait", "5m", "--provider", "file:provider.json", "--state", "app.db", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("with --wait: %v\n%s", err, out)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first writer: %v", err)
	}
}

// TestKillAfterCommit kills a large resync with SIGKILL as soon as its
// writes are committed (while it still records the run's end): the journal,
// which lives in the same database, says what was applied, since it commits
// in the same transaction as the writes.
func TestKillAfterCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("large apply")
	}
	const n = 60000
	dir := bigFixture(t, n)
	db := filepath.Join(dir, "app.db")
	cmd := reconctl(dir, "resync", "--provider", "file:provider.json", "--state", "app.db", "--max-changes", "unlimited", "-q")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(3 * time.Minute)
	for rowsNow(db) < n {
		select {
		case <-exited:
			t.Fatal("reconctl exited before its writes were seen")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the apply never committed")
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited

	run := lastRun(t, dir)
	counts, _ := run["counts"].(map[string]any)
	if counts == nil || counts["applied"] != float64(n) {
		t.Fatalf("the state has all %d rows but history shows %v", n, run)
	}
	out, err := reconctl(dir, "history", "--state", "app.db", "-o", "json", run["run_id"].(string)).Output()
	if err != nil || !strings.Contains(string(out), `"applied": true`) {
		t.Fatalf("history of the run: %v\n%.300s", err, out)
	}
}

// rowsNow counts the customers without waiting on a writer (-1 while busy).
func rowsNow(path string) int {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(0)")
	if err != nil {
		return -1
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM customers`).Scan(&n); err != nil {
		return -1
	}
	return n
}
