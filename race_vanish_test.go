package main

// Regression test (#15, review): the app deletes a drifted row while the
// listing runs. That record's write is a conflict (not applied, counted,
// exit 2) and the other fixes are applied — not a failure of the whole run
// (exit 1, nothing written). For diff --apply, a dry diff, resync and
// resync --force; check-user --fix shares the engine path
// (reconcile.TestVanishedCandidateIsConflict).

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRaceAppDeletesDriftedRow(t *testing.T) {
	for _, o := range raceStates() {
		t.Run(o.kind, func(t *testing.T) {
			for _, args := range [][]string{{"diff", "--apply"}, {"diff"}, {"resync"}, {"resync", "--force"}} {
				f := newRaceFixture(t, o.open(t))
				gone := f.drifted[0] // local v0, provider v1: planned update
				done := make(chan error, 1)
				f.fake.SetListHook(func(resource string, page int) {
					if resource != "customers" || page != 1 {
						return
					}
					_, err := f.st.app.Exec(f.st.q(`DELETE FROM users WHERE id = ?`), gone)
					done <- err
				})
				rep := f.command(t, append(args, "--reconfirm-after", "1000h")...)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				what := strings.Join(args, " ")
				dry := args[0] == "diff" && len(args) == 1
				if dry && f.st.kind != "sqlite" {
					// A server's dry run reads one snapshot, taken before
					// the app's delete: it reports the update it would
					// plan; only exit 1 would be wrong.
					if rep.ExitCode != 2 {
						t.Errorf("%s: exit %d, want 2", what, rep.ExitCode)
					}
					continue
				}
				if rep.ExitCode != 2 || rep.Summary["customers"].Conflicts != 1 {
					t.Errorf("%s: exit %d, summary %+v; want exit 2 and 1 conflict", what, rep.ExitCode, rep.Summary["customers"])
				}
				named := false
				for _, d := range rep.Drift {
					if d.ID == gone {
						named = d.Conflict && !d.Applied && strings.Contains(d.Reason, "deleted")
					}
				}
				if !named {
					t.Errorf("%s: no drift item names %s as a conflict (deleted locally): %+v", what, gone, rep.Drift)
				}
				got := f.plans(t)
				if _, ok := got[gone]; ok {
					t.Errorf("%s: the row the app deleted is back: %q", what, got[gone])
				}
				if dry {
					continue // a dry run writes nothing
				}
				applied := 0
				for _, id := range f.drifted[1:] {
					if got[id] == "v1" {
						applied++
					}
				}
				if applied != len(f.drifted)-1 {
					t.Errorf("%s: %d of the %d other fixes applied; want them all", what, applied, len(f.drifted)-1)
				}
			}
		})
	}
}

// command runs reconctl args[0] (diff, resync) with the fixture's config
// and decodes its JSON report.
func (f *raceFixture) command(t *testing.T, args ...string) raceReport {
	t.Helper()
	var out, errb bytes.Buffer
	argv := append([]string{"reconctl", args[0], "-c", f.cfg, "-o", "json", "--no-progress", "--rps", "1000", "--max-changes", "unlimited"}, args[1:]...)
	if f.st.journal != "" {
		argv = append(argv, "--journal", f.st.journal)
	}
	code := run(argv, strings.NewReader(""), &out, &errb)
	var rep raceReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: exit %d, %v\nstdout: %s\nstderr: %s", argv, code, err, out.String(), errb.String())
	}
	if rep.ExitCode != code {
		t.Fatalf("report exit_code %d, process exit %d", rep.ExitCode, code)
	}
	return rep
}
