package journal

import (
	"context"
	"testing"
	"time"

	"github.com/reconctl/reconctl/reconcile"
)

// TestConflictJournaled: a conflicting write's drift row says applied 0 and
// why, in its error column (issue #15).
func TestConflictJournaled(t *testing.T) { eachKind(t, testConflictJournaled) }

func testConflictJournaled(t *testing.T, j *Journal) {
	ctx := context.Background()
	must(t, j.StartRun(ctx, Run{ID: "r_c", Command: "diff"}))
	rep := &reconcile.Report{Command: "diff", RunID: "r_c", StartedAt: time.Now(), Drift: []reconcile.Drift{
		{Resource: "customers", ID: "cus_1", Kind: reconcile.KindChanged, RemoteStatus: "present", Action: reconcile.ActionUpdate, Applied: true},
		{Resource: "customers", ID: "cus_2", Kind: reconcile.KindChanged, RemoteStatus: "present", Action: reconcile.ActionUpdate,
			Conflict: true, Reason: "local row changed since it was read"},
	}}
	must(t, j.FinishRun(ctx, "r_c", Finish{Status: StatusDrift, ExitCode: 2, Report: rep}))
	drift, err := j.RunDrift(ctx, "r_c")
	if err != nil {
		t.Fatal(err)
	}
	if len(drift) != 2 || !drift[0].Applied || drift[0].Error != "" || drift[1].Applied || drift[1].Error != "conflict: local row changed since it was read" {
		t.Fatalf("drift: %+v", drift)
	}
}
