package rest

// CoversDeletions reports whether the events are an events API (events: in
// the config, whose types can delete) rather than the updated_after changes
// of an API without one, which never show a deletion: diff --incremental
// cannot roll a snapshot forward from those alone (reconcile/incremental.go).
func (e restEvents) CoversDeletions() bool { return e.p.cfg.Events != nil }
