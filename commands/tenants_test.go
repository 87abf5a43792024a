package commands

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/time/rate"
	"gopkg.in/yaml.v3"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
)

// The union of all shards is every tenant exactly once, for any shard
// count, and a tenant's shard does not change between runs.
func TestShardUnion(t *testing.T) {
	var ids []string
	for i := range 1000 {
		ids = append(ids, fmt.Sprintf("acct_%04d", i))
	}
	for _, n := range []int{1, 2, 3, 7, 16} {
		seen := map[string]int{}
		sizes := make([]int, n)
		for i := range n {
			part := inShard(ids, i, n)
			sizes[i] = len(part)
			for _, id := range part {
				seen[id]++
			}
		}
		if len(seen) != len(ids) {
			t.Errorf("%d shards cover %d of %d tenants", n, len(seen), len(ids))
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("%d shards: %s in %d shards", n, id, c)
			}
		}
		// A stable hash spreads them: no shard is empty or holds twice its share.
		for i, sz := range sizes {
			if sz == 0 || sz > 2*len(ids)/n {
				t.Errorf("%d shards: shard %d holds %d tenants", n, i, sz)
			}
		}
	}
	// Stable: the same shard as fixed in the tenants_connect script.
	if ShardOf("acct_1", 2) != 0 || ShardOf("acct_2", 2) != 1 || ShardOf("acct_3", 2) != 0 {
		t.Errorf("ShardOf changed: %d %d %d", ShardOf("acct_1", 2), ShardOf("acct_2", 2), ShardOf("acct_3", 2))
	}
}

func TestParseShard(t *testing.T) {
	for in, want := range map[string][2]int{"0/1": {0, 1}, "3/4": {3, 4}, " 1 / 2 ": {1, 2}} {
		i, n, err := parseShard(in)
		if err != nil || i != want[0] || n != want[1] {
			t.Errorf("parseShard(%q) = %d, %d, %v", in, i, n, err)
		}
	}
	for _, in := range []string{"", "1", "2/2", "-1/2", "0/0", "a/b", "1/2/3"} {
		if _, _, err := parseShard(in); err == nil {
			t.Errorf("parseShard(%q) accepted", in)
		}
	}
}

func TestWorstExitAndOrder(t *testing.T) {
	for _, c := range []struct {
		codes []int
		want  int
	}{
		{nil, 0}, {[]int{0, 0}, 0}, {[]int{0, 2}, 2}, {[]int{2, 3, 0}, 3}, {[]int{3, 1, 2}, 1}, {[]int{1, 0}, 1},
	} {
		if got := reconcile.WorstExit(c.codes...); got != c.want {
			t.Errorf("WorstExit(%v) = %d, want %d", c.codes, got, c.want)
		}
	}
	ts := []reconcile.TenantResult{{Tenant: "e", ExitCode: 0}, {Tenant: "d", ExitCode: 2}, {Tenant: "c", ExitCode: 3}, {Tenant: "b", ExitCode: 1}, {Tenant: "a", ExitCode: 0}, {Tenant: "a2", ExitCode: 2}}
	reconcile.SortTenants(ts)
	var got []string
	for _, t := range ts {
		got = append(got, t.Tenant)
	}
	if want := []string{"b", "c", "a2", "d", "a", "e"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestAddSummary(t *testing.T) {
	total := map[string]*reconcile.ResourceSummary{}
	reconcile.AddSummary(total, map[string]*reconcile.ResourceSummary{"customers": {Remote: 2, Local: 3, Changed: 1, Unresolved: 1, AbsentPaths: []string{"x"}}})
	reconcile.AddSummary(total, map[string]*reconcile.ResourceSummary{"customers": {Remote: 1, Local: 1, Applied: 1, AbsentPaths: []string{"x", "y"}}, "subscriptions": {Remote: 5}})
	c := total["customers"]
	if c.Remote != 3 || c.Local != 4 || c.Changed != 1 || c.Unresolved != 1 || c.Applied != 1 || !slices.Equal(c.AbsentPaths, []string{"x", "y"}) || total["subscriptions"].Remote != 5 {
		t.Errorf("totals = %+v %+v", c, total["subscriptions"])
	}
}

// A run takes the tenants whose last run failed first, then the stalest:
// never run, then the oldest last success.
func TestOrderTenants(t *testing.T) {
	ctx := context.Background()
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "j.db"), journal.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	msg := "boom"
	for i, tenants := range [][]reconcile.TenantResult{
		{{Tenant: "old", ExitCode: 0}, {Tenant: "new", ExitCode: 0}, {Tenant: "broken", ExitCode: 0}},
		{{Tenant: "new", ExitCode: 2}, {Tenant: "broken", ExitCode: 1, Error: &msg}},
	} {
		id := fmt.Sprintf("r_%d", i)
		at := t0.Add(time.Duration(i) * time.Hour)
		rep := &reconcile.Report{Tenants: tenants}
		if err := j.StartRun(ctx, journal.Run{ID: id, Command: "diff", StartedAt: at}); err != nil {
			t.Fatal(err)
		}
		if err := j.FinishRun(ctx, id, journal.Finish{Status: journal.StatusOK, Report: rep}); err != nil {
			t.Fatal(err)
		}
		if err := j.RecordTenants(ctx, id, "diff", at, at, rep); err != nil {
			t.Fatal(err)
		}
	}
	r := &run{s: &Settings{Logger: slog.New(slog.DiscardHandler)}, j: j, command: "diff"}
	got := r.orderTenants(ctx, []string{"broken", "fresh", "new", "old"})
	if want := []string{"broken", "fresh", "old", "new"}; !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
	r.command = "resync" // no runs of resync yet: id order
	if got := r.orderTenants(ctx, []string{"a", "b"}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("resync order = %v", got)
	}
}

func TestIsDue(t *testing.T) {
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	if !isDue("a", journal.TenantState{LastSuccess: now.Add(-25 * time.Hour)}, day, now) {
		t.Error("a tenant last synced 25h ago is not due on a 24h cadence")
	}
	if isDue("a", journal.TenantState{LastSuccess: now.Add(-23 * time.Hour)}, day, now) {
		t.Error("a tenant last synced 23h ago is due on a 24h cadence")
	}
	if !isDue("a", journal.TenantState{LastFailed: true, LastRun: now.Add(-time.Minute)}, day, now) {
		t.Error("a tenant that never succeeded and failed last is not due")
	}
	// Tenants never run are spread over one cadence: a cron run every 15
	// minutes finds a fair share newly due each time, and all of them by
	// the end of the window.
	var ids []string
	for i := range 2000 {
		ids = append(ids, fmt.Sprintf("acct_%05d", i))
	}
	start := time.Unix(now.Unix()-now.Unix()%int64(day/time.Second), 0) // a window's start
	prev := 0
	fair := len(ids) / 96
	for step := 1; step <= 96; step++ {
		at := start.Add(time.Duration(step)*15*time.Minute - time.Second)
		n := 0
		for _, id := range ids {
			if isDue(id, journal.TenantState{}, day, at) {
				n++
			}
		}
		if n < prev {
			t.Fatalf("step %d: %d due, fewer than the %d before", step, n, prev)
		}
		if n-prev > 3*fair {
			t.Errorf("step %d: %d newly due, more than 3× the fair share %d", step, n-prev, fair)
		}
		prev = n
	}
	if prev != len(ids) {
		t.Errorf("%d of %d due by the end of the window", prev, len(ids))
	}
}

type probeProvider struct{ opts providers.Options }

func (probeProvider) Name() string               { return "tenantprobe" }
func (probeProvider) DefaultResources() []string { return []string{"things"} }
func (probeProvider) List(context.Context, string, func(providers.Record) error) error {
	return nil
}
func (probeProvider) Get(context.Context, string, string) (providers.Record, providers.RemoteStatus, error) {
	return providers.Record{}, providers.StatusDeleted, nil
}

// A listed tenant's own key variable, API base and provider section replace
// the top-level ones for its provider; every tenant shares the budget; a
// provider that lists accounts acts for the tenant unless it has its own key.
func TestOpenTenantProvider(t *testing.T) {
	t.Cleanup(func() { providers.Unregister("tenantprobe") })
	providers.Register(providers.Registration{
		Name: "tenantprobe", Rank: 99,
		New: func(o providers.Options) (providers.Provider, error) { return probeProvider{o}, nil },
		DecodeConfig: func(n *yaml.Node, file string) (any, error) {
			var c struct {
				Org string `yaml:"org"`
			}
			err := n.Decode(&c)
			return file + ":" + c.Org, err
		},
	})
	cfg, err := config.Parse("r.yaml", []byte(`provider: tenantprobe
api_key_env: TOP_KEY
api_base: http://127.0.0.1:1
tenantprobe:
  org: top
tenants:
  from: list
  column: tenant
  list:
    - plain
    - id: own
      api_key_env: OWN_KEY
      api_base: http://127.0.0.1:2
      tenantprobe:
        org: own_org
`))
	if err != nil {
		t.Fatal(err)
	}
	s := &Settings{Config: cfg, Provider: "tenantprobe", APIKeyEnv: cfg.APIKeyEnv, APIBase: cfg.APIBase, Logger: slog.New(slog.DiscardHandler)}
	budget := rate.NewLimiter(10, 1)
	open := func(id string, accounts bool) providers.Options {
		t.Helper()
		p, err := s.openTenantProvider(id, budget, accounts)
		if err != nil {
			t.Fatal(err)
		}
		return p.(probeProvider).opts
	}
	if o := open("plain", false); o.APIKeyEnv != "TOP_KEY" || o.APIBase != "http://127.0.0.1:1" || o.Config != "r.yaml:top" || o.Account != "" || o.Budget != budget {
		t.Errorf("plain = %+v", o)
	}
	if o := open("own", false); o.APIKeyEnv != "OWN_KEY" || o.APIBase != "http://127.0.0.1:2" || o.Config != "r.yaml:own_org" {
		t.Errorf("own = %+v", o)
	}
	if o := open("plain", true); o.Account != "plain" {
		t.Errorf("plain with accounts: Account = %q", o.Account)
	}
	if o := open("own", true); o.Account != "" {
		t.Errorf("own key with accounts: Account = %q, want its own account", o.Account)
	}
}

type kindStore struct {
	localstate.Store
	kind string
}

func (k kindStore) Kind() string { return k.kind }

// Tenants' applies into one SQLite file take turns (several writers queue
// on its lock past the busy timeout: "state is locked by another process"),
// and into MySQL (gap locks); a Postgres store's do not.
func TestApplyTurn(t *testing.T) {
	a := &tenantAgg{}
	unlock := a.applyTurn(kindStore{kind: localstate.KindSQLite})
	if a.applyMu.TryLock() {
		t.Fatal("a second SQLite apply got a turn while the first held it")
	}
	unlock()
	if !a.applyMu.TryLock() {
		t.Fatal("the turn was not given back")
	}
	a.applyMu.Unlock()
	// MySQL/MariaDB: conditional creates take gap locks every tenant shares
	// (two tenants' creates in one gap deadlock), so their applies take
	// turns as well.
	unlock = a.applyTurn(kindStore{kind: localstate.KindMySQL})
	if a.applyMu.TryLock() {
		t.Fatal("a second MySQL apply got a turn while the first held it")
	}
	unlock()
	unlock = a.applyTurn(kindStore{kind: localstate.KindPostgres})
	if !a.applyMu.TryLock() {
		t.Error("a Postgres apply took the turn (it takes no gap locks: tenants write concurrently)")
	}
	a.applyMu.Unlock()
	unlock()
}

func TestParseShare(t *testing.T) {
	for in, want := range map[string]float64{"": 0, "1%": 0.01, "0.5%": 0.005, "0.02": 0.02, "100%": 1} {
		if got, err := parseShare(in); err != nil || got != want {
			t.Errorf("parseShare(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "0%", "-1%", "101%", "lots", "2"} {
		if _, err := parseShare(in); err == nil {
			t.Errorf("parseShare(%q) accepted", in)
		}
	}
}
