//go:build !unix

package commands

import "os"

// childPeakRSS is not known here.
func childPeakRSS(*os.ProcessState) (float64, bool) { return 0, false }
