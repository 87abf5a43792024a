package commands

// diff/resync --incremental and --full (issue #18): the engine compares each
// resource with the provider snapshot in the journal, rolled forward from the
// events since its cursor (reconcile/incremental.go); the report says whether
// it did, why not (fallback), from which cursor, and how many HTTP calls the
// run sent to the provider.

import (
	"sync"
	"sync/atomic"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/reconcile"
)

// incrementalFlags are diff's and resync's --incremental and --full.
func incrementalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "incremental", Usage: "compare with the provider snapshot kept in the journal, rolled forward from the provider's events since the last run, instead of listing the provider (every suspect is still read live); the first run, or one whose snapshot cannot be trusted, lists in full and stores the snapshot (the report's fallback says why)", EnvVars: envs("INCREMENTAL")},
		&cli.BoolFlag{Name: "full", Usage: "list the provider in full and store a fresh snapshot for later --incremental runs (as full_every: does on its own)", EnvVars: envs("FULL")},
	}
}

// incrementalJob is what --incremental/--full ask of a run.
type incrementalJob struct {
	full bool
	// calls counts the provider's HTTP requests over the run (every
	// tenant's provider shares it).
	calls *atomic.Int64
	mu    sync.Mutex
	agg   *reconcile.IncrementalRun // over tenants
}

// incrementalJobFrom reads the flags; nil when neither is given.
func incrementalJobFrom(c *cli.Context) *incrementalJob {
	if !c.Bool("incremental") && !c.Bool("full") {
		return nil
	}
	return &incrementalJob{full: c.Bool("full"), calls: new(atomic.Int64)}
}

// engine is the engine's Incremental for one tenant ("" without tenants).
func (ij *incrementalJob) engine(s *Settings, r *run, provider, tenant string) *reconcile.Incremental {
	return &reconcile.Incremental{Store: r.j, Provider: provider, Tenant: tenant, Full: ij.full, FullEvery: s.Config.FullEvery}
}

// fill sets rep's incremental fields from res (one tenant's, or the run's).
func (ij *incrementalJob) fill(rep *reconcile.Report, res *reconcile.Result) {
	ir := res.Incremental()
	if ir == nil {
		return
	}
	ir.ProviderCalls = ij.calls.Load()
	rep.IncrementalRun = ir
}

// addTenant folds one tenant's incremental fields into the run's.
func (ij *incrementalJob) addTenant(tenant string, trep *reconcile.Report) {
	ir := trep.IncrementalRun
	if ir == nil {
		return
	}
	ij.mu.Lock()
	defer ij.mu.Unlock()
	if ij.agg == nil {
		ij.agg = &reconcile.IncrementalRun{Incremental: true, Cursor: ir.Cursor}
	}
	if !ir.Incremental {
		ij.agg.Incremental = false
		if ij.agg.Fallback == nil && ir.Fallback != nil {
			why := "tenant " + tenant + ": " + *ir.Fallback
			ij.agg.Fallback = &why
		}
	}
	if ir.Cursor < ij.agg.Cursor {
		ij.agg.Cursor = ir.Cursor
	}
}

// finish sets the run's totals on rep (a multi-tenant run's report).
func (ij *incrementalJob) finish(rep *reconcile.Report) {
	ij.mu.Lock()
	defer ij.mu.Unlock()
	if ij.agg != nil {
		rep.IncrementalRun = ij.agg
	}
	if rep.IncrementalRun != nil {
		rep.IncrementalRun.ProviderCalls = ij.calls.Load()
	}
}
