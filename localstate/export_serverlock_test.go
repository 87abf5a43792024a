package localstate

import "time"

// SetLockWaitHook sets the hook LockServer runs before each wait (tests).
func SetLockWaitHook(f func()) { lockWaitHook = f }

// SetKeepAlive sets how often a held server lock is checked in the
// background and a hook that gets each check's result (tests).
func SetKeepAlive(every time.Duration, hook func(error)) {
	ServerLockKeepAlive = every
	keepAliveHook = hook
}
