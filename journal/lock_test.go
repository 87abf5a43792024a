package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const lockHelperEnv = "RECONCTL_JOURNAL_TEST_LOCK_HELPER"

// serverLockHelperEnv set to a DSN makes the helper take that server
// state's lock on table users instead.
const serverLockHelperEnv = "RECONCTL_JOURNAL_TEST_SERVER_LOCK_HELPER"

// TestMain doubles as a helper process: with lockHelperEnv set to a state
// path it takes that state's lock, says "locked" and waits to be killed.
func TestMain(m *testing.M) {
	if state := os.Getenv(lockHelperEnv); state != "" {
		_, err := Lock(context.Background(), state, "r_child", "resync", 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	if dsn := os.Getenv(serverLockHelperEnv); dsn != "" {
		_, err := AcquireServerLock(context.Background(), dsn, serverOpts, []string{"users"}, Holder{RunID: "r_child", Command: "reconctl resync"}, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func statePath(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.db")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLockExcludesSecondLocker(t *testing.T) {
	ctx := context.Background()
	state := statePath(t)
	l1, err := AcquireLock(ctx, state, Holder{RunID: "r_one", Command: "resync"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l1.Stale != nil || l1.Path != state+".reconctl.lock" {
		t.Fatalf("first lock: %+v", l1)
	}

	_, err = Lock(ctx, state, "r_two", "diff", 0)
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	if le.Holder == nil || le.Holder.RunID != "r_one" || le.Holder.PID != os.Getpid() {
		t.Fatalf("holder: %+v", le.Holder)
	}
	msg := err.Error()
	for _, want := range []string{"state " + state + " is being written by run r_one (reconctl resync, pid " + itoa(os.Getpid()) + ", since ", "); wait for it or pass --wait 5m"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}

	must(t, l1.Release())
	must(t, l1.Release()) // twice is fine
	release, err := Lock(ctx, state, "r_two", "diff", 0)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	must(t, release())
	// A clean release leaves no holder behind: the next locker sees no stale lock.
	l3, err := AcquireLock(ctx, state, Holder{RunID: "r_three"}, 0)
	if err != nil || l3.Stale != nil {
		t.Fatalf("after clean release: %+v %v", l3, err)
	}
	l3.Release()
}

func TestLockWait(t *testing.T) {
	ctx := context.Background()
	state := statePath(t)
	l1, err := AcquireLock(ctx, state, Holder{RunID: "r_one", Command: "resync"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Release()

	// Times out.
	start := time.Now()
	_, err = Lock(ctx, state, "r_two", "diff", 300*time.Millisecond)
	var le *LockedError
	if !errors.As(err, &le) || le.Waited != 300*time.Millisecond {
		t.Fatalf("wait: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("waited %v", d)
	}
	if !strings.Contains(err.Error(), "still being written by run r_one") {
		t.Fatalf("message: %v", err)
	}

	// Cancelled.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = Lock(cctx, state, "r_two", "diff", time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}

	// Acquired once the holder releases.
	go func() {
		time.Sleep(300 * time.Millisecond)
		l1.Release()
	}()
	release, err := Lock(ctx, state, "r_two", "diff", 10*time.Second)
	if err != nil {
		t.Fatalf("wait for release: %v", err)
	}
	release()
}

func TestLockStaleTakeover(t *testing.T) {
	ctx := context.Background()
	state := statePath(t)
	// A holder record nobody holds the flock for: its process died.
	rec := `{"run_id":"r_dead","pid":4242,"host":"` + hostname() + `","command":"resync","started_at":"2026-11-27T10:15:00Z"}` + "\n"
	if err := os.WriteFile(LockPath(state), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := AcquireLock(ctx, state, Holder{RunID: "r_new", Command: "diff"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.Stale == nil || l.Stale.RunID != "r_dead" || l.Stale.PID != 4242 {
		t.Fatalf("stale: %+v", l.Stale)
	}
	note := l.StaleNote()
	if !strings.Contains(note, "r_dead") || !strings.Contains(note, "pid 4242") || !strings.Contains(note, "reconctl history r_dead") {
		t.Fatalf("note: %q", note)
	}
	// The file now names the new holder, in full (no tail of the old record).
	b, _ := os.ReadFile(LockPath(state))
	h := parseHolder(b)
	if h == nil || h.RunID != "r_new" || h.PID != os.Getpid() || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("lock file: %q", b)
	}

	// Unreadable leftovers still count as stale.
	l.Release()
	os.WriteFile(LockPath(state), []byte("garbage"), 0o644)
	l2, err := AcquireLock(ctx, state, Holder{RunID: "r_x"}, 0)
	if err != nil || l2.Stale == nil {
		t.Fatalf("garbage lock file: %+v %v", l2, err)
	}
	l2.Release()
}

func TestLockKilledHolder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	ctx := context.Background()
	state := statePath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+state)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q %v", line, err)
	}

	_, err = Lock(ctx, state, "r_parent", "diff", 0)
	var le *LockedError
	if !errors.As(err, &le) || le.Holder == nil || le.Holder.PID != cmd.Process.Pid || le.Holder.RunID != "r_child" {
		t.Fatalf("while the child holds it: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	l, err := AcquireLock(ctx, state, Holder{RunID: "r_parent", Command: "diff"}, 0)
	if err != nil {
		t.Fatalf("after SIGKILL: %v", err)
	}
	defer l.Release()
	if l.Stale == nil || l.Stale.PID != cmd.Process.Pid || l.Stale.RunID != "r_child" {
		t.Fatalf("stale holder: %+v", l.Stale)
	}
}

// TestLockFollowsTheFile: a symlink or another spelling of the same state
// path takes the same lock, not a second one.
func TestLockFollowsTheFile(t *testing.T) {
	ctx := context.Background()
	state := statePath(t)
	dir := filepath.Dir(state)
	l1, err := AcquireLock(ctx, state, Holder{RunID: "r_one", Command: "resync"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Release()
	link := filepath.Join(t.TempDir(), "link.db")
	if err := os.Symlink(state, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if err := os.Chdir(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	for _, p := range []string{link, "../app.db", "./../sub/../app.db"} {
		l, err := AcquireLock(ctx, p, Holder{RunID: "r_two"}, 0)
		if err == nil {
			l.Release()
			t.Errorf("%s: a second lock on the same file was granted (lock %s)", p, l.Path)
			continue
		}
		var le *LockedError
		if !errors.As(err, &le) || le.Holder == nil || le.Holder.RunID != "r_one" {
			t.Errorf("%s: %v, want locked by r_one", p, err)
		}
	}
	if _, err := os.Stat(link + ".reconctl.lock"); err == nil {
		t.Errorf("a lock file was made beside the symlink")
	}
	// A hard link is the same device and inode under another name: it shares
	// the lock, and the refusal names the holder.
	hard := filepath.Join(dir, "hl.db")
	if err := os.Link(state, hard); err != nil {
		t.Fatal(err)
	}
	l, err := AcquireLock(ctx, hard, Holder{RunID: "r_two"}, 0)
	if err == nil {
		l.Release()
		t.Fatalf("%s: a second lock on the same file through a hard link was granted (lock %s)", hard, l.Path)
	}
	var le *LockedError
	if !errors.As(err, &le) || le.Holder == nil || le.Holder.RunID != "r_one" {
		t.Errorf("%s: %v, want locked by r_one", hard, err)
	}
	// Released, the hard link can be locked (and then the original cannot).
	l1.Release()
	l2, err := AcquireLock(ctx, hard, Holder{RunID: "r_two"}, 0)
	if err != nil {
		t.Fatalf("%s after release: %v", hard, err)
	}
	defer l2.Release()
	if l, err := AcquireLock(ctx, state, Holder{RunID: "r_three"}, 0); err == nil {
		l.Release()
		t.Errorf("%s: locked while the hard link %s is held", state, hard)
	} else if !errors.As(err, &le) || le.Holder == nil || le.Holder.RunID != "r_two" {
		t.Errorf("%s: %v, want locked by r_two", state, err)
	}
}

// TestLockMissingState: a state that does not exist is refused before any
// lock file is made.
func TestLockMissingState(t *testing.T) {
	state := filepath.Join(t.TempDir(), "missing.db")
	_, err := AcquireLock(context.Background(), state, Holder{RunID: "r_one"}, 0)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("err = %v, want the state to be missing", err)
	}
	if _, err := os.Stat(LockPath(state)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file left behind: %v", err)
	}
}
