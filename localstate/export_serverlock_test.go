package localstate

// SetLockWaitHook sets the hook LockServer runs before each wait (tests).
func SetLockWaitHook(f func()) { lockWaitHook = f }
