package main

// Regression test (#15, review): a write re-planned from a re-read
// (--reconfirm-after 0) is conditional on the local row the field-by-field
// pass read, not the scan's copy. The app changes a drifted row's other
// column (its webhook for a provider change) while the listing runs: the
// re-read shows the provider's record newer than that write, the re-planned
// update of the still-drifted column must apply, not be an avoidable conflict.

import (
	"testing"
)

func TestRaceReplanConditionOnRowRead(t *testing.T) {
	for _, o := range raceStates() {
		t.Run(o.kind, func(t *testing.T) {
			f := newRaceFixture(t, o.open(t))
			y := f.drifted[0] // local v0, provider v1: planned update of plan
			const email = "moved@example.com"
			done := make(chan error, 1)
			f.fake.SetListHook(func(resource string, page int) {
				if resource != "customers" || page != 1 {
					return
				}
				if _, err := f.fake.UpdateCustomer(y, map[string]any{"email": email}); err != nil {
					done <- err
					return
				}
				_, err := f.st.app.Exec(f.st.q(`UPDATE users SET email = ? WHERE id = ?`), email, y)
				done <- err
			})
			rep := f.command(t, "diff", "--apply", "--reconfirm-after", "0")
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if rep.ExitCode != 0 || rep.Summary["customers"].Conflicts != 0 {
				t.Errorf("exit %d, summary %+v: want exit 0, no conflict (the re-planned write of %s is conditional on the row read after the app's write)\n%+v", rep.ExitCode, rep.Summary, y, rep.Drift)
			}
			var gotEmail, gotPlan string
			if err := f.st.app.QueryRow(f.st.q(`SELECT email, plan FROM users WHERE id = ?`), y).Scan(&gotEmail, &gotPlan); err != nil {
				t.Fatal(err)
			}
			if gotEmail != email || gotPlan != "v1" {
				t.Errorf("%s: email %q plan %q, want %q and v1", y, gotEmail, gotPlan, email)
			}
		})
	}
}
