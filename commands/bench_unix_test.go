//go:build unix

package commands

import (
	"os"
	"syscall"
)

// childPeakRSS is a finished child's peak RSS in MB (getrusage maxrss, KB on Linux).
func childPeakRSS(ps *os.ProcessState) (float64, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, false
	}
	return float64(ru.Maxrss) / 1024, true
}
