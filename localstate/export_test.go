package localstate

// Unregister removes a backend a test registered.
func Unregister(name string) {
	regMu.Lock()
	defer regMu.Unlock()
	for i, b := range backends {
		if b.Name == name {
			backends = append(backends[:i], backends[i+1:]...)
			return
		}
	}
}

// SetAfterCheckHook sets the hook run between an Apply's conditional
// check and its writes; the returned func restores the previous one.
func SetAfterCheckHook(f func()) (restore func()) {
	prev := afterCheckHook
	afterCheckHook = f
	return func() { afterCheckHook = prev }
}

// SetBeforeRenameHook sets the hook run between a JSON snapshot's temp file
// write and its rename; the returned func restores the previous one.
func SetBeforeRenameHook(f func()) (restore func()) {
	prev := beforeRenameHook
	beforeRenameHook = f
	return func() { beforeRenameHook = prev }
}

// SetRecheckHook sets the hook given the keys of the conditional updates
// their row version did not settle (read back and compared); the returned
// func restores the previous one.
func SetRecheckHook(f func(keys []string)) (restore func()) {
	prev := recheckHook
	recheckHook = f
	return func() { recheckHook = prev }
}
