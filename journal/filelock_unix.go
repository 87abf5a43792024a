//go:build unix && !linux

package journal

import "os"

// tryLockStateFile takes an exclusive flock on the state file itself, so
// every name of the file (hard links included) shares one lock. flock and
// SQLite's fcntl record locks are independent on these systems.
func tryLockStateFile(f *os.File) (bool, error) { return tryLockFile(f) }

func unlockStateFile(f *os.File) error { return unlockFile(f) }
