package report_test

// Golden files of every format of every report kind (diff/resync, check-user,
// replay, history): go test ./report/ -update rewrites them.

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/replay"
	"github.com/reconctl/reconctl/report"
)

func goldenDiff() *reconcile.Report {
	return &reconcile.Report{
		Command: "diff", RunID: "r_diff", Provider: "stripe", State: "app.db", DryRun: true,
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), FinishedAt: time.Date(2026, 1, 2, 3, 4, 9, 0, time.UTC),
		Resources: []string{"customers", "subscriptions"},
		Summary: map[string]*reconcile.ResourceSummary{
			"customers":     {Remote: 4, Local: 4, InSync: 1, MissingLocal: 1, MissingRemote: 1, Changed: 1, Unresolved: 3, Ignored: 1},
			"subscriptions": {Remote: 1, Local: 1, InSync: 1},
		},
		Drift: []reconcile.Drift{
			{Resource: "customers", ID: "cus_new", Kind: reconcile.KindMissingLocal, RemoteStatus: "present", Action: reconcile.ActionCreate},
			{Resource: "customers", ID: "cus_gone", Kind: reconcile.KindMissingRemote, RemoteStatus: "deleted", Action: reconcile.ActionDelete},
			{Resource: "customers", ID: "cus_ann", Kind: reconcile.KindChanged, RemoteStatus: "present", Action: reconcile.ActionUpdate,
				Fields: []reconcile.FieldDiff{{Name: "plan", Path: "metadata.plan", Local: "free", Remote: "pro"}, {Name: "vip", Path: "metadata.vip", Local: nil, Remote: true},
					{Name: "full_name", Path: "name", Local: "Ann | Lee", Remote: "Ann `Lee` with a name far longer than forty characters, cut in tables"}}},
		},
		ExitCode: 2,
	}
}

// goldenConflict is an applied diff where the app changed one row meanwhile
// (issue #15): one fix applied, one conflict, two records re-read.
func goldenConflict() *reconcile.Report {
	return &reconcile.Report{
		Command: "diff", RunID: "r_conflict", Provider: "stripe", State: "app.db",
		StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), FinishedAt: time.Date(2026, 1, 2, 3, 4, 9, 0, time.UTC),
		Resources: []string{"customers"},
		Summary: map[string]*reconcile.ResourceSummary{
			"customers": {Remote: 3, Local: 3, InSync: 1, Changed: 2, Applied: 1, Unresolved: 1, Conflicts: 1, Reconfirmed: 2},
		},
		Drift: []reconcile.Drift{
			{Resource: "customers", ID: "cus_ann", Kind: reconcile.KindChanged, RemoteStatus: "present", Action: reconcile.ActionUpdate, Applied: true,
				Fields: []reconcile.FieldDiff{{Name: "plan", Path: "metadata.plan", Local: "free", Remote: "pro"}}},
			{Resource: "customers", ID: "cus_bob", Kind: reconcile.KindChanged, RemoteStatus: "present", Action: reconcile.ActionUpdate,
				Conflict: true, Reason: "local row changed since it was read: plan=free now=team (column plan)",
				Fields: []reconcile.FieldDiff{{Name: "plan", Path: "metadata.plan", Local: "free", Remote: "pro"}}},
		},
		ExitCode: 2,
	}
}

func goldenUser() *reconcile.UserReport {
	return &reconcile.UserReport{Command: "check-user", RunID: "r_user", Provider: "stripe", State: "app.db", StartedAt: "2026-01-02T03:04:05Z", FinishedAt: "2026-01-02T03:04:06Z",
		Resource: "customers", ID: "cus_ann", Query: "ann@example.com", Verdict: reconcile.VerdictDrifted, Fixable: true,
		Fields:  []reconcile.UserField{{Name: "email", Path: "email", Local: "ann@example.com", Remote: "ann@example.com", Match: true}, {Name: "plan", Path: "metadata.plan", Local: "free", Remote: "pro"}},
		Related: []string{"subscriptions"},
		Summary: map[string]*reconcile.ResourceSummary{"customers": {Remote: 1, Local: 1, Changed: 1, Unresolved: 1}, "subscriptions": {Remote: 1, Local: 1, Changed: 1, Unresolved: 1}},
		Drift: []reconcile.Drift{
			{Resource: "customers", ID: "cus_ann", Kind: reconcile.KindChanged, RemoteStatus: "present", Action: reconcile.ActionUpdate, Fields: []reconcile.FieldDiff{{Name: "plan", Path: "metadata.plan", Local: "free", Remote: "pro"}}},
			{Resource: "subscriptions", ID: "sub_1", Kind: reconcile.KindChanged, RemoteStatus: "present", Action: reconcile.ActionUpdate, Fields: []reconcile.FieldDiff{{Name: "status", Path: "status", Local: "active", Remote: "canceled"}}},
		},
		ExitCode: 2}
}

func goldenUserMatches() *reconcile.UserReport {
	return &reconcile.UserReport{Command: "check-user", RunID: "r_many", Provider: "stripe", State: "app.db", Resource: "customers", Query: "ann@example.com",
		Fields: nil, Drift: []reconcile.Drift{},
		Matches: []reconcile.UserMatch{{ID: "cus_1", Email: "ann@example.com", Created: "2026-01-01T00:00:00Z", Where: "both"}, {ID: "cus_2", Email: "Ann@example.com", Where: "local"}},
		Message: "2 records match ann@example.com; run check-user with one of their ids", ExitCode: 1}
}

func goldenReplay() *replay.Report {
	return &replay.Report{Command: "replay", RunID: "r_replay", Provider: "stripe", State: "app.db", Since: "2026-01-01T00:00:00Z", Until: "2026-01-02T00:00:00Z",
		Types: []string{"customer.updated"}, Partial: true, LostUntil: "2026-01-01T01:00:00Z", StartedAt: "2026-01-02T00:00:01Z", FinishedAt: "2026-01-02T00:00:02Z",
		Events: []replay.Event{
			{ID: "evt_1", Type: "customer.updated", Created: "2026-01-01T02:00:00Z", Resource: "customers", ObjectID: "cus_1", Outcome: replay.OutcomeApplied, APIVersion: "2020-08-27", Payload: replay.PayloadRefetched},
			{ID: "evt_2", Type: "customer.updated", Created: "2026-01-01T03:00:00Z", Resource: "customers", ObjectID: "cus_2", Outcome: replay.OutcomeDuplicate},
			{ID: "evt_3", Type: "customer.deleted", Created: "2026-01-01T04:00:00Z", Resource: "customers", ObjectID: "cus_3", Outcome: replay.OutcomeFailed, Error: "state is read-only"},
		},
		Summary: map[string]int{"fetched": 3, "applied": 1, "duplicate": 1, "failed": 1, "stale": 0, "ignored": 0, "foreign_version": 1, "refetched": 1},
		ByType:  map[string]map[string]int{"customer.updated": {"applied": 1, "duplicate": 1}, "customer.deleted": {"failed": 1}},
		Cursor:  "evt_2", Stopped: "stopped at evt_3 (state is read-only): later events were not applied, to keep their order; fix the cause and run replay --since last",
		ExitCode: 2}
}

func goldenRuns() []journal.RunInfo {
	fin := time.Date(2026, 1, 2, 3, 4, 9, 0, time.UTC)
	zero, two := 0, 2
	return []journal.RunInfo{
		{RunID: "r_2", Command: "replay", Args: []string{"reconctl", "replay"}, Provider: "stripe", State: "app.db", Resources: []string{"customers"},
			StartedAt: time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC), FinishedAt: &fin, Status: "finished", ExitCode: &zero, Counts: map[string]int{"fetched": 7, "applied": 5}, PID: 42, Host: "ops"},
		{RunID: "r_1", Command: "diff", Args: []string{"reconctl", "diff", "--apply"}, Provider: "stripe", State: "app.db", Resources: []string{"customers", "subscriptions"},
			StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), FinishedAt: &fin, Status: "failed", ExitCode: &two, Error: "reading customers at stripe: 500 Internal Server Error <html> & a message longer than sixty characters",
			Counts: map[string]int{"missing_local": 1, "missing_remote": 2, "changed": 3, "applied": 0}, PID: 41, Host: "ops"},
	}
}

// goldenKinds renders each report kind through the one renderer.
var goldenKinds = []struct {
	name   string
	render func(w io.Writer, format string) error
}{
	{"diff", func(w io.Writer, f string) error {
		return report.Render(w, f, report.Diff(goldenDiff()), report.Options{})
	}},
	{"diff_conflict", func(w io.Writer, f string) error {
		return report.Render(w, f, report.Diff(goldenConflict()), report.Options{})
	}},
	{"user", func(w io.Writer, f string) error {
		return report.Render(w, f, report.User(goldenUser()), report.Options{})
	}},
	{"user_matches", func(w io.Writer, f string) error {
		return report.Render(w, f, report.User(goldenUserMatches()), report.Options{})
	}},
	{"replay", func(w io.Writer, f string) error { return report.Render(w, f, goldenReplay(), report.Options{}) }},
	{"history", func(w io.Writer, f string) error {
		return report.Render(w, f, report.Runs(goldenRuns()), report.Options{})
	}},
	{"history_empty", func(w io.Writer, f string) error { return report.Render(w, f, report.Runs(nil), report.Options{}) }},
}

func TestGoldenEveryKindEveryFormat(t *testing.T) {
	update := flag.Lookup("update").Value.(flag.Getter).Get().(bool)
	for _, k := range goldenKinds {
		for _, format := range report.Formats {
			t.Run(k.name+"_"+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := k.render(&buf, format); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", "kinds", k.name+"."+format+".golden")
				if update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./report/ -update to create it)", err)
				}
				if !bytes.Equal(buf.Bytes(), want) {
					t.Errorf("%s %s output differs from %s:\n got: %q\nwant: %q", k.name, format, golden, buf.String(), want)
				}
			})
		}
	}
}
