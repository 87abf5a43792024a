package journal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reconctl/reconctl/localstate"
)

// WriterLock is a held one-writer lock: a lock file beside a file state
// (*StateLock) or the server's own lock of a server state (*ServerLock).
type WriterLock interface {
	// StaleNote says which dead run's lock was taken over; "" when none.
	StaleNote() string
	Release() error
}

var (
	_ WriterLock = (*StateLock)(nil)
	_ WriterLock = (*ServerLock)(nil)
)

// ServerLock is a held writer lock of a server state.
type ServerLock struct {
	State string // redacted
	l     *localstate.ServerLock
}

// AcquireServerLock takes the one-writer lock of a server state in the
// server (localstate.LockServerOf: one lock per resource table), for the
// run h. A busy lock is a *LockedError naming the holder, as for a file.
func AcquireServerLock(ctx context.Context, location string, opts localstate.ServerOptions, resources []string, h Holder, wait time.Duration) (*ServerLock, error) {
	l, err := localstate.LockServerOf(ctx, location, opts, resources,
		localstate.LockHolder{RunID: h.RunID, PID: h.PID, Host: h.Host, Command: h.Command, StartedAt: h.StartedAt}, wait)
	var be *localstate.LockBusyError
	if errors.As(err, &be) {
		le := &LockedError{State: be.Location, Server: fmt.Sprintf("the server lock on table %s", be.Resource), Waited: be.Waited}
		if be.Session != 0 {
			le.Server += fmt.Sprintf(", server session %d", be.Session)
		}
		if be.Holder != nil {
			le.Holder = fromLockHolder(be.Holder)
		}
		return nil, le
	}
	if err != nil {
		return nil, err
	}
	return &ServerLock{State: localstate.RedactLocation(location), l: l}, nil
}

func fromLockHolder(h *localstate.LockHolder) *Holder {
	return &Holder{RunID: h.RunID, PID: h.PID, Host: h.Host, Command: h.Command, StartedAt: h.StartedAt}
}

// StaleNote says which dead run's lock was taken over; "" when none.
func (l *ServerLock) StaleNote() string {
	if l.l.Stale == nil {
		return ""
	}
	h := fromLockHolder(l.l.Stale)
	note := fmt.Sprintf("took over the lock on %s left by %s, whose session ended without releasing it", l.State, h.describe())
	if h.RunID != "" {
		note += fmt.Sprintf("; `reconctl history %s` shows what it did", h.RunID)
	}
	return note
}

// Check says whether the server still holds the lock for this run: nil,
// or a *localstate.LockLostError once its session ended. A write checks it
// right before it commits.
func (l *ServerLock) Check(ctx context.Context) error { return l.l.Check(ctx) }

// Release releases the lock (again: nothing).
func (l *ServerLock) Release() error { return l.l.Release() }
