//go:build linux

package commands

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair (Linux /dev/ptmx).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// writeExport writes a file: provider export and a matching JSON state with
// enough records for progress to be drawn.
func writeExport(t *testing.T, dir string) {
	var p, l strings.Builder
	p.WriteString(`{"customers": [`)
	l.WriteString(`{"customers": [`)
	for i := 0; i < 3000; i++ {
		if i > 0 {
			p.WriteString(",")
			l.WriteString(",")
		}
		fmt.Fprintf(&p, `{"id":"cus_%d","email":"u%d@example.com"}`, i, i)
		email := fmt.Sprintf("u%d@example.com", i)
		if i%10 == 0 {
			email = "old@example.com"
		}
		fmt.Fprintf(&l, `{"id":"cus_%d","email":%q}`, i+5, email)
	}
	p.WriteString("]}")
	l.WriteString("]}")
	if err := os.WriteFile(filepath.Join(dir, "provider.json"), []byte(p.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(l.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStdoutSameWithTerminalStderr proves progress never touches stdout: the
// report is byte-identical whether stderr is a terminal (bars drawn) or not.
func TestStdoutSameWithTerminalStderr(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir)
	args := []string{"reconctl", "diff", "--provider", "file:" + filepath.Join(dir, "provider.json"),
		"--state", filepath.Join(dir, "state.json"), "-o", "json", "--journal", filepath.Join(dir, "j.db")}
	run := func(stderr io.Writer) []byte {
		var out bytes.Buffer
		app := New(IO{In: strings.NewReader(""), Out: &out, Err: stderr})
		err := app.RunContext(context.Background(), args)
		if ee, ok := err.(*ExitError); !ok || ee.Code != 2 {
			t.Fatalf("diff: %v, want exit 2", err)
		}
		return normalizeRun(out.Bytes())
	}

	var plainErr bytes.Buffer
	plain := run(&plainErr)
	if plainErr.Len() != 0 {
		t.Errorf("stderr in a pipe is not empty: %q", plainErr.String())
	}

	master, slave := openPTY(t)
	defer master.Close()
	var drawn bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = io.Copy(&drawn, master) }()
	tty := run(slave)
	slave.Close()
	master.Close()
	wg.Wait()

	if !bytes.Equal(plain, tty) {
		t.Errorf("stdout differs with a terminal on stderr:\n%s\n---\n%s", plain, tty)
	}
	if !strings.Contains(drawn.String(), "listing customers") {
		t.Errorf("no progress drawn on the terminal: %q", drawn.String())
	}
}

// normalizeRun blanks what differs between two runs (run id, times).
func normalizeRun(b []byte) []byte {
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, `"run_id"`) || strings.HasPrefix(trim, `"started_at"`) || strings.HasPrefix(trim, `"finished_at"`) {
			continue
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

// TestApplyProgress: an apply draws its own bar on a terminal stderr.
func TestApplyProgress(t *testing.T) {
	dir := t.TempDir()
	writeExport(t, dir)
	master, slave := openPTY(t)
	defer master.Close()
	var drawn bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = io.Copy(&drawn, master) }()
	var out bytes.Buffer
	app := New(IO{In: strings.NewReader(""), Out: &out, Err: slave})
	err := app.RunContext(context.Background(), []string{"reconctl", "diff", "--apply", "--max-changes", "unlimited",
		"--provider", "file:" + filepath.Join(dir, "provider.json"), "--state", filepath.Join(dir, "state.json"), "--journal", filepath.Join(dir, "j.db")})
	slave.Close()
	master.Close()
	wg.Wait()
	if err != nil {
		t.Fatalf("diff --apply: %v\n%s", err, out.String())
	}
	for _, want := range []string{"listing customers", "confirming missing customers", "applying"} {
		if !strings.Contains(drawn.String(), want) {
			t.Errorf("no %q progress drawn: %q", want, drawn.String())
		}
	}
	if strings.Contains(out.String(), "applying") {
		t.Error("progress leaked into stdout")
	}
}
