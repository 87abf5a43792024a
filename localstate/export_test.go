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
