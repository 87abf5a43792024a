package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

func checkUserCommand(io IO) *cli.Command {
	return &cli.Command{
		Name:      "check-user",
		Usage:     "is this customer in sync? one user and its related records, by id or email (--fix corrects them)",
		ArgsUsage: "<id-or-email>",
		Description: `Answers the support desk's question in seconds: reads one user record at the
provider (a single-object read by id, or a search by email) and in the local
state, compares every mapped field, and includes the records that hang off it
(a Stripe customer's subscriptions, all statuses). The verdict is one of
in_sync, drifted, missing_local, deleted_remotely, inaccessible, not_found.

An email is looked up locally (the column mapped from the provider's email)
and at the provider (Stripe's email filter is case-sensitive, so the local
record's exact spelling is tried too). Several matches are listed and the
command asks for an id. --search also asks the provider's search API (Stripe:
email~"…", matched in any case), whose results can lag up to a minute.

With --fix the user's and its related records' corrections go through the
same plan, safety brake and apply path as diff --apply, and the run is
journaled. A --max-changes share is of the resource's local records; deleting
the last record(s) of a table needs --allow-empty-remote. Without --fix nothing is written and the state is opened read-only.

EXAMPLES:
   reconctl check-user cus_NffrFeUfNV2Hib
   reconctl check-user ann@example.com -o json
   reconctl check-user cus_NffrFeUfNV2Hib --fix

EXIT STATUS:
   0  in sync, or --fix fixed everything
   1  error, not found on either side, or an email that matches several records
   2  drift remains (drifted, missing_local, deleted_remotely, inaccessible)
   3  the safety brake refused to write`,
		Flags: withGlobal(append([]cli.Flag{tenantFlag()},
			&cli.BoolFlag{Name: "fix", Usage: "write the corrections (default: report only)", EnvVars: envs("FIX")},
			&cli.BoolFlag{Name: "search", Usage: "for an email, also ask the provider's search API (Stripe: email~\"…\", any case; results can lag up to a minute)"},
			maxChangesFlag(),
			allowEmptyRemoteFlag(),
			allowAbsentPathFlag(),
			reconfirmAfterFlag(),
			waitFlag(),
			metricsFileFlag(),
		)...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("check-user needs exactly one user id or email, e.g. reconctl check-user cus_123")
			}
			s, err := loadSettings(c, io)
			if err != nil {
				return err
			}
			brake, err := s.maxChanges(c)
			if err != nil {
				return err
			}
			o := checkUserOptions{Query: c.Args().First(), Fix: c.Bool("fix"), Search: c.Bool("search"), Brake: brake, AllowEmpty: c.Bool("allow-empty-remote"),
				AllowAbsentPaths: c.StringSlice("allow-absent-path"), ReconfirmAfter: c.Duration("reconfirm-after")}
			if c.IsSet("wait") {
				w := c.Duration("wait")
				o.Wait = &w
			}
			o.Metrics = func(u *report.UserReport) { s.writeMetrics(c, checkUserMetrics(s, u)) } // tenants.go
			return runCheckUser(c.Context, s, o)
		},
	}
}

// checkUserOptions are check-user's flags, resolved.
type checkUserOptions struct {
	Query      string // an id, or an email
	Fix        bool
	Search     bool
	Brake      reconcile.Limiter
	AllowEmpty bool
	// AllowAbsentPaths (--allow-absent-path) add to allow_absent_paths.
	AllowAbsentPaths []string
	Wait             *time.Duration
	// ReconfirmAfter: --reconfirm-after.
	ReconfirmAfter time.Duration
	// Metrics, when set, writes --metrics-file from the finished report.
	Metrics func(*report.UserReport)
}

// runCheckUser opens the journal run, the state and the provider, asks the
// engine, journals and renders the verdict.
func runCheckUser(ctx context.Context, s *Settings, o checkUserOptions) error {
	var wait time.Duration
	if o.Wait != nil {
		wait = *o.Wait
	}
	r, err := s.beginRun(ctx, "check-user", o.Fix, wait)
	if err != nil {
		return err
	}
	u := &report.UserReport{Command: "check-user", RunID: r.id, StartedAt: r.started.Format(time.RFC3339), State: s.displayState(), Query: o.Query, Fix: o.Fix, Drift: []reconcile.Drift{}}
	res, err := s.checkUser(ctx, u, o, r)
	if err != nil {
		r.finish(ctx, reconcile.ExitError, err, nil, nil, nil)
		if o.Metrics != nil {
			// A failure (the provider refused, the state could not be read)
			// is a metric too: reconctl_tenant_failed 1.
			u.FinishedAt, u.ExitCode = now().Format(time.RFC3339), reconcile.ExitError
			o.Metrics(u)
		}
		return err
	}
	u.FinishedAt = now().Format(time.RFC3339)
	var js bytes.Buffer
	_ = report.WriteJSON(&js, u)
	var rep *reconcile.Report
	if res != nil {
		rep = &reconcile.Report{Command: "check-user", RunID: r.id, Provider: u.Provider, State: u.State, Drift: res.Drift, Summary: res.Summaries()}
	}
	r.finish(ctx, u.ExitCode, nil, rep, js.Bytes(), nil)
	if err := report.Render(s.IO.Out, s.Output, report.User(u), report.Options{}); err != nil {
		return err
	}
	if o.Metrics != nil {
		o.Metrics(u)
	}
	if u.ExitCode == reconcile.ExitError {
		return errors.New(u.Message)
	}
	return exitWith(u.ExitCode)
}

// checkUser opens the state and the provider and hands them to the engine.
func (s *Settings) checkUser(ctx context.Context, u *report.UserReport, o checkUserOptions, r *run) (*reconcile.Result, error) {
	store, err := s.openStore(ctx, !o.Fix)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	p, err := s.userProvider() // tenants.go: the --tenant's provider with tenants:
	if err != nil {
		return nil, err
	}
	u.Resource = reconcile.UserResource(s.Config.UserResource, p)
	eng := &reconcile.Engine{Provider: p, Store: store, Logger: s.Logger, ReconfirmAfter: o.ReconfirmAfter}
	if o.Fix {
		// As diff and resync: a server lock whose session ended no longer
		// keeps other writers out, so the fix does not commit.
		eng.BeforeCommit = func(ctx context.Context, _ localstate.Tx, _ *reconcile.Result) error {
			return r.checkLock(ctx)
		}
	}
	return eng.CheckUser(ctx, u, reconcile.UserOptions{
		Search: o.Search, Fix: o.Fix, Brake: o.Brake, AllowEmpty: o.AllowEmpty,
		// --allow-absent-path adds to the config's allow_absent_paths.
		AllowAbsentPaths: append(slices.Clone(s.Config.AllowAbsentPaths), o.AllowAbsentPaths...),
		Table:            s.userTable, Prepare: s.prepare,
		Mirrored:    func(rel string) bool { return s.Config.Resource(rel) != nil },
		IgnoreRules: s.ignoreRules,
		Applied: func(ctx context.Context, res *reconcile.Result) {
			key := p.Name()
			if s.Config.Tenants != nil && len(s.Tenant.IDs) == 1 {
				key = journal.TenantKey(key, s.Tenant.IDs[0]) // where the tenant's replay looks
			}
			r.recordRecordFreshness(ctx, key, res.Drift)
		},
	})
}

// table returns the configured (or default) local mapping of a resource.
func (s *Settings) table(resource string) *localstate.Table {
	if r := s.Config.Resource(resource); r != nil {
		return r.LocalTable()
	}
	return (&configResource{name: resource}).table()
}
