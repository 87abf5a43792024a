package journal

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

var hostname = sync.OnceValue(func() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
})

// procStartTime is when process pid started, in clock ticks since boot
// (field 22 of /proc/PID/stat). ok is false where there is no /proc (not
// Linux) or no such process.
func procStartTime(pid int) (int64, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: count fields from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 20 {
		return 0, false
	}
	t, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return 0, false
	}
	return t, true
}
