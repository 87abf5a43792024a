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
	"strings"
	"sync"
	"time"

	"github.com/reconctl/reconctl/localstate"
)

// ErrLocked is matched (errors.Is) by *LockedError.
var ErrLocked = errors.New("state is locked by another reconctl run")

// Holder is who holds a state's lock, as written into the lock file.
type Holder struct {
	RunID     string    `json:"run_id"`
	PID       int       `json:"pid"`
	Host      string    `json:"host"`
	Command   string    `json:"command"`
	StartedAt time.Time `json:"started_at"`
}

func (h *Holder) describe() string {
	cmd := h.Command
	if cmd == "" {
		cmd = "?"
	}
	if !strings.HasPrefix(cmd, "reconctl") {
		cmd = "reconctl " + cmd
	}
	s := fmt.Sprintf("run %s (%s, pid %d", orUnknown(h.RunID), cmd, h.PID)
	if h.Host != "" && h.Host != hostname() {
		s += " on host " + h.Host
	}
	if !h.StartedAt.IsZero() {
		s += ", since " + h.StartedAt.UTC().Format(time.RFC3339)
	}
	return s + ")"
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// LockedError is returned when another run holds the state's lock.
type LockedError struct {
	State    string // the state path as given (a DSN redacted)
	LockPath string // the lock file
	// Server names the server lock of a server state ("the server lock
	// on table users, server session 4711"); "" for a file lock.
	Server string
	Holder *Holder       // nil when the lock file could not be read (no trusted holder row)
	Waited time.Duration // how long Lock waited before giving up; 0 for --wait 0
}

func (e *LockedError) Error() string {
	who := "another reconctl process (lock file " + e.LockPath + ")"
	if e.Server != "" {
		who = "another reconctl session (" + e.Server + ")"
	}
	if e.Holder != nil {
		who = e.Holder.describe()
	}
	if w := e.Waited; w > 0 {
		if w >= time.Second {
			w = w.Round(time.Second)
		}
		return fmt.Sprintf("state %s is still being written by %s after waiting %s; wait for it or pass a longer --wait",
			e.State, who, w)
	}
	return fmt.Sprintf("state %s is being written by %s; wait for it or pass --wait 5m", e.State, who)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// LockPath is the lock file beside a state: <state>.reconctl.lock.
// AcquireLock puts it beside the resolved file (see ResolveState).
func LockPath(statePath string) string { return statePath + ".reconctl.lock" }

// ResolveState is the file a state path names: absolute, cleaned, with every
// symlink followed. Two paths of the same file (a symlink, ./x/../app.db, a
// relative and an absolute path) resolve alike, so they share one lock. A
// missing state is an error, and then no lock file is made.
func ResolveState(statePath string) (string, error) {
	fi, err := os.Stat(statePath)
	if errors.Is(err, fs.ErrNotExist) {
		return "", localstate.MissingError(statePath)
	}
	if err != nil {
		return "", fmt.Errorf("state %s: %w", statePath, err)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("state %s is a directory; --state / state: must name the database or snapshot file", statePath)
	}
	abs, err := filepath.Abs(statePath)
	if err != nil {
		return "", fmt.Errorf("state %s: %w", statePath, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("state %s: %w", statePath, err)
	}
	return real, nil
}

// StateLock is a held lock on a state.
type StateLock struct {
	State string
	Path  string // the lock file
	// Stale is the holder recorded by a run that died holding the lock (the
	// kernel released its flock); nil when the lock was free and clean.
	Stale *Holder

	f    *os.File
	sf   stateFile // the state file, locked as itself (see AcquireLock)
	once sync.Once
	err  error
}

// StaleNote says which dead run's lock was taken over; "" when none.
func (l *StateLock) StaleNote() string {
	if l.Stale == nil {
		return ""
	}
	h := *l.Stale
	note := fmt.Sprintf("took over the lock on %s left by %s, which ended without releasing it", l.State, h.describe())
	if h.RunID != "" {
		note += fmt.Sprintf("; `reconctl history %s` shows what it did", h.RunID)
	}
	return note
}

// Release clears the holder record and releases the lock. Calling it again
// does nothing. The lock file stays: removing it would let two processes
// lock two different files of the same name.
func (l *StateLock) Release() error {
	l.once.Do(func() {
		errTrunc := l.f.Truncate(0)
		errUnlock := unlockFile(l.f)
		errClose := l.f.Close()
		errState := l.sf.release()
		if err := errors.Join(errTrunc, errUnlock, errClose, errState); err != nil {
			l.err = fmt.Errorf("releasing the lock %s: %w", l.Path, err)
		}
	})
	return l.err
}

// lockPoll is how often a waiting Lock tries again.
var lockPoll = 200 * time.Millisecond

// AcquireLock takes the one-writer lock on a state for a run: an exclusive
// flock on <state>.reconctl.lock, which names the holder. When another run
// holds it, it fails at once with a *LockedError (wait 0) or tries again
// until it gets the lock, wait runs out (*LockedError) or ctx is done. A lock
// left by a killed run is free (the kernel drops a dead process's flock); the
// lock's StaleNote says it was taken over. h.PID, h.Host and h.StartedAt default to this process and now.
func AcquireLock(ctx context.Context, statePath string, h Holder, wait time.Duration) (*StateLock, error) {
	real, err := ResolveState(statePath)
	if err != nil {
		return nil, err
	}
	path := LockPath(real)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock file %s: %w; reconctl needs write access beside the state", path, err)
	}
	// The file itself, not its name: if what the path names changed between
	// the resolution and the open (a symlink re-pointed), the lock would be
	// on another file's name.
	if fi, err := os.Stat(real); err != nil || !sameAsResolved(statePath, fi) {
		f.Close()
		return nil, fmt.Errorf("state %s changed while reconctl was locking it (a symlink re-pointed?); run again", statePath)
	}
	// The state file itself is locked too (its device and inode, whatever
	// the name): a hard link is another name the path lock cannot see.
	sf, err := openStateForLock(real)
	if err != nil {
		f.Close()
		return nil, err
	}
	start := time.Now()
	var timer *time.Timer
	for {
		ok, err := tryLockFile(f)
		viaOtherName := false
		if err == nil && ok {
			if ok, err = sf.tryLock(); err == nil && !ok {
				_ = unlockFile(f)
				viaOtherName = true
			}
		}
		if err != nil {
			f.Close()
			_ = sf.release()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if ok {
			break
		}
		waited := time.Since(start)
		if wait <= 0 || waited >= wait {
			holder := readHolder(f)
			if viaOtherName {
				holder = holderByOtherName(real, path)
			}
			f.Close()
			_ = sf.release()
			le := &LockedError{State: statePath, LockPath: path, Holder: holder}
			if wait > 0 {
				le.Waited = wait
			}
			return nil, le
		}
		d := min(lockPoll, wait-waited)
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			f.Close()
			_ = sf.release()
			return nil, fmt.Errorf("waiting for the lock on state %s: %w", statePath, ctx.Err())
		case <-timer.C:
		}
	}

	l := &StateLock{State: statePath, Path: path, f: f, sf: sf}
	// We hold the flock, so whatever the file says was written by a run
	// that is gone.
	if b, err := readAll(f); err == nil && len(bytes.TrimSpace(b)) > 0 {
		l.Stale = parseHolder(b)
		if l.Stale == nil {
			l.Stale = &Holder{}
		}
	}
	if h.PID == 0 {
		h.PID = os.Getpid()
	}
	if h.Host == "" {
		h.Host = hostname()
	}
	if h.StartedAt.IsZero() {
		h.StartedAt = time.Now()
	}
	h.StartedAt = h.StartedAt.UTC().Truncate(time.Second)
	b, _ := json.Marshal(h)
	b = append(b, '\n')
	// Write then truncate (not the other way round), so a reader never sees
	// an empty file while we hold the lock; readHolder takes the first JSON
	// value and ignores any tail of an older, longer record.
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Truncate(int64(len(b)))
	}
	if err != nil {
		l.Release()
		return nil, fmt.Errorf("writing the lock file %s: %w", path, err)
	}
	return l, nil
}

func readAll(f *os.File) ([]byte, error) {
	return io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
}

func readHolder(f *os.File) *Holder {
	b, err := readAll(f)
	if err != nil {
		return nil
	}
	return parseHolder(b)
}

func parseHolder(b []byte) *Holder {
	var h Holder
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&h); err != nil {
		return nil
	}
	return &h
}

// sameAsResolved reports whether statePath still names the file fi is
// (same device and inode).
func sameAsResolved(statePath string, fi os.FileInfo) bool {
	now, err := os.Stat(statePath)
	return err == nil && os.SameFile(now, fi)
}

// parkedStateFiles are state files whose lock was released but whose
// descriptor stays open: closing any descriptor of a file drops every POSIX
// record lock this process holds on it, SQLite's own included, so reconctl
// never closes one while SQLite may have the database open. A later lock of
// the same file reuses a parked descriptor instead of opening another.
var parkedStateFiles struct {
	sync.Mutex
	files []stateFile
}

// stateFile is the state file opened to be locked as itself: for writing
// when it can (a byte-range lock SQLite never uses), else read only (flock).
type stateFile struct {
	f        *os.File
	writable bool
}

func (sf stateFile) tryLock() (bool, error) {
	if sf.writable {
		return tryLockStateFile(sf.f)
	}
	return tryLockFile(sf.f)
}

// release drops the lock and parks the descriptor (never closes it).
func (sf stateFile) release() error {
	var err error
	if sf.writable {
		err = unlockStateFile(sf.f)
	} else {
		err = unlockFile(sf.f)
	}
	parkedStateFiles.Lock()
	parkedStateFiles.files = append(parkedStateFiles.files, sf)
	parkedStateFiles.Unlock()
	return err
}

func openStateForLock(real string) (stateFile, error) {
	if fi, err := os.Stat(real); err == nil {
		parkedStateFiles.Lock()
		for i, p := range parkedStateFiles.files {
			if pfi, err := p.f.Stat(); err == nil && os.SameFile(fi, pfi) {
				parkedStateFiles.files = append(parkedStateFiles.files[:i], parkedStateFiles.files[i+1:]...)
				parkedStateFiles.Unlock()
				return p, nil
			}
		}
		parkedStateFiles.Unlock()
	}
	if f, err := os.OpenFile(real, os.O_RDWR, 0); err == nil {
		return stateFile{f: f, writable: true}, nil
	}
	f, err := os.Open(real)
	if err != nil {
		return stateFile{}, fmt.Errorf("cannot open the state %s to lock it: %w", real, err)
	}
	return stateFile{f: f}, nil
}

// holderByOtherName finds who holds the lock on the state file real through
// another of its names (a hard link): the holder recorded in a lock file
// beside real whose state is the same file. nil when none is found there.
func holderByOtherName(real, own string) *Holder {
	fi, err := os.Stat(real)
	if err != nil {
		return nil
	}
	locks, _ := filepath.Glob(filepath.Join(filepath.Dir(real), "*.reconctl.lock"))
	for _, lp := range locks {
		if lp == own {
			continue
		}
		other, err := os.Stat(strings.TrimSuffix(lp, ".reconctl.lock"))
		if err != nil || !os.SameFile(fi, other) {
			continue
		}
		b, err := os.ReadFile(lp)
		if err != nil {
			continue
		}
		if h := parseHolder(b); h != nil {
			return h
		}
	}
	return nil
}
