//go:build race

package file

func init() { raceEnabled = true }
