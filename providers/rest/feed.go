package rest

// CoversDeletions reports whether the events show resource's deletions: an
// events API (events: in the config) with a type mapped to resource as
// `delete: true`. The updated_after changes of an API without events:
// never show one, nor do events whose types never delete resource's
// objects: diff --incremental cannot roll a snapshot forward from those
// alone (reconcile/incremental.go).
func (e restEvents) CoversDeletions(resource string) bool {
	ev := e.p.cfg.Events
	if ev == nil {
		return false
	}
	for _, t := range ev.Types {
		if t.Resource == resource && t.Delete {
			return true
		}
	}
	return false
}
