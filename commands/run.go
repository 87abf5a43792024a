package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

// maxChangesFlag is the safety brake's setting, on every writing command.
func maxChangesFlag() cli.Flag {
	return &cli.StringFlag{Name: "max-changes", Usage: "safety brake: refuse to write when a resource's plan exceeds `N` changes, a share (10%), or unlimited (default: the larger of 100 and 10% of its local records)", EnvVars: envs("MAX_CHANGES")}
}

// allowEmptyRemoteFlag lifts the mass-delete guard (contract: Guards).
func allowEmptyRemoteFlag() cli.Flag {
	return &cli.BoolFlag{Name: "allow-empty-remote", Usage: "write a plan that deletes all or nearly all (90% or more) of a resource's local records, or that follows an empty listing (refused with exit 3 otherwise, whatever --max-changes says)", EnvVars: envs("ALLOW_EMPTY_REMOTE")}
}

// allowAbsentPathFlag confirms a mapped path that no listed record has.
func allowAbsentPathFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "allow-absent-path", Usage: "write null into the column mapped from provider `PATH` even though no listed record has that path (repeatable; otherwise such a plan is refused with exit 1 as a likely typo)", EnvVars: envs("ALLOW_ABSENT_PATH")}
}

// reconfirmAfterFlag bounds how old a listed copy may be when it is written
// (issue #15): older ones are re-read from the provider first.
func reconfirmAfterFlag() cli.Flag {
	return &cli.DurationFlag{Name: "reconfirm-after", Value: DefaultReconfirmAfter, Usage: "before writing, re-read from the provider each record to create or update whose listed copy is older than `DURATION` and re-plan it from the fresh copy (0: re-read every one; a large value such as 1000h: none)", EnvVars: envs("RECONFIRM_AFTER")}
}

// DefaultReconfirmAfter is --reconfirm-after's default.
const DefaultReconfirmAfter = 5 * time.Second

func (s *Settings) maxChanges(c *cli.Context) (config.MaxChanges, error) {
	v := s.Config.MaxChanges
	if c.IsSet("max-changes") {
		v = c.String("max-changes")
	}
	m, err := config.ParseMaxChanges(v)
	if err != nil {
		return m, fmt.Errorf("--max-changes: %w", err)
	}
	return m, nil
}

// reconcileJob is one diff or resync run.
type reconcileJob struct {
	command string
	mode    reconcile.Mode
	write   bool // apply the plan (diff --apply, resync without --dry-run)
	brake   config.MaxChanges
	// writeIgnore, when set, receives the drift found as an ignore baseline.
	writeIgnore string
	noDelete    bool
	// allowEmptyRemote lifts the mass-delete guard; allowAbsent lists the
	// mapped paths the operator confirmed absent.
	allowEmptyRemote bool
	allowAbsent      []string
	// reconfirmAfter: see reconfirmAfterFlag.
	reconfirmAfter time.Duration
	// incr: --incremental/--full (incremental.go); nil without.
	incr *incrementalJob
	// tenant is the tenant a job copy runs for (tenants.go).
	tenant string
	// since, when set (diff --since), compares only the records the
	// provider changed since then.
	since time.Time
}

// runReconcile compares, plans, brakes and (if asked) applies, and returns the report.
func runReconcile(ctx context.Context, s *Settings, job reconcileJob, rep *reconcile.Report, r *run) error {
	if s.Config.Tenants != nil {
		return runTenants(ctx, s, job, rep, r) // tenants.go
	}
	store, err := s.openStore(ctx, !job.write)
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := s.openProvider()
	if err != nil {
		return err
	}
	tables, err := s.tables(p)
	if err != nil {
		return err
	}
	return reconcileWith(ctx, s, job, rep, r, store, p, tables, s.progress())
}

// reconcileWith is runReconcile over an open store and provider and the
// tables to check (for a tenant: scoped to it).
func reconcileWith(ctx context.Context, s *Settings, job reconcileJob, rep *reconcile.Report, r *run, store localstate.Store, p providers.Provider, tables []*localstate.Table, bar *barProgress) error {
	rep.Provider = p.Name()
	eng := &reconcile.Engine{Provider: p, Store: store, Logger: s.Logger, ReconfirmAfter: job.reconfirmAfter}
	if job.incr != nil {
		// The snapshot is kept per account: the provider's name and what
		// selects the account it reads (API base, key, connected account,
		// directory; as a one-way digest), so another key or base never
		// reuses it.
		name, _ := providers.SplitSpec(s.Provider)
		if id := providers.IdentityOf(p); id != "" {
			name += "@" + id
		}
		eng.Incremental = job.incr.engine(s, r, name, job.tenant)
	}
	if bar != nil {
		eng.Progress = bar // never a typed nil in the interface
	}
	var resources []*reconcile.Resource
	for _, t := range tables {
		r, err := s.prepare(ctx, eng, t)
		if err != nil {
			return err
		}
		resources = append(resources, r)
		rep.Resources = append(rep.Resources, t.Resource)
	}
	if err := checkAbsentPaths(job.allowAbsent, s, resources); err != nil {
		return err
	}
	// The baseline in force is read before --write-ignore replaces it: the run
	// that writes a baseline still shows the drift it accepts.
	rules, err := s.ignoreRules()
	if err != nil {
		return err
	}
	var res *reconcile.Result
	if job.since.IsZero() {
		res, err = eng.Compare(ctx, resources, job.mode)
	} else {
		var sr *reconcile.SinceResult
		res, sr, err = eng.CompareSince(ctx, resources, job.mode, job.since)
		if sr != nil {
			rep.SinceCoverage = sr.Coverage
		}
	}
	if err != nil {
		return err
	}
	if job.incr != nil {
		job.incr.fill(rep, res)
		// provider_calls once every call of the run (re-reads, too) is made
		defer job.incr.fill(rep, res)
	}
	if job.writeIgnore != "" {
		if err := writeFileAtomic(job.writeIgnore, []byte(reconcile.Baseline(res.Drift))); err != nil {
			return fmt.Errorf("--write-ignore: %w", err)
		}
		s.Logger.Info("wrote the ignore baseline", "file", job.writeIgnore, "items", len(res.Drift))
	}
	res.Ignore(rules)
	if job.noDelete {
		res.SkipDeletes()
	}
	// refused runs the guards and the brake on the plan as it stands; a
	// refusal is the run's report (exit 3) or its error (exit 1).
	refused := func() (bool, error) {
		if err := res.Guard(job.allowAbsent); err != nil {
			return true, err
		}
		b := res.Brake(job.brake)
		if !job.allowEmptyRemote {
			if mb := res.MassDelete(); mb != nil {
				b = mb
			}
		}
		if b == nil {
			return false, nil
		}
		rep.Drift, rep.Summary = res.Drift, res.Summaries()
		rep.Brake = b
		rep.ExitCode = reconcile.ExitBrake
		return true, nil
	}
	if job.write {
		// A plan the guards or the brake refuse is refused before any
		// re-read is spent on it; re-reads only shrink a plan or turn an
		// update into a deletion, which the second check below sees.
		if stop, err := refused(); stop {
			return err
		}
		// Just before writing: records whose listed copy is old are read
		// again, and the guards and the brake below see the re-planned plan.
		if err := eng.Reconfirm(ctx, res); err != nil {
			return err
		}
		res.Ignore(rules) // a re-planned record's ignored fields
		if job.noDelete {
			res.SkipDeletes()
		}
	}
	rep.Drift = res.Drift
	rep.Summary = res.Summaries()
	if !job.write {
		rep.ExitCode = driftExit(res)
		return nil
	}
	if stop, err := refused(); stop {
		return err
	}
	inTx := r.journalsInState()
	eng.BeforeCommit = func(ctx context.Context, tx localstate.Tx, res *reconcile.Result) error {
		// A server lock whose session ended no longer keeps other
		// writers out: the apply does not commit.
		if err := r.checkLock(ctx); err != nil {
			return err
		}
		if inTx {
			// The journal is in the state's database: what the run applied
			// is recorded in the apply's own transaction.
			return r.recordApplied(ctx, tx, rep, res, p.Name())
		}
		return nil
	}
	if store.Features().Begin == nil {
		// A JSON state cannot share a transaction with the journal: the
		// pending apply is journaled first, and resolved by the next
		// writing run if this one dies before it finishes.
		eng.BeforeApply = func(ctx context.Context, res *reconcile.Result) error {
			return r.markPending(ctx, rep, res)
		}
	}
	if r.tenants != nil {
		// Tenants compare concurrently; their applies into one SQLite file
		// take turns (tenants.go) instead of queueing on its lock.
		unlock := r.tenants.applyTurn(store)
		defer unlock()
	}
	if err := eng.Apply(ctx, res); err != nil {
		return fmt.Errorf("applying the plan: %w", err)
	}
	rep.Drift = res.Drift
	rep.Summary = res.Summaries()
	if !inTx {
		whole, partial := freshness(rep, res)
		if r.tenants != nil {
			whole, partial = nil, res.Drift // one tenant's rows, not the resource
		}
		r.recordFreshness(ctx, p.Name(), whole)
		// A tenant's records under its journal key (where its replay looks).
		r.recordRecordFreshness(ctx, journal.TenantKey(p.Name(), r.tenantOf(rep)), partial)
	}
	rep.ExitCode = driftExit(res)
	return nil
}

// freshness says what an apply made fresh: a resource with nothing left
// unresolved now mirrors the provider as of this run (older events are stale
// for all of it); otherwise only the records written are known to be fresh.
// A --since run compared a window, not the resource: only what it wrote is
// fresh.
func freshness(rep *reconcile.Report, res *reconcile.Result) (whole []string, partial []reconcile.Drift) {
	if rep.Since != "" {
		return nil, res.Drift
	}
	sum := res.Summaries()
	for _, name := range rep.Resources {
		if s := sum[name]; s != nil && s.Unresolved == 0 && s.Conflicts == 0 {
			whole = append(whole, name)
		}
	}
	for _, d := range res.Drift {
		if s := sum[d.Resource]; s != nil && s.Unresolved > 0 {
			partial = append(partial, d)
		}
	}
	return whole, partial
}

// checkAbsentPaths rejects a confirmed absent path that no resource maps
// (a typo there would confirm nothing and say nothing).
func checkAbsentPaths(paths []string, s *Settings, resources []*reconcile.Resource) error {
	var mapped []string
	for _, r := range resources {
		for _, f := range r.Fields() {
			mapped = append(mapped, f.Path)
		}
	}
	for _, r := range s.Config.Resources {
		for _, f := range r.Fields {
			mapped = append(mapped, f.Path)
		}
	}
	for _, p := range paths {
		if !slices.Contains(mapped, p) {
			return fmt.Errorf("--allow-absent-path %s (or allow_absent_paths:): no resource maps the provider path %q; give a path as written under fields: in reconctl.yaml", p, p)
		}
	}
	return nil
}

func driftExit(res *reconcile.Result) int {
	if res.Unresolved() > 0 || res.Conflicts() > 0 { // a conflict: the next run looks again

		return reconcile.ExitDrift
	}
	return reconcile.ExitOK
}

// printReport renders rep on stdout in the chosen format.
func (s *Settings) printReport(rep *reconcile.Report) error {
	return report.Render(s.IO.Out, s.Output, report.Diff(rep), report.Options{Color: s.Output == "table" && colorOK(s.IO.Out)})
}

// IgnoreFile is the baseline file read beside the config (or in the working
// directory without one).
const IgnoreFile = ".reconctlignore"

// ignoreRules gathers the config's ignore: list and the .reconctlignore file.
func (s *Settings) ignoreRules() ([]reconcile.IgnoreRule, error) {
	var rules []reconcile.IgnoreRule
	for i, p := range s.Config.Ignore {
		r, err := reconcile.ParseIgnoreRule(p, fmt.Sprintf("%s: ignore[%d]", s.Config.File, i))
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	path := IgnoreFile
	if s.Config.File != "" {
		path = filepath.Join(filepath.Dir(s.Config.File), IgnoreFile)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return rules, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	more, err := reconcile.ReadIgnoreFile(f, path)
	if err != nil {
		return nil, err
	}
	return append(rules, more...), nil
}

// writeFileAtomic replaces path with data: temp file, fsync, rename.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
