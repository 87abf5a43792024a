package journal

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestRecordEventsAndVersionsInBatches, on every kind: rows go in many
// rows a statement (a full batch and a shorter last one), and a key given
// twice in one call ends as one row at a time would leave it: a failure
// never overwrites a success, an older version never a newer one.
func TestRecordEventsAndVersionsInBatches(t *testing.T) {
	eachKind(t, func(t *testing.T, j *Journal) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		var evs []EventRow
		var vers []VersionRow
		var ids, objs []string
		for i := range 2*upsertBatch + 17 {
			id := fmt.Sprintf("evt_%04d", i)
			ids = append(ids, id)
			evs = append(evs, EventRow{Provider: "stripe", EventID: id, RunID: "r_1", Type: "customer.updated", Created: now, Outcome: OutcomeApplied})
			obj := fmt.Sprintf("cus_%04d", i)
			objs = append(objs, obj)
			vers = append(vers, VersionRow{Provider: "stripe", Resource: "customers", ObjectID: obj, At: now.Add(time.Duration(i) * time.Second), EventID: id})
		}
		// Twice in one call: applied then failed, failed then applied; newer then older.
		evs = append(evs,
			EventRow{Provider: "stripe", EventID: "evt_0000", RunID: "r_1", Outcome: OutcomeFailed},
			EventRow{Provider: "stripe", EventID: "evt_x", RunID: "r_1", Outcome: OutcomeFailed},
			EventRow{Provider: "stripe", EventID: "evt_x", RunID: "r_1", Outcome: OutcomeApplied})
		vers = append(vers, VersionRow{Provider: "stripe", Resource: "customers", ObjectID: "cus_0003", At: now.Add(-time.Hour), EventID: "evt_old"},
			VersionRow{Provider: "stripe", Resource: "customers", ObjectID: "cus_0004", At: now.Add(time.Hour), EventID: "evt_new"})
		must(t, j.RecordEvents(ctx, nil, evs))
		must(t, j.RecordVersions(ctx, nil, vers))
		got, err := j.EventsProcessed(ctx, "stripe", "", append(ids, "evt_x"))
		must(t, err)
		if len(got) != len(ids)+1 || got["evt_0000"] != OutcomeApplied || got["evt_x"] != OutcomeApplied {
			t.Fatalf("%d events recorded, evt_0000 %q, evt_x %q", len(got), got["evt_0000"], got["evt_x"])
		}
		vs, err := j.Versions(ctx, "stripe", "customers", objs)
		must(t, err)
		if len(vs) != len(objs) || !vs["cus_0003"].Equal(now.Add(3*time.Second)) || !vs["cus_0004"].Equal(now.Add(time.Hour)) || !vs["cus_0216"].Equal(now.Add(216*time.Second)) {
			t.Fatalf("%d versions; cus_0003 %v, cus_0004 %v, cus_0216 %v", len(vs), vs["cus_0003"], vs["cus_0004"], vs["cus_0216"])
		}
		// Recorded again, a success stays a success.
		must(t, j.RecordEvents(ctx, nil, []EventRow{{Provider: "stripe", EventID: "evt_0001", RunID: "r_2", Outcome: OutcomeFailed}}))
		if o, _ := j.EventsProcessed(ctx, "stripe", "", []string{"evt_0001"}); o["evt_0001"] != OutcomeApplied {
			t.Errorf("evt_0001: %q", o["evt_0001"])
		}
	})
}
