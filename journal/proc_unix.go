//go:build unix

package journal

import (
	"errors"
	"syscall"
)

// pidAlive says whether a process with this pid exists on this host.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return !errors.Is(err, syscall.ESRCH) // EPERM: it exists, owned by someone else
}
