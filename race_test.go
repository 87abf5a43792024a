package main

// Race tests (issue #15): the app's own webhook handler writes the same rows
// while reconctl lists the provider. A fake Stripe changes records between
// list pages and, at that moment, a goroutine with its own database
// connection (the app) writes what the webhooks would. After diff --apply no
// local row holds an older provider version than the one the app wrote, the
// conflicts are reported (exit 2), and the next run converges (exit 0).
// They run on SQLite and on every server store the machine has (skipped
// while a store says it is not supported yet).

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/localstate/servertest"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"

	_ "modernc.org/sqlite"
)

// raceState is one state to race on: its location and the app's own handle.
type raceState struct {
	kind string
	loc  string
	app  *sql.DB
	// journal, when set, is passed as --journal (a SQLite file: the same
	// for a server state whether or not it can journal in its database).
	journal string
}

// q rebinds ? placeholders for the app's driver.
func (s raceState) q(query string) string {
	if s.kind != "postgres" {
		return query
	}
	n := 0
	var b strings.Builder
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// raceStates opens a fresh empty state of every kind there is: SQLite, and
// each server store whose server answers and whose store is supported.
func raceStates() []raceOpener {
	return []raceOpener{
		{"sqlite", func(t *testing.T) raceState {
			path := filepath.Join(t.TempDir(), "app.db")
			if err := localstate.CreateSQLite(context.Background(), path, `CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, email VARCHAR(255), plan VARCHAR(64))`); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return raceState{kind: "sqlite", loc: path, app: db}
		}},
		{"postgres", serverState("postgres")}, {"mysql", serverState("mysql")},
	}
}

type raceOpener struct {
	kind string
	open func(t *testing.T) raceState
}

func serverState(kind string) func(t *testing.T) raceState {
	return func(t *testing.T) raceState {
		d := servertest.New(t, kind)
		d.Exec(t, `CREATE TABLE users (id VARCHAR(64) PRIMARY KEY, email VARCHAR(255), plan VARCHAR(64))`)
		st, err := localstate.Open(context.Background(), d.DSN, localstate.OpenOptions{ReadOnly: true})
		if err != nil {
			if strings.Contains(err.Error(), "not supported yet") {
				t.Skipf("%s store: %v", kind, err)
			}
			t.Fatal(err)
		}
		st.Close()
		return raceState{kind: kind, loc: d.DSN, app: d.SQL, journal: filepath.Join(t.TempDir(), "journal.db")}
	}
}

// raceReport is what the race tests read of a diff's JSON report.
type raceReport struct {
	Summary map[string]struct {
		Applied     int `json:"applied"`
		Conflicts   int `json:"conflicts"`
		Reconfirmed int `json:"reconfirmed"`
	} `json:"summary"`
	Drift []struct {
		ID       string `json:"id"`
		Kind     string `json:"kind"`
		Action   string `json:"action"`
		Applied  bool   `json:"applied"`
		Conflict bool   `json:"conflict"`
		Reason   string `json:"reason"`
	} `json:"drift"`
	ExitCode int `json:"exit_code"`
}

// raceFixture seeds the fake with n customers at plan v1 and the state with
// the same, except: x and the drifted ones at v0 locally, z missing
// locally. Between the first and second list page the fake moves x, z and
// v (the oldest, on a later page) to v2 and the app writes v2 for each
// (an update for x and v, an insert for z).
type raceFixture struct {
	fake         *stripefake.Fake
	cfg          string
	st           raceState
	x, z, v      string
	drifted, ids []string
	appWrote     chan error
}

func newRaceFixture(t *testing.T, st raceState) *raceFixture {
	const key = "sk_test_race"
	fake, srv := stripefake.NewServer(stripefake.Config{APIKey: key})
	t.Cleanup(srv.Close)
	const n = 250
	now := time.Now()
	ids := fake.SeedCustomers(n, now.Add(-1000*time.Hour), now.Add(-time.Hour), func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "metadata": map[string]any{"plan": "v1"}}
	})
	f := &raceFixture{fake: fake, st: st, ids: ids, x: ids[n-1], z: ids[n-2], v: ids[0], drifted: []string{ids[n-3], ids[n-50], ids[100], ids[5]}}
	for i, id := range ids {
		plan := "v1"
		switch {
		case id == f.z:
			continue
		case id == f.x || contains(f.drifted, id):
			plan = "v0"
		}
		if _, err := st.app.Exec(st.q(`INSERT INTO users (id, email, plan) VALUES (?, ?, ?)`), id, fmt.Sprintf("u%d@example.com", i), plan); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	f.cfg = filepath.Join(dir, "reconctl.yaml")
	cfg := fmt.Sprintf("provider: stripe\napi_base: %s\napi_key_env: RACE_STRIPE_KEY\nstate: %q\nresources:\n  customers:\n    table: users\n    fields:\n      email: email\n      plan: metadata.plan\n", srv.URL, st.loc)
	if err := os.WriteFile(f.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RACE_STRIPE_KEY", key)
	return f
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// armApp makes the fake call the app between the first and second page of
// the customers listing: the provider moves x, z and v to v2 and a
// goroutine on the app's own connection writes them, as its webhook
// handler would; the page is sent once the app has written.
func (f *raceFixture) armApp() {
	f.appWrote = make(chan error, 1)
	f.fake.SetListHook(func(resource string, page int) {
		if resource != "customers" || page != 1 {
			return
		}
		for _, id := range []string{f.x, f.z, f.v} {
			if _, err := f.fake.UpdateCustomer(id, map[string]any{"metadata": map[string]any{"plan": "v2"}}); err != nil {
				f.appWrote <- err
				return
			}
		}
		done := make(chan error)
		go func() { // the app's webhook handler, on its own connection
			st := f.st
			_, err := st.app.Exec(st.q(`UPDATE users SET plan = 'v2' WHERE id = ?`), f.x)
			if err == nil {
				_, err = st.app.Exec(st.q(`UPDATE users SET plan = 'v2' WHERE id = ?`), f.v)
			}
			if err == nil {
				_, err = st.app.Exec(st.q(`INSERT INTO users (id, email, plan) VALUES (?, 'z@example.com', 'v2')`), f.z)
			}
			done <- err
		}()
		f.appWrote <- <-done
	})
}

// diff runs reconctl diff in-process and decodes its JSON report.
func (f *raceFixture) diff(t *testing.T, args ...string) raceReport {
	t.Helper()
	var out, errb bytes.Buffer
	argv := append([]string{"reconctl", "diff", "-c", f.cfg, "-o", "json", "--no-progress", "--rps", "1000", "--max-changes", "unlimited"}, args...)
	if f.st.journal != "" {
		argv = append(argv, "--journal", f.st.journal)
	}
	code := run(argv, strings.NewReader(""), &out, &errb)
	var rep raceReport
	if code == 1 && strings.Contains(errb.String(), "not supported yet") {
		t.Skipf("%s store: %s", f.st.kind, strings.TrimSpace(errb.String()))
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: exit %d, %v\nstdout: %s\nstderr: %s", argv, code, err, out.String(), errb.String())
	}
	if rep.ExitCode != code {
		t.Fatalf("report exit_code %d, process exit %d", rep.ExitCode, code)
	}
	return rep
}

// plans reads every local row's plan.
func (f *raceFixture) plans(t *testing.T) map[string]string {
	t.Helper()
	rows, err := f.st.app.Query(`SELECT id, plan FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, plan string
		if err := rows.Scan(&id, &plan); err != nil {
			t.Fatal(err)
		}
		out[id] = plan
	}
	return out
}

// checkConverged: after the app stopped, the next diff --apply exits 0 and
// the state mirrors the provider.
func (f *raceFixture) checkConverged(t *testing.T) {
	t.Helper()
	f.fake.SetListHook(nil)
	if rep := f.diff(t, "--apply"); rep.ExitCode != 0 {
		t.Errorf("the run after the app stopped: exit %d, want 0 (%+v)", rep.ExitCode, rep.Drift)
	}
	if rep := f.diff(t); rep.ExitCode != 0 {
		t.Errorf("a read-only diff after it: exit %d, want 0 (%+v)", rep.ExitCode, rep.Drift)
	}
	got := f.plans(t)
	for _, id := range f.ids {
		want := "v1"
		if id == f.x || id == f.z || id == f.v {
			want = "v2"
		}
		if got[id] != want {
			t.Errorf("%s: plan %q, want %q", id, got[id], want)
		}
	}
}

// TestRaceConditionalWrites: without re-reads (--reconfirm-after 1000h) the
// listed copies of x and z are older than what the app wrote: their writes
// are conflicts, not applied; every other fix is.
func TestRaceConditionalWrites(t *testing.T) {
	for _, o := range raceStates() {
		t.Run(o.kind, func(t *testing.T) {
			f := newRaceFixture(t, o.open(t))
			f.armApp()
			rep := f.diff(t, "--apply", "--reconfirm-after", "1000h")
			if err := <-f.appWrote; err != nil {
				t.Fatalf("the app's write: %v", err)
			}
			if rep.ExitCode != 2 {
				t.Errorf("exit %d, want 2", rep.ExitCode)
			}
			s := rep.Summary["customers"]
			if s.Conflicts != 2 || s.Reconfirmed != 0 || s.Applied != len(f.drifted) {
				t.Errorf("summary %+v, want 2 conflicts, no re-reads, %d applied", s, len(f.drifted))
			}
			for _, d := range rep.Drift {
				wantConflict := d.ID == f.x || d.ID == f.z
				if d.Conflict != wantConflict || d.Applied == wantConflict || (wantConflict && d.Reason == "") {
					t.Errorf("%s (%s, %s): applied %v conflict %v reason %q", d.ID, d.Kind, d.Action, d.Applied, d.Conflict, d.Reason)
				}
				if d.ID == f.z && d.Reason != localstate.ReasonInserted {
					t.Errorf("%s: reason %q, want %q", d.ID, d.Reason, localstate.ReasonInserted)
				}
			}
			got := f.plans(t)
			for _, id := range []string{f.x, f.z, f.v} {
				if got[id] != "v2" {
					t.Errorf("%s: plan %q after the apply: the app wrote v2", id, got[id])
				}
			}
			f.checkConverged(t)
		})
	}
}

// TestRaceReconfirm: with every planned write re-read first
// (--reconfirm-after 0), x is found in sync with what the app wrote and
// leaves the plan; z, which the app inserted, is still a conflict.
func TestRaceReconfirm(t *testing.T) {
	for _, o := range raceStates() {
		t.Run(o.kind, func(t *testing.T) {
			f := newRaceFixture(t, o.open(t))
			f.armApp()
			rep := f.diff(t, "--apply", "--reconfirm-after", "0")
			if err := <-f.appWrote; err != nil {
				t.Fatalf("the app's write: %v", err)
			}
			if rep.ExitCode != 2 {
				t.Errorf("exit %d, want 2", rep.ExitCode)
			}
			s := rep.Summary["customers"]
			// Re-read: x, z and the drifted ones (v was in sync when listed).
			if s.Reconfirmed != 2+len(f.drifted) || s.Conflicts != 1 || s.Applied != len(f.drifted) {
				t.Errorf("summary %+v, want %d re-reads, 1 conflict, %d applied", s, 2+len(f.drifted), len(f.drifted))
			}
			for _, d := range rep.Drift {
				if d.ID == f.x {
					t.Errorf("%s: still drift after its re-read (%+v)", d.ID, d)
				}
				if d.Conflict != (d.ID == f.z) {
					t.Errorf("%s: conflict %v", d.ID, d.Conflict)
				}
			}
			got := f.plans(t)
			for _, id := range []string{f.x, f.z, f.v} {
				if got[id] != "v2" {
					t.Errorf("%s: plan %q after the apply: the app wrote v2", id, got[id])
				}
			}
			f.checkConverged(t)
		})
	}
}
