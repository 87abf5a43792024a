package commands

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
)

type closeStore struct {
	localstate.Store
	closed *int
}

func (c closeStore) Close() error { *c.closed++; return nil }

// A tenant's replay holds its apply turn from the store's opening to its
// closing (its chunks, journal rows and checkpoint), and gives it back once
// however often the store is closed.
func TestTurnStore(t *testing.T) {
	a := &tenantAgg{}
	closed := 0
	inner := closeStore{Store: kindStore{kind: localstate.KindSQLite}, closed: &closed}
	st := &turnStore{Store: inner, done: sync.OnceFunc(a.applyTurn(inner))}
	if a.applyMu.TryLock() {
		t.Fatal("another tenant's apply got the turn while a replay's store was open")
	}
	if err := st.Close(); err != nil || closed != 1 {
		t.Fatalf("Close: %v, inner closed %d times", err, closed)
	}
	if !a.applyMu.TryLock() {
		t.Fatal("closing the store did not give the turn back")
	}
	st.Close() // a second close must not unlock the turn someone else now holds
	if a.applyMu.TryLock() {
		t.Fatal("a second Close gave back a turn it did not hold")
	}
	a.applyMu.Unlock()
}

// replay --due sizes a tenant for cadence rules by record count from its
// latest diff or resync (a replay's summary counts events, not records).
func TestReplayTenantSizes(t *testing.T) {
	ctx := context.Background()
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "j.db"), journal.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	big := map[string]*reconcile.ResourceSummary{"customers": {Remote: 50000, Local: 50000}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.StartRun(ctx, journal.Run{ID: "r_diff", Command: "diff", StartedAt: at}))
	rep := &reconcile.Report{Tenants: []reconcile.TenantResult{{Tenant: "acct_big", Summary: big}}}
	must(j.FinishRun(ctx, "r_diff", journal.Finish{Status: journal.StatusOK, Report: rep}))
	must(j.RecordTenants(ctx, "r_diff", "diff", at, at, rep))
	must(j.StartRun(ctx, journal.Run{ID: "r_replay", Command: "replay", StartedAt: at.Add(time.Hour)}))
	must(j.FinishRun(ctx, "r_replay", journal.Finish{Status: journal.StatusOK}))
	must(j.RecordTenantRows(ctx, "r_replay", "replay", at.Add(time.Hour), at.Add(time.Hour), []journal.TenantRow{
		{Tenant: "acct_big", Summary: map[string]int{"applied": 3}}, {Tenant: "acct_small", Summary: map[string]int{"applied": 1}},
	}))
	cfg := &config.Config{Tenants: &config.Tenants{CadenceRules: []config.CadenceRule{{RecordsOver: 10000, Every: 24 * time.Hour}, {Every: 7 * 24 * time.Hour}}}}
	r := &run{s: &Settings{Logger: slog.New(slog.DiscardHandler), Config: cfg}, j: j, command: "replay"}
	// 25 hours after the replay: the big tenant (daily) is due, the small one (weekly) not.
	got := r.dueTenants(ctx, []string{"acct_big", "acct_small"}, at.Add(26*time.Hour), false)
	if !slices.Equal(got, []string{"acct_big"}) {
		t.Errorf("due = %v, want [acct_big]", got)
	}
}

// diff --due goes by the last full diff: an hourly diff --since does not
// make a daily full pass never due; a diff --since --due goes by either.
func TestDueAfterWindowRuns(t *testing.T) {
	ctx := context.Background()
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "j.db"), journal.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	record := func(id string, args []string, started time.Time) {
		t.Helper()
		must(j.StartRun(ctx, journal.Run{ID: id, Command: "diff", Args: args, StartedAt: started}))
		rep := &reconcile.Report{Tenants: []reconcile.TenantResult{{Tenant: "acct_a", Summary: map[string]*reconcile.ResourceSummary{"customers": {Remote: 10, Local: 10}}}}}
		must(j.FinishRun(ctx, id, journal.Finish{Status: journal.StatusOK, Report: rep}))
		must(j.RecordTenants(ctx, id, "diff", started, started, rep))
	}
	record("r_full", []string{"diff", "--due"}, at)
	record("r_since", []string{"diff", "--since", "1h", "--due"}, at.Add(23*time.Hour))
	cfg := &config.Config{Tenants: &config.Tenants{CadenceRules: []config.CadenceRule{{Every: 24 * time.Hour}}}}
	r := &run{s: &Settings{Logger: slog.New(slog.DiscardHandler), Config: cfg}, j: j, command: "diff"}
	now := at.Add(25 * time.Hour)
	if got := r.dueTenants(ctx, []string{"acct_a"}, now, false); !slices.Equal(got, []string{"acct_a"}) {
		t.Errorf("full diff --due = %v, want [acct_a] (its last full pass was 25h ago)", got)
	}
	if got := r.dueTenants(ctx, []string{"acct_a"}, now, true); len(got) != 0 {
		t.Errorf("diff --since --due = %v, want none (a window was compared 2h ago)", got)
	}
}
