package replay

// Conditional event writes (issue #15): when a resource maps updated_at, an
// event's write applies only if the local row has not moved past the event
// — a write the app made itself (its own webhook handler) after the event
// is never overwritten by the older event. Such an event is stale. A create
// that meets a row the app inserted meanwhile writes over it only when that
// row's updated_at is older than the event; without updated_at it cannot
// tell, and the event is a conflict: not written, reported, exit 2.

import (
	"fmt"
	"strings"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// reasonNewer starts the reason of an event the local row has moved past
// (stale); any other reason is a conflict.
const reasonNewer = "the local row is newer than the event"

// guard makes ch (e's write) conditional: an update or delete (with
// updated_at mapped) on the local row's updated_at being no newer than the
// event; a create on no live row having appeared meanwhile or, with
// updated_at mapped, on the row that appeared being older than the event.
func guard(ch *localstate.Change, t *localstate.Table, e providers.Event) {
	if ch == nil {
		return
	}
	if t.UpdatedAt == "" {
		if ch.Op == localstate.OpCreate {
			ch.Expect = &localstate.Expect{Absent: true}
		}
		return
	}
	at, col := e.Created, t.UpdatedAt
	if ch.Op == localstate.OpCreate {
		ch.Expect = &localstate.Expect{Absent: true, Columns: []string{col}, Match: func(now []any) string {
			if _, _, ok := localInstant(now[0]); !ok {
				return fmt.Sprintf("the app created the local row since the event, with no %s to tell which is newer: not overwritten", col)
			}
			return newerThan(now[0], at, col)
		}}
		return
	}
	ch.Expect = &localstate.Expect{Columns: []string{col}, Match: func(now []any) string {
		return newerThan(now[0], at, col)
	}}
}

// newerThan is why a local updated_at v newer than the event's time at
// keeps the event from being applied, or "". They are compared at the
// column's precision: a column keeping whole seconds (or hundredths)
// compares the event's time truncated likewise, a finer one to its own
// digits — an event 300 ms newer than the row applies, one 300 ms older
// does not.
func newerThan(v any, at time.Time, col string) string {
	local, digits, ok := localInstant(v)
	if !ok {
		return ""
	}
	ev := at.UTC()
	if digits >= 0 {
		unit := time.Second
		for range digits {
			unit /= 10
		}
		ev = ev.Truncate(unit)
	}
	if !local.After(ev) {
		return ""
	}
	return fmt.Sprintf("%s (%s %s, event %s): not overwritten", reasonNewer, col, local.Format(time.RFC3339Nano), at.UTC().Format(time.RFC3339Nano))
}

// localInstant is a local updated_at as an instant, at the precision it
// has: digits is the fraction digits of a column coarser than milliseconds
// (localstate.Time), else -1 (the value's own precision).
func localInstant(v any) (t time.Time, digits int, ok bool) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), -1, true
	case localstate.Time:
		return x.T.UTC(), x.Digits, true
	case []byte:
		return localInstant(string(x))
	case string:
		if t, ok := providers.ParseTime(strings.TrimSpace(x)); ok {
			return t.UTC(), -1, true
		}
	}
	t, ok = reconcile.Instant(v) // unix seconds or milliseconds
	return t, -1, ok
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

// notApplied reports e, whose write was not applied for why: stale when
// the local row is newer than the event, otherwise a conflict (the run
// cannot tell which is newer: exit 2, for diff to look at the record).
// Either way the journal has it processed.
func (rep *Report) notApplied(e providers.Event, why string) {
	rep.addReason(e, OutcomeStale, why)
	if strings.HasPrefix(why, reasonNewer) {
		return
	}
	rep.Events[len(rep.Events)-1].Conflict = true
	rep.Summary["conflicts"]++
	if rep.ExitCode == reconcile.ExitOK {
		rep.ExitCode = reconcile.ExitDrift
	}
}
