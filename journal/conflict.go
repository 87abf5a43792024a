package journal

import "github.com/reconctl/reconctl/reconcile"

// driftError is what a drift item's error column holds: its error, or for
// a write not applied because the local row changed meanwhile (issue #15)
// "conflict: " and the reason.
func driftError(d *reconcile.Drift) string {
	if d.Conflict && d.Error == "" {
		return "conflict: " + d.Reason
	}
	return d.Error
}
