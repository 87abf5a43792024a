package main

// Regression test (#15, review): resync --force rewrites an in-sync record
// whose row the app changed during the listing: the write is a conflict,
// and a drift item names the record and says why (contract: the drift item
// carries conflict/reason) — not only "conflicts: 1" in the summary.

import (
	"bytes"
	"strings"
	"testing"
)

func TestRaceForceRewriteConflictNamed(t *testing.T) {
	for _, o := range raceStates() {
		t.Run(o.kind, func(t *testing.T) {
			f := newRaceFixture(t, o.open(t))
			y := f.ids[len(f.ids)-4] // page 0, v1 on both sides: in sync
			done := make(chan error, 1)
			f.fake.SetListHook(func(resource string, page int) {
				if resource != "customers" || page != 1 {
					return
				}
				if _, err := f.fake.UpdateCustomer(y, map[string]any{"metadata": map[string]any{"plan": "v2"}}); err != nil {
					done <- err
					return
				}
				_, err := f.st.app.Exec(f.st.q(`UPDATE users SET plan = 'v2' WHERE id = ?`), y)
				done <- err
			})
			rep := f.command(t, "resync", "--force", "--reconfirm-after", "1000h")
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			named := false
			for _, d := range rep.Drift {
				if d.ID == y {
					named = d.Conflict && !d.Applied && d.Kind == "changed" && strings.Contains(d.Reason, "column plan")
				}
			}
			if rep.ExitCode != 2 || rep.Summary["customers"].Conflicts != 1 || !named {
				t.Errorf("exit %d, summary %+v: want exit 2, 1 conflict, and a drift item naming %s (conflict, column plan): %+v", rep.ExitCode, rep.Summary, y, rep.Drift)
			}
			if got := f.plans(t)[y]; got != "v2" {
				t.Errorf("plan(y) = %q after the run; the app wrote v2", got)
			}
			// The next run converges.
			var out, errb bytes.Buffer
			f.fake.SetListHook(nil)
			argv := []string{"reconctl", "diff", "-c", f.cfg, "--no-progress", "--rps", "1000"}
			if f.st.journal != "" {
				argv = append(argv, "--journal", f.st.journal)
			}
			if code := run(argv, strings.NewReader(""), &out, &errb); code != 0 {
				t.Errorf("the next diff: exit %d, want 0 (converged)\n%s", code, out.String())
			}
		})
	}
}
