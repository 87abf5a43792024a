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
