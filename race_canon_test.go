package main

// Regression test (#15, review): the write condition must be on the values
// the comparison read, not on their compare modes' canonical forms
// (casefold, number, time, json): an app write that changes a column to a
// value equal to the scanned one only under the field's compare mode (u@x ->
// U@X) is a conflict, not overwritten by the stale listed value.

import (
	"os"
	"strings"
	"testing"
)

func TestRaceCanonicalConditionStaleWrite(t *testing.T) {
	for _, o := range raceStates() {
		t.Run(o.kind, func(t *testing.T) {
			f := newRaceFixture(t, o.open(t))
			cfg, _ := os.ReadFile(f.cfg)
			os.WriteFile(f.cfg, []byte(strings.Replace(string(cfg), "email: email", "email: {path: email, compare: casefold}", 1)), 0o644)
			var local string
			if err := f.st.app.QueryRow(f.st.q(`SELECT email FROM users WHERE id = ?`), f.x).Scan(&local); err != nil {
				t.Fatal(err)
			}
			// Before the run: the provider moved x's email; the local row is behind (drift).
			if _, err := f.fake.UpdateCustomer(f.x, map[string]any{"email": "old-listed@example.com"}); err != nil {
				t.Fatal(err)
			}
			fresh := strings.ToUpper(local) // the user changes it again, to the upper-cased old address
			done := make(chan error, 1)
			f.fake.SetListHook(func(resource string, page int) {
				if resource != "customers" || page != 1 {
					return
				}
				if _, err := f.fake.UpdateCustomer(f.x, map[string]any{"email": fresh}); err != nil {
					done <- err
					return
				}
				_, err := f.st.app.Exec(f.st.q(`UPDATE users SET email = ? WHERE id = ?`), fresh, f.x)
				done <- err
			})
			rep := f.diff(t, "--apply") // default --reconfirm-after (5s): a short listing re-reads nothing
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			var got string
			if err := f.st.app.QueryRow(f.st.q(`SELECT email FROM users WHERE id = ?`), f.x).Scan(&got); err != nil {
				t.Fatal(err)
			}
			t.Logf("exit %d, summary %+v", rep.ExitCode, rep.Summary)
			if rep.ExitCode != 2 || rep.Summary["customers"].Conflicts != 1 {
				t.Errorf("exit %d, conflicts %d: want exit 2 and x's write a conflict", rep.ExitCode, rep.Summary["customers"].Conflicts)
			}
			if got != fresh {
				t.Errorf("local email %q after the apply; the app wrote the provider's newer %q during the listing (stale listed value written over it, no conflict)", got, fresh)
			}
		})
	}
}
