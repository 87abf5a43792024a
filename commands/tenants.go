// Runs over many tenants (issue #17): the tenants: section of reconctl.yaml
// says where the tenants come from and which local column scopes each
// resource's rows; diff and resync then run once per tenant (concurrently,
// under one shared request budget), each with its own provider (a Stripe
// Connect account, or a listed tenant's own credentials) and its own scoped
// tables, so the brake and the empty-listing guard apply per tenant.

package commands

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/time/rate"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/replay"
	"github.com/reconctl/reconctl/report"
)

// DefaultTenantConcurrency is --tenant-concurrency's default.
const DefaultTenantConcurrency = 4

// tenantFlags select and pace the tenants of a multi-tenant run.
func tenantFlags() []cli.Flag {
	return []cli.Flag{
		tenantFlag(),
		&cli.IntFlag{Name: "tenant-concurrency", Value: DefaultTenantConcurrency, Usage: "tenants run at the same time (`N`), all under one request budget (--rps)", EnvVars: envs("TENANT_CONCURRENCY")},
		&cli.StringFlag{Name: "shard", Usage: "run only the tenants of shard `I/N` (0-based I; a tenant's shard is a stable hash of its id)", EnvVars: envs("SHARD")},
		&cli.IntFlag{Name: "shards", Usage: "split the tenants into `N` shards and run the one named by JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)", EnvVars: envs("SHARDS")},
		metricsFileFlag(),
		&cli.BoolFlag{Name: "due", Usage: "run only the tenants that are due: whose last successful run of this command (journal) is older than their cadence (tenants.cadence, default 24h); tenants never run are spread over one cadence", EnvVars: envs("DUE")},
	}
}

// tenantFlag is --tenant.
func tenantFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "tenant", Usage: "with tenants: in reconctl.yaml, run for tenant `ID` only (repeatable; default: every tenant; check-user: the user's tenant)", EnvVars: envs("TENANT")}
}

// tenantSelection is what the tenant flags asked for.
type tenantSelection struct {
	IDs         []string
	Concurrency int
	Shard       int // -1: no sharding
	Shards      int
	Due         bool // --due
}

// loadTenantFlags reads the tenant flags into s.Tenant.
func (s *Settings) loadTenantFlags(c *cli.Context) error {
	sel := tenantSelection{Concurrency: DefaultTenantConcurrency, Shard: -1, Due: c.Bool("due")}
	for _, v := range c.StringSlice("tenant") {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" && !slices.Contains(sel.IDs, id) {
				sel.IDs = append(sel.IDs, id)
			}
		}
	}
	if c.IsSet("tenant-concurrency") {
		sel.Concurrency = c.Int("tenant-concurrency")
		if sel.Concurrency < 1 {
			return fmt.Errorf("--tenant-concurrency must be at least 1, got %d", sel.Concurrency)
		}
	}
	shard, shards := c.String("shard"), c.Int("shards")
	switch {
	case c.IsSet("shard") && c.IsSet("shards"):
		return errors.New("give --shard I/N or --shards N (with JOB_COMPLETION_INDEX), not both")
	case c.IsSet("shard"):
		i, n, err := parseShard(shard)
		if err != nil {
			return err
		}
		sel.Shard, sel.Shards = i, n
	case c.IsSet("shards"):
		if shards < 1 {
			return fmt.Errorf("--shards must be at least 1, got %d", shards)
		}
		idx := os.Getenv("JOB_COMPLETION_INDEX")
		i, err := strconv.Atoi(strings.TrimSpace(idx))
		if idx == "" || err != nil || i < 0 || i >= shards {
			return fmt.Errorf("--shards %d: JOB_COMPLETION_INDEX must be a shard index from 0 to %d (a Kubernetes Indexed Job sets it), got %q", shards, shards-1, idx)
		}
		sel.Shard, sel.Shards = i, shards
	}
	history := c.Command != nil && c.Command.Name == "history" // --tenant filters the journal
	if s.Config.Tenants == nil && !history && (len(sel.IDs) > 0 || sel.Shard >= 0 || sel.Due) {
		return errors.New("--tenant, --shard, --shards and --due need a tenants: section in reconctl.yaml (where the tenants come from, and the column that scopes their rows)")
	}
	if s.Config.Tenants != nil && c.Command != nil && c.Command.Name == "check-user" && len(sel.IDs) != 1 {
		return fmt.Errorf("check-user with tenants: in %s needs the user's tenant: --tenant ID (exactly one)", s.Config.File)
	}
	s.Tenant = sel
	return nil
}

// parseShard parses "I/N" (0 <= I < N).
func parseShard(v string) (int, int, error) {
	a, b, ok := strings.Cut(v, "/")
	i, errI := strconv.Atoi(strings.TrimSpace(a))
	n, errN := strconv.Atoi(strings.TrimSpace(b))
	if !ok || errI != nil || errN != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("--shard %q: want I/N with 0 <= I < N, e.g. 0/4", v)
	}
	return i, n, nil
}

// ShardOf is the shard (0..n-1) of tenant id: a stable hash (FNV-1a), the
// same on every machine and in every run.
func ShardOf(id string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64() % uint64(n))
}

// inShard keeps the ids of shard i of n.
func inShard(ids []string, i, n int) []string {
	var out []string
	for _, id := range ids {
		if ShardOf(id, n) == i {
			out = append(out, id)
		}
	}
	return out
}

// accountLister is a provider that lists its tenants (Stripe Connect's
// connected accounts).
type accountLister interface {
	ListAccounts(ctx context.Context, fn func(id string) error) error
}

// tenantIDs lists the run's tenants: from the source, narrowed by --tenant
// and the shard, sorted.
func (s *Settings) tenantIDs(ctx context.Context, store localstate.Store, p providers.Provider, tables []*localstate.Table) ([]string, error) {
	ts := s.Config.Tenants
	var ids []string
	switch {
	case ts.From == config.TenantsFromList:
		for _, t := range ts.List {
			ids = append(ids, t.ID)
		}
		for _, id := range s.Tenant.IDs {
			if ts.Tenant(id) == nil {
				return nil, fmt.Errorf("--tenant %s: no such tenant in tenants.list of %s", id, s.Config.File)
			}
		}
	case len(s.Tenant.IDs) > 0:
		// A connected account or a tenant without local rows yet is
		// taken as given: its run says whether it exists.
	case ts.From == config.TenantsFromStripeAccounts:
		al, ok := p.(accountLister)
		if !ok {
			return nil, fmt.Errorf("tenants.from: stripe_accounts needs provider: stripe (the provider is %s)", p.Name())
		}
		if err := al.ListAccounts(ctx, func(id string) error { ids = append(ids, id); return nil }); err != nil {
			return nil, err
		}
	case ts.From == config.TenantsFromState:
		seen := map[string]bool{}
		scan := tables
		if ts.Table != "" {
			t := &localstate.Table{Resource: "tenants", Name: ts.Table, Key: "id"}
			for _, tb := range tables {
				if tb.Name == ts.Table {
					t = tb
				}
			}
			scan = []*localstate.Table{t}
		}
		for _, t := range scan {
			vals, err := localstate.DistinctScopeValues(ctx, store, t, ts.Column)
			if err != nil {
				return nil, fmt.Errorf("tenants from: state: %w", err)
			}
			for _, v := range vals {
				if !seen[v] {
					seen[v] = true
					ids = append(ids, v)
				}
			}
		}
	}
	if len(s.Tenant.IDs) > 0 {
		ids = slices.Clone(s.Tenant.IDs)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if s.Tenant.Shard >= 0 {
		ids = inShard(ids, s.Tenant.Shard, s.Tenant.Shards)
	}
	return ids, nil
}

// budget is the request budget the whole process shares: --rps (or rps:)
// when given; nil leaves each tenant's provider to its own default pacing.
func (s *Settings) budget() providers.Waiter {
	if s.RPS <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(s.RPS), max(1, min(int(s.RPS/10), 5)))
}

// openTenantProvider opens the provider for one tenant: for Stripe Connect
// acting for the account, for a listed tenant with its own key, API base
// and provider section; all under the shared budget.
// A provider that lists accounts (Stripe) acts for the tenant as a
// connected account whatever the tenants' source, unless a listed tenant
// brings its own key (then the key's own account is the tenant's).
func (s *Settings) openTenantProvider(id string, budget providers.Waiter, accounts bool) (providers.Provider, error) {
	ts := s.Config.Tenants
	opts := providers.Options{Spec: s.Provider, APIBase: s.APIBase, APIKeyEnv: s.APIKeyEnv, RPS: s.RPS, Concurrency: s.Conc,
		Logger: s.Logger.With("tenant", id), Budget: budget, Calls: s.calls, HTTPClient: s.tenantHTTP}
	section, file := s.Config.Section(s.Provider), s.Config.File
	if accounts {
		opts.Account = id
	}
	if ts.From == config.TenantsFromList {
		if t := ts.Tenant(id); t != nil {
			if t.APIKeyEnv != "" {
				opts.Account = ""
			}
			opts.APIKeyEnv = cmp.Or(t.APIKeyEnv, opts.APIKeyEnv)
			opts.APIBase = cmp.Or(t.APIBase, opts.APIBase)
			if sec := t.Section(s.Provider); sec != nil {
				section, file = sec, t.File
			}
		}
	}
	pcfg, err := providers.DecodeSection(s.Provider, section, file)
	if err != nil {
		return nil, err
	}
	opts.Config = pcfg
	return providers.Open(opts)
}

// shareTenantHTTP gives every tenant provider opened from now on one
// connection pool (httpx.NewBase) and returns the function that ends the
// sharing and closes the pool's idle connections. Without it each tenant's
// provider has its own pool, whose idle connections (and the two goroutines
// and buffers each holds) outlive the tenant by their 90 s idle timeout:
// memory then grows with the number of tenants run in the last 90 s, not
// with the largest tenant. The shared pool keeps at most 100 idle
// connections in all and reuses them from one tenant to the next (the same
// API host: no new handshake per tenant).
func (s *Settings) shareTenantHTTP() func() {
	client, closeIdle := httpx.NewShared()
	s.tenantHTTP = client
	return func() {
		s.tenantHTTP = nil
		closeIdle()
	}
}

// tenantAgg gathers a multi-tenant run's parts as tenants finish.
type tenantAgg struct {
	mu      sync.Mutex
	base    reconcile.Report // the run's report fields (command, run id, ...)
	drift   map[string][]reconcile.Drift
	summary map[string]*reconcile.ResourceSummary
	names   map[*reconcile.Report]string // each running tenant's report → its id
	applyMu sync.Mutex                   // SQLite, MySQL: one tenant's apply at a time (applyTurn)
}

// applyTurn waits for the tenant's turn to write the state and returns the
// function that ends it. SQLite has one writer at a time (several would
// queue on the file's lock past its busy timeout). On MySQL/MariaDB a
// conditional create's locking read of an absent key takes a gap lock on
// the key index every tenant shares (REPEATABLE READ), so two tenants
// creating keys in the same gap deadlock and one run would fail: their
// applies take turns too (the comparisons still run concurrently). Postgres
// takes no gap locks: its tenants write concurrently, row locks keep them
// apart.
func (a *tenantAgg) applyTurn(store localstate.Store) func() {
	if k := store.Kind(); k != localstate.KindSQLite && k != localstate.KindMySQL {
		return func() {}
	}
	a.applyMu.Lock()
	return a.applyMu.Unlock
}

// start notes that rep is tenant's report.
func (a *tenantAgg) start(tenant string, rep *reconcile.Report) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.names[rep] = tenant
}

// done forgets rep, a finished tenant's report: held here, it (drift,
// summaries, incremental parts) would stay alive until the run ends.
func (a *tenantAgg) done(rep *reconcile.Report) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.names, rep)
}

// add records a finished tenant's drift and summary.
func (a *tenantAgg) add(tenant string, rep *reconcile.Report) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.drift[tenant] = tagTenant(tenant, rep.Drift)
	reconcile.AddSummary(a.summary, rep.Summary)
}

func tagTenant(tenant string, drift []reconcile.Drift) []reconcile.Drift {
	out := slices.Clone(drift)
	for i := range out {
		out[i].Tenant = tenant
	}
	return out
}

// recordTenantApplied records, inside a tenant's apply transaction, that
// tenant's part of the run as it stands once tx commits (its row in the
// journal's tenant runs) and the freshness of the records it wrote. The
// run's report and drift items are written once, when the run finishes:
// rewriting them at every tenant's commit would cost the square of the
// number of tenants.
func (r *run) recordTenantApplied(ctx context.Context, tx localstate.Tx, rep *reconcile.Report, res *reconcile.Result, provider string) error {
	r.tenants.mu.Lock()
	tenant := r.tenants.names[rep]
	r.tenants.mu.Unlock()
	tr := reconcile.TenantResult{Tenant: tenant, Summary: res.Summaries(), ExitCode: driftExit(res)}
	if err := r.j.RecordTenantApplied(ctx, tx, r.id, r.command, r.started, tr, res.Drift); err != nil {
		return err
	}
	// The records' freshness under the tenant's journal key, where the
	// tenant's replay looks (replaytenants.go).
	key := journal.TenantKey(provider, tenant)
	var rows []journal.VersionRow
	for _, d := range res.Drift {
		if d.Applied {
			rows = append(rows, journal.VersionRow{Provider: key, Resource: d.Resource, ObjectID: d.ID, At: r.started, Source: r.command + " " + r.id})
		}
	}
	return r.j.RecordVersions(ctx, tx, rows)
}

// tenantOf is the tenant whose report rep is ("" outside a tenant run).
func (r *run) tenantOf(rep *reconcile.Report) string {
	if r.tenants == nil {
		return ""
	}
	r.tenants.mu.Lock()
	defer r.tenants.mu.Unlock()
	return r.tenants.names[rep]
}

// all is every finished tenant's drift, by tenant id; the caller holds mu.
func (a *tenantAgg) all() []reconcile.Drift {
	out := []reconcile.Drift{}
	for _, t := range slices.Sorted(mapsKeys(a.drift)) {
		out = append(out, a.drift[t]...)
	}
	return out
}

func mapsKeys(m map[string][]reconcile.Drift) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// runTenants is diff or resync over the configured tenants.
func runTenants(ctx context.Context, s *Settings, job reconcileJob, rep *reconcile.Report, r *run) error {
	if job.writeIgnore != "" {
		// Each tenant would overwrite the baseline with its own drift.
		return errors.New("--write-ignore does not run over tenants yet: it would keep only one tenant's drift")
	}
	store, err := s.openStore(ctx, !job.write)
	if err != nil {
		return err
	}
	// Closed once the tenants are known (a server state's read snapshot
	// must not stay open for the whole run); each tenant opens its own.
	closeStore := sync.OnceFunc(func() { store.Close() })
	defer closeStore()
	if store.Features().Begin == nil {
		return localstate.ErrScopeNeedsSQL
	}
	// The platform's provider lists the tenants (Stripe Connect) and names
	// the resources; listed tenants may each have their own key, and then
	// the first tenant's provider does.
	var p providers.Provider
	if ts := s.Config.Tenants; ts.From == config.TenantsFromList && len(ts.List) > 0 {
		p, err = s.openTenantProvider(ts.List[0].ID, nil, false)
	} else {
		p, err = s.openProvider()
	}
	if err != nil {
		return err
	}
	rep.Provider = p.Name()
	tables, err := s.tables(p)
	if err != nil {
		return err
	}
	for _, t := range tables {
		rep.Resources = append(rep.Resources, t.Resource)
	}
	ids, err := s.tenantIDs(ctx, store, p, tables)
	if err != nil {
		return err
	}
	closeStore()
	ids = r.orderTenants(ctx, ids)
	if s.Tenant.Due {
		ids = r.dueTenants(ctx, ids, time.Now(), !job.since.IsZero())
	}
	s.Logger.Info("tenants", "count", len(ids), "concurrency", s.Tenant.Concurrency)

	agg := &tenantAgg{base: *rep, drift: map[string][]reconcile.Drift{}, summary: map[string]*reconcile.ResourceSummary{}, names: map[*reconcile.Report]string{}}
	r.tenants = agg
	budget := s.budget()
	_, accounts := p.(accountLister)
	defer s.shareTenantHTTP()()
	results := make([]reconcile.TenantResult, len(ids))
	var brakes sync.Map
	var sinceCov sync.Once
	sem := make(chan struct{}, s.Tenant.Concurrency)
	var wg sync.WaitGroup
	for i, id := range ids {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			trep := &reconcile.Report{Command: rep.Command, RunID: rep.RunID, StartedAt: rep.StartedAt, State: rep.State, DryRun: rep.DryRun}
			agg.start(id, trep)
			err := s.runTenant(ctx, job, trep, r, id, tables, budget, accounts)
			agg.done(trep)
			res := reconcile.TenantResult{Tenant: id, Summary: trep.Summary, ExitCode: trep.ExitCode}
			if err != nil {
				msg := err.Error()
				res.Error, res.ExitCode = &msg, reconcile.ExitError
				s.Logger.Warn("tenant failed", "tenant", id, "err", msg)
			} else {
				agg.add(id, trep)
				if job.incr != nil {
					job.incr.addTenant(id, trep)
				}
				if trep.SinceCoverage != nil { // the same for every tenant: the provider's feed
					sinceCov.Do(func() { rep.SinceCoverage = trep.SinceCoverage })
				}
				if trep.Brake != nil {
					brakes.Store(id, trep.Brake)
				}
			}
			if res.Summary == nil {
				res.Summary = map[string]*reconcile.ResourceSummary{}
			}
			results[i] = res
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	reconcile.SortTenants(results)
	rep.Tenants = results
	if rep.Tenants == nil {
		rep.Tenants = []reconcile.TenantResult{}
	}
	rep.Summary = agg.summary
	rep.Drift = agg.all()
	if job.incr != nil {
		job.incr.finish(rep)
	}
	codes := make([]int, len(results))
	for i, t := range results {
		codes[i] = t.ExitCode
		if b, ok := brakes.Load(t.Tenant); ok && rep.Brake == nil {
			rep.Brake = b.(*reconcile.BrakeRefusal)
		}
	}
	rep.ExitCode = reconcile.WorstExit(codes...)
	return nil
}

// runTenant is one tenant's diff or resync: its own store handle, provider
// and scoped tables.
func (s *Settings) runTenant(ctx context.Context, job reconcileJob, rep *reconcile.Report, r *run, id string, tables []*localstate.Table, budget providers.Waiter, accounts bool) error {
	store, err := s.openStore(ctx, !job.write)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := s.openTenantProvider(id, budget, accounts)
	if err != nil {
		return err
	}
	scoped := make([]*localstate.Table, len(tables))
	for i, t := range tables {
		scoped[i] = t.Scoped(s.Config.Tenants.Column, id)
	}
	job.tenant = id // the tenant's own snapshots (--incremental)
	return reconcileWith(ctx, s, job, rep, r, store, p, scoped, nil)
}

// recordTenants journals each tenant's part of the finished run.
func (r *run) recordTenants(ctx context.Context, rep *reconcile.Report, finished time.Time) {
	if err := r.j.RecordTenants(context.WithoutCancel(ctx), r.id, r.command, r.started, finished, rep); err != nil {
		r.s.Logger.Error("could not record the run's tenants in the journal", "run", r.id, "err", err)
	}
}

// orderTenants puts the tenants whose last run of the command failed
// first, then the stalest (never run, then the oldest last success); ties
// keep id order. A journal that cannot say leaves the order as it is.
func (r *run) orderTenants(ctx context.Context, ids []string) []string {
	states, err := r.j.TenantStates(ctx, r.command)
	if err != nil {
		r.s.Logger.Warn("could not read the tenants' last runs from the journal; running them in id order", "err", err)
		return ids
	}
	out := slices.Clone(ids)
	slices.SortStableFunc(out, func(a, b string) int {
		sa, sb := states[a], states[b]
		if sa.LastFailed != sb.LastFailed {
			if sa.LastFailed {
				return -1
			}
			return 1
		}
		return sa.LastSuccess.Compare(sb.LastSuccess)
	})
	return out
}

// dueTenants keeps the tenants that are due at now: their last successful
// run of the command started a cadence ago or more. A tenant never run (or
// never successfully) is due from its stagger slot on: a stable hash of its
// id picks a moment in the cadence, so a first pass over many tenants is
// spread over one cadence instead of landing on one cron run. A journal
// that cannot say makes every tenant due. A full run goes by the last full
// run only; a diff --since run (window) by the last run of either kind, as a
// full pass covers every window.
func (r *run) dueTenants(ctx context.Context, ids []string, now time.Time, window bool) []string {
	states, err := r.j.TenantStates(ctx, r.command)
	if err != nil {
		r.s.Logger.Warn("could not read the tenants' last runs from the journal; every tenant is due", "err", err)
		return ids
	}
	sizes := r.tenantSizes(ctx, states)
	var out []string
	for _, id := range ids {
		st := states[id]
		if window && st.LastWindowSuccess.After(st.LastSuccess) {
			st.LastSuccess = st.LastWindowSuccess
		}
		if isDue(id, st, r.s.Config.Tenants.CadenceOf(id, sizes[id]), now) {
			out = append(out, id)
		}
	}
	r.s.Logger.Info("tenants due", "due", len(out), "of", len(ids))
	return out
}

// tenantSizes is each tenant's size for cadence rules by record count: from
// its latest successful run of the command, and for replay (whose summary
// counts events, not records) from its latest successful diff or resync.
func (r *run) tenantSizes(ctx context.Context, states map[string]journal.TenantState) map[string]int {
	sizes := map[string]int{}
	for id, st := range states {
		sizes[id] = st.Records
	}
	if r.command != "replay" {
		return sizes
	}
	for _, cmd := range []string{"diff", "resync"} {
		other, err := r.j.TenantStates(ctx, cmd)
		if err != nil {
			r.s.Logger.Warn("could not read the tenants' sizes from the journal", "command", cmd, "err", err)
			continue
		}
		for id, st := range other {
			sizes[id] = max(sizes[id], st.Records)
		}
	}
	return sizes
}

// isDue says whether a tenant with journal state st and cadence is due at now.
func isDue(id string, st journal.TenantState, cadence time.Duration, now time.Time) bool {
	if !st.LastSuccess.IsZero() {
		return !now.Before(st.LastSuccess.Add(cadence))
	}
	if st.LastFailed {
		return true // its last attempt failed: try again
	}
	secs := int64(cadence / time.Second)
	if secs <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	slot := int64(h.Sum64() % uint64(secs))
	// The first pass: due once now has reached the tenant's slot in the
	// current cadence window, and from then on in every later window.
	return now.Unix()%secs >= slot
}

// metricsFileFlag is --metrics-file (diff, resync, health, check-user, replay).
func metricsFileFlag() cli.Flag {
	return &cli.StringFlag{Name: "metrics-file", Usage: "also write Prometheus text-format metrics (per tenant and resource) to `PATH`, atomically (for node_exporter's textfile collector)", EnvVars: envs("METRICS_FILE")}
}

// writeMetrics writes --metrics-file, when given, atomically (temp file
// and rename: the collector never reads half a file). A failure is logged:
// the report and exit code stand.
func (s *Settings) writeMetrics(c *cli.Context, write func(io.Writer) error) {
	path := c.String("metrics-file")
	if path == "" {
		return
	}
	var b bytes.Buffer
	err := write(&b)
	if err == nil {
		err = writeFileAtomic(path, b.Bytes())
	}
	if err != nil {
		s.Logger.Error("could not write --metrics-file", "path", path, "err", err)
	}
}

// healthMetrics writes h as metrics (health.go's io is its IO).
func healthMetrics(h *report.HealthReport) func(io.Writer) error {
	return func(w io.Writer) error { return report.HealthMetrics(w, h) }
}

// checkUserMetrics writes check-user's report as metrics in the format of
// a diff's (report.RunMetrics): its resources' summary, with tenants under
// the --tenant's label.
func checkUserMetrics(s *Settings, u *report.UserReport) func(io.Writer) error {
	return func(w io.Writer) error {
		rep := &reconcile.Report{Command: "check-user", Summary: u.Summary, ExitCode: u.ExitCode}
		rep.StartedAt, _ = time.Parse(time.RFC3339, u.StartedAt)
		rep.FinishedAt, _ = time.Parse(time.RFC3339, u.FinishedAt)
		if s.Config.Tenants != nil && len(s.Tenant.IDs) == 1 {
			rep.Tenants = []reconcile.TenantResult{{Tenant: s.Tenant.IDs[0], Summary: u.Summary, ExitCode: u.ExitCode}}
		}
		return report.RunMetrics(w, rep)
	}
}

// replayMetrics writes replay's report as metrics (report.ReplayMetrics):
// over tenants, each tenant's under its label.
func replayMetrics(rep *replay.Report, started time.Time) func(io.Writer) error {
	return func(w io.Writer) error {
		finished, err := time.Parse(time.RFC3339, rep.FinishedAt)
		if err != nil {
			finished = now()
		}
		parts := []report.ReplayPart{{Summary: rep.Summary, ExitCode: rep.ExitCode}}
		if rep.Tenants != nil {
			parts = make([]report.ReplayPart, len(rep.Tenants))
			for i, t := range rep.Tenants {
				parts[i] = report.ReplayPart{Tenant: t.Tenant, Summary: t.Summary, ExitCode: t.ExitCode}
			}
		}
		return report.ReplayMetrics(w, parts, started, finished)
	}
}

// userProvider is check-user's provider: without tenants the configured
// one; with tenants the provider of the one --tenant (acting for its
// connected account, or with its own credentials).
func (s *Settings) userProvider() (providers.Provider, error) {
	if s.Config.Tenants == nil {
		return s.openProvider()
	}
	accounts := false
	if p, err := s.openProvider(); err == nil {
		_, accounts = p.(accountLister)
	}
	return s.openTenantProvider(s.Tenant.IDs[0], s.budget(), accounts)
}

// userTable is check-user's mapping of a resource, scoped to the --tenant
// with tenants.
func (s *Settings) userTable(resource string) *localstate.Table {
	t := s.table(resource)
	if s.Config.Tenants != nil && len(s.Tenant.IDs) == 1 {
		return t.Scoped(s.Config.Tenants.Column, s.Tenant.IDs[0])
	}
	return t
}
