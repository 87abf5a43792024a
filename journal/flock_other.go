//go:build !unix

package journal

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

func tryLockFile(f *os.File) (bool, error) {
	return false, fmt.Errorf("state locking is not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func unlockFile(f *os.File) error { return nil }

func tryLockStateFile(f *os.File) (bool, error) { return tryLockFile(f) }

func unlockStateFile(f *os.File) error { return unlockFile(f) }
