package journal

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
)

var serverOpts = localstate.ServerOptions{}

// The server lock as the journal reports it: a refusal is a *LockedError
// naming the holding run like a file lock's; a lock left by a session that
// died is taken over with a note naming the dead run.
func TestServerLockRefusalAndTakeover(t *testing.T) {
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			db := servertest.New(t, kind)
			started := time.Date(2026, 11, 27, 10, 15, 0, 0, time.UTC)
			a, err := AcquireServerLock(ctx, db.DSN, serverOpts, []string{"users"}, Holder{RunID: "r_a", PID: 77, Command: "reconctl resync", StartedAt: started}, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = AcquireServerLock(ctx, db.DSN, serverOpts, []string{"users"}, Holder{RunID: "r_b", Command: "reconctl resync"}, 0)
			var le *LockedError
			want := "state " + db.DSN + " is being written by run r_a (reconctl resync, pid 77, since 2026-11-27T10:15:00Z); wait for it or pass --wait 5m"
			if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || err.Error() != want {
				t.Fatalf("refusal:\n got %v\nwant %s", err, want)
			}
			// The holder's session dies without releasing.
			if kind == "postgres" {
				db.Exec(t, `SELECT pg_terminate_backend(session_id::int) FROM reconctl_lock_holders`)
			} else {
				var id int64
				if err := db.SQL.QueryRow(`SELECT session_id FROM reconctl_lock_holders`).Scan(&id); err != nil {
					t.Fatal(err)
				}
				admin := servertest.AdminDB(t, kind)
				defer admin.Close()
				if _, err := admin.Exec(`KILL ?`, id); err != nil {
					t.Fatal(err)
				}
			}
			defer a.Release()
			b, err := AcquireServerLock(ctx, db.DSN, serverOpts, []string{"users"}, Holder{RunID: "r_b", Command: "reconctl resync"}, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Release()
			if note := b.StaleNote(); !strings.Contains(note, "left by run r_a (reconctl resync, pid 77") || !strings.Contains(note, "reconctl history r_a") {
				t.Errorf("stale note: %q", note)
			}
		})
	}
}

// A holder process killed with SIGKILL (its connection closed by the kernel,
// no release) frees the server lock: the next writer gets it and names the
// dead run.
func TestServerLockKilledHolderProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for _, kind := range []string{"postgres", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			db := servertest.New(t, kind)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), serverLockHelperEnv+"="+db.DSN)
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
				t.Fatalf("child: %q %v", line, err)
			}
			_, err = AcquireServerLock(ctx, db.DSN, serverOpts, []string{"users"}, Holder{RunID: "r_parent"}, 0)
			var le *LockedError
			if !errors.As(err, &le) || le.Holder == nil || le.Holder.RunID != "r_child" || le.Holder.PID != cmd.Process.Pid {
				t.Fatalf("while the child holds it: %v", err)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			// The server notices the closed connection on its own time:
			// wait for the lock as --wait does (no clock assertion).
			l, err := AcquireServerLock(ctx, db.DSN, serverOpts, []string{"users"}, Holder{RunID: "r_parent"}, time.Minute)
			if err != nil {
				t.Fatalf("after SIGKILL: %v", err)
			}
			defer l.Release()
			if !strings.Contains(l.StaleNote(), "run r_child") {
				t.Errorf("stale note: %q", l.StaleNote())
			}
		})
	}
}
