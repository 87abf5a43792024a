package commands

// Command-level tests: each command's run function through its options,
// with no CLI parsing, against the fake Stripe and the demo's app database.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/demo"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/replay"
)

// demoSettings seeds the fake Stripe with the demo's history and the demo's
// drifted app database, and returns the settings a command starts from
// (json output into out).
func demoSettings(t *testing.T) (*Settings, *bytes.Buffer) {
	t.Helper()
	const key = "sk_test_commands"
	fake, srv := stripefake.NewServer(stripefake.Config{APIKey: key})
	t.Cleanup(srv.Close)
	if err := fake.Play(demo.Scenario(), time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Setenv(demo.KeyEnv, key)
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	if err := demo.WriteDB(db); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "reconctl.yaml")
	if err := os.WriteFile(cfgPath, []byte(demo.Config(srv.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s := &Settings{Config: cfg, Provider: cfg.Provider, APIBase: cfg.APIBase, APIKeyEnv: cfg.APIKeyEnv, State: db,
		Output: "json", NoProgress: true, Logger: slog.New(slog.DiscardHandler),
		IO: IO{In: strings.NewReader(""), Out: &out, Err: io.Discard}}
	return s, &out
}

func unlimited(t *testing.T) config.MaxChanges {
	m, err := config.ParseMaxChanges("unlimited")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var exit *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	}
	t.Fatalf("run failed: %v", err)
	return -1
}

// localRow reads one live row of the state (nil when absent or soft-deleted).
func localRow(t *testing.T, s *Settings, resource, id string) map[string]any {
	t.Helper()
	ctx := context.Background()
	st, err := localstate.Open(ctx, s.State, localstate.OpenOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tb := s.table(resource)
	var cols []string
	for _, f := range tb.Fields {
		cols = append(cols, f.Column)
	}
	row, ok, err := st.Get(ctx, tb, cols, id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return nil
	}
	m := map[string]any{}
	for i, c := range cols {
		m[c] = row.Values[i]
	}
	return m
}

func TestReplayRunOptions(t *testing.T) {
	ctx := context.Background()
	s, out := demoSettings(t)
	o := replayOptions{Options: replay.Options{Since: "24h", DryRun: true, Brake: unlimited(t)}}

	// Dry run: the plan, exit 2, nothing written.
	if code := exitCode(t, runReplayOptions(ctx, s, o)); code != reconcile.ExitDrift {
		t.Fatalf("dry run: exit %d, want 2\n%s", code, out)
	}
	var rep replay.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || rep.Summary[replay.OutcomeWouldApply] == 0 || rep.Summary[replay.OutcomeApplied] != 0 {
		t.Errorf("dry run summary %v", rep.Summary)
	}
	if localRow(t, s, "customers", "cus_demo_new") != nil {
		t.Fatal("the dry run wrote cus_demo_new")
	}

	// Apply: the lost day's events land, exit 0, checkpoint set.
	out.Reset()
	o.DryRun = false
	if code := exitCode(t, runReplayOptions(ctx, s, o)); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	rep = replay.Report{}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary[replay.OutcomeApplied] == 0 || rep.Summary[replay.OutcomeFailed] != 0 || rep.Cursor == "" {
		t.Errorf("apply: summary %v, cursor %q", rep.Summary, rep.Cursor)
	}
	if row := localRow(t, s, "customers", "cus_demo_new"); row == nil || row["email"] != "ivy@example.com" {
		t.Errorf("cus_demo_new after replay: %v", row)
	}
	if row := localRow(t, s, "customers", "cus_demo_upgrade"); row == nil || row["plan"] != "pro" {
		t.Errorf("cus_demo_upgrade after replay: %v", row)
	}
	if row := localRow(t, s, "customers", "cus_demo_leaver"); row != nil {
		t.Errorf("cus_demo_leaver is live after its deletion was replayed: %v", row)
	}

	// Exactly once: --since last applies nothing more.
	out.Reset()
	o.Since = "last"
	if code := exitCode(t, runReplayOptions(ctx, s, o)); code != 0 {
		t.Fatalf("since last: exit %d\n%s", code, out)
	}
	rep = replay.Report{}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary[replay.OutcomeApplied] != 0 {
		t.Errorf("since last re-applied: %v", rep.Summary)
	}

	// A window past the provider's retention is refused without AllowPartial.
	o.Since = "40d"
	if err := runReplayOptions(ctx, s, o); err == nil || !strings.Contains(err.Error(), "--allow-partial") {
		t.Errorf("40d window: %v", err)
	}
}

func TestCheckUserRunOptions(t *testing.T) {
	ctx := context.Background()
	s, out := demoSettings(t)

	// Report only: drifted, exit 2, nothing written.
	o := checkUserOptions{Query: "cus_demo_upgrade", Brake: unlimited(t)}
	if code := exitCode(t, runCheckUser(ctx, s, o)); code != reconcile.ExitDrift {
		t.Fatalf("exit %d, want 2\n%s", code, out)
	}
	var u reconcile.UserReport
	if err := json.Unmarshal(out.Bytes(), &u); err != nil {
		t.Fatal(err)
	}
	if u.Verdict != reconcile.VerdictDrifted || u.ID != "cus_demo_upgrade" || u.Resource != "customers" || u.Applied {
		t.Errorf("report: verdict %q id %q resource %q applied %v", u.Verdict, u.ID, u.Resource, u.Applied)
	}
	if len(u.Related) != 1 || u.Related[0] != "subscriptions" {
		t.Errorf("related resources %v, want [subscriptions]", u.Related)
	}
	if row := localRow(t, s, "customers", "cus_demo_upgrade"); row["plan"] != "free" {
		t.Errorf("report-only run wrote: %v", row)
	}

	// By email, in another case than the provider's: one match, in sync.
	out.Reset()
	o = checkUserOptions{Query: "ann@EXAMPLE.com", Brake: unlimited(t)}
	if code := exitCode(t, runCheckUser(ctx, s, o)); code != 0 {
		t.Fatalf("by email: exit %d\n%s", code, out)
	}
	u = reconcile.UserReport{}
	if err := json.Unmarshal(out.Bytes(), &u); err != nil {
		t.Fatal(err)
	}
	if u.ID != "cus_demo_ann" || u.Verdict != reconcile.VerdictInSync {
		t.Errorf("by email: id %q verdict %q", u.ID, u.Verdict)
	}

	// --fix: written, exit 0.
	out.Reset()
	o = checkUserOptions{Query: "cus_demo_upgrade", Fix: true, Brake: unlimited(t)}
	if code := exitCode(t, runCheckUser(ctx, s, o)); code != 0 {
		t.Fatalf("fix: exit %d\n%s", code, out)
	}
	u = reconcile.UserReport{}
	if err := json.Unmarshal(out.Bytes(), &u); err != nil {
		t.Fatal(err)
	}
	if !u.Applied {
		t.Errorf("fix: not applied: %s", out)
	}
	if row := localRow(t, s, "customers", "cus_demo_upgrade"); row["plan"] != "pro" {
		t.Errorf("after --fix: %v", row)
	}

	// Not found on either side: exit 1 with the message.
	out.Reset()
	o = checkUserOptions{Query: "cus_nobody", Brake: unlimited(t)}
	if err := runCheckUser(ctx, s, o); err == nil || !strings.Contains(err.Error(), "cus_nobody") {
		t.Errorf("unknown id: %v", err)
	}
}

// A check-user that fails before its verdict (here: the provider cannot
// be opened: the API key's variable is unset) still hands its failure to
// --metrics-file: exit 1.
func TestCheckUserMetricsOnFailure(t *testing.T) {
	s, _ := demoSettings(t)
	s.APIKeyEnv = "RECONCTL_TEST_UNSET_API_KEY"
	t.Setenv(s.APIKeyEnv, "")
	var got *reconcile.UserReport
	o := checkUserOptions{Query: "cus_demo_upgrade", Brake: unlimited(t), Metrics: func(u *reconcile.UserReport) { got = u }}
	if err := runCheckUser(context.Background(), s, o); err == nil {
		t.Fatal("check-user on a missing state did not fail")
	}
	if got == nil || got.ExitCode != reconcile.ExitError || got.FinishedAt == "" {
		t.Fatalf("metrics of the failed run: %+v", got)
	}
}
