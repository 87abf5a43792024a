//go:build linux

package journal

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// stateLockByte is the byte of the state file itself that a writing run
// locks, so that every name of the file (hard links included) shares one
// lock. It is far beyond any byte SQLite locks (its lock bytes sit at 1 GiB,
// WAL mode locks the -shm file), so the app's own locks never conflict.
const stateLockByte = 1 << 62

// tryLockStateFile takes an exclusive open-file-description lock on
// stateLockByte of f (f open for writing). Unlike a classic POSIX record
// lock it is not dropped when SQLite closes its own descriptor of the file,
// and unlike flock it stays a byte-range lock on NFS.
func tryLockStateFile(f *os.File) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: stateLockByte, Len: 1}
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EACCES):
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return false, err
		}
	}
}

// unlockStateFile releases tryLockStateFile's lock without closing f.
func unlockStateFile(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: stateLockByte, Len: 1}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}
