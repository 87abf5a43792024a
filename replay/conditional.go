package replay

// Conditional event writes (issue #15): when a resource maps updated_at, an
// event's write applies only if the local row has not moved past the event
// — a write the app made itself (its own webhook handler) after the event
// is never overwritten by the older event. Such an event is stale.

import (
	"fmt"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// guard makes ch (e's write) conditional when its table maps updated_at: an
// update or delete on the local row's updated_at being no newer than the
// event, a create on no live row having appeared meanwhile.
func guard(ch *localstate.Change, t *localstate.Table, e providers.Event) {
	if ch == nil || t.UpdatedAt == "" {
		return
	}
	if ch.Op == localstate.OpCreate {
		ch.Expect = &localstate.Expect{Absent: true}
		return
	}
	at := e.Created
	ch.Expect = &localstate.Expect{Columns: []string{t.UpdatedAt}, Match: func(now []any) string {
		return newerThan(now[0], at, t.UpdatedAt)
	}}
}

// newerThan is why a local updated_at v newer than the event's time at
// keeps the event from being applied, or "".
func newerThan(v any, at time.Time, col string) string {
	local, ok := reconcile.Instant(v)
	if !ok || !local.After(at) {
		return ""
	}
	return fmt.Sprintf("the local row is newer than the event (%s %s, event %s): not overwritten", col, local.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
}

// conflict is why ch was not written, or "".
func conflict(ch *localstate.Change) string {
	if ch == nil || ch.Expect == nil {
		return ""
	}
	if ch.Expect.Conflict == localstate.ReasonInserted {
		return "the app created the local row since the event: not overwritten"
	}
	return ch.Expect.Conflict
}
