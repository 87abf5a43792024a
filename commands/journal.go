package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

func waitFlag() cli.Flag {
	return &cli.DurationFlag{Name: "wait", Usage: "when another run is writing the same state, wait up to `DURATION` for it (default: fail at once)", EnvVars: envs("WAIT")}
}

// journalPlace says where the run is recorded — --journal, else where the
// state's backend keeps it (inside a SQLite or server state, beside a JSON
// snapshot) — and whether the journal is in the state's own database (so
// its rows can share the state's transaction), as the store registry says.
func (s *Settings) journalPlace() (localstate.JournalPlace, error) {
	if s.Journal != "" {
		// A file or database of its own, unless it names the state's own
		// database.
		inState := false
		if place, err := localstate.JournalOf(s.State); err == nil && place.InState {
			switch {
			case localstate.IsFile(s.State) && localstate.IsFile(s.Journal):
				a, errA := journal.ResolveState(s.Journal)
				b, errB := journal.ResolveState(s.State)
				inState = errA == nil && errB == nil && a == b
			case !localstate.IsFile(s.State):
				inState = s.Journal == s.State
			}
		}
		return localstate.JournalPlace{Location: s.Journal, Create: true, InState: inState}, nil
	}
	if s.State == "" {
		return localstate.JournalPlace{}, errors.New("no state given: set --state app.db (or .json) or state: in reconctl.yaml")
	}
	var statErr error
	if localstate.IsFile(s.State) {
		_, statErr = os.Stat(s.State)
	}
	place, err := localstate.JournalOf(s.State)
	if statErr != nil || err != nil {
		// Let the store say what is wrong: it knows what to tell the operator.
		st, oerr := localstate.Open(context.Background(), s.State, localstate.OpenOptions{ReadOnly: true})
		if oerr == nil {
			st.Close()
			oerr = statErr
		}
		if oerr == nil {
			oerr = err
		}
		return localstate.JournalPlace{}, oerr
	}
	return place, nil
}

// run is one recorded run of a command: its journal row and, for writing
// runs, the state's one-writer lock.
type run struct {
	s       *Settings
	j       *journal.Journal
	id      string
	command string
	started time.Time
	lock    journal.WriterLock
	// inState: the journal is in the state's own database.
	inState bool
	// tenants gathers a multi-tenant run's reports (tenants.go); nil for
	// a run without tenants.
	tenants *tenantAgg
	// tenantRows are a replay over tenants' rows (replaytenants.go),
	// recorded when the run finishes.
	tenantRows []journal.TenantRow
}

// provisional is the run's report as it stands once res's writes land.
func provisional(rep *reconcile.Report, res *reconcile.Result) (*reconcile.Report, []byte, error) {
	prov := *rep
	prov.Drift = res.Drift
	if prov.Drift == nil {
		prov.Drift = []reconcile.Drift{}
	}
	prov.Summary = res.Summaries()
	prov.FinishedAt = now()
	prov.ExitCode = reconcile.ExitOK
	if res.Unresolved() > 0 {
		prov.ExitCode = reconcile.ExitDrift
	}
	var js bytes.Buffer
	if err := report.WriteJSON(&js, &prov); err != nil {
		return nil, nil, err
	}
	return &prov, js.Bytes(), nil
}

// markPending journals, before a JSON state is replaced, what the run is
// about to apply and the state's fingerprint (see resolvePending).
func (r *run) markPending(ctx context.Context, rep *reconcile.Report, res *reconcile.Result) error {
	sum, err := localstate.FingerprintOf(r.s.State)
	if err != nil {
		return fmt.Errorf("state %s: %w", r.s.State, err)
	}
	prov, js, err := provisional(rep, res)
	if err != nil {
		return err
	}
	return r.j.MarkPending(ctx, r.id, prov, js, sum)
}

// resolvePending settles the runs that died between journaling a pending
// apply and finishing: if the state is still what it was before their
// apply, nothing landed and their record says so; otherwise it landed.
// Called holding the writer lock, so no live run is applying.
func (r *run) resolvePending(ctx context.Context) {
	pending, err := r.j.PendingRuns(ctx)
	if err != nil {
		r.s.Logger.Warn("could not read the journal's pending applies", "err", err)
		return
	}
	if len(pending) == 0 {
		return
	}
	sum, err := localstate.FingerprintOf(r.s.State)
	if err != nil {
		return
	}
	self, err := journal.ResolveState(r.s.State)
	if err != nil {
		return
	}
	for _, p := range pending {
		// A journal shared by several states (--journal) holds their runs
		// too: only this state's are settled by this state's content.
		if other, err := journal.ResolveState(p.State); err != nil || other != self {
			continue
		}
		landed := sum != p.StateSHA
		var rep reconcile.Report
		var js []byte
		if !landed && p.ReportJSON != nil {
			if err := json.Unmarshal(p.ReportJSON, &rep); err == nil {
				for i := range rep.Drift {
					rep.Drift[i].Applied = false
				}
				for _, s := range rep.Summary {
					if s != nil {
						s.Unresolved += s.Applied
						s.Applied = 0
					}
				}
				var b bytes.Buffer
				if report.WriteJSON(&b, &rep) == nil {
					js = b.Bytes()
				}
			}
		}
		if err := r.j.ResolvePending(ctx, p.ID, landed, &rep, js); err != nil {
			r.s.Logger.Warn("could not resolve a pending apply", "run", p.ID, "err", err)
			continue
		}
		what := "its writes are not in the state"
		if landed {
			what = "its writes are in the state"
		}
		r.s.Logger.Warn(fmt.Sprintf("run %s was killed during its apply: %s; `reconctl history %s` shows it", p.ID, what, p.ID))
	}
}

// journalsInState reports whether the journal lives in the state's own
// SQLite database, so that its rows can share the apply's transaction.
func (r *run) journalsInState() bool { return r.inState }

// recordApplied writes, inside the apply's transaction tx, the run's report
// as it stands once tx commits, its drift items and the freshness it gives
// the state: killed right after the commit, history shows what was applied.
func (r *run) recordApplied(ctx context.Context, tx localstate.Tx, rep *reconcile.Report, res *reconcile.Result, provider string) error {
	if r.tenants != nil {
		return r.recordTenantApplied(ctx, tx, rep, res, provider) // tenants.go
	}
	prov, js, err := provisional(rep, res)
	if err != nil {
		return err
	}
	if err := r.j.RecordApplied(ctx, tx, r.id, prov, js); err != nil {
		return err
	}
	whole, partial := freshness(prov, res)
	for _, name := range whole {
		if err := r.j.RecordVersion(ctx, tx, provider, name, "*", r.started, "", r.command+" "+r.id); err != nil {
			return err
		}
	}
	var rows []journal.VersionRow
	for _, d := range partial {
		if d.Applied {
			rows = append(rows, journal.VersionRow{Provider: provider, Resource: d.Resource, ObjectID: d.ID, At: r.started, Source: r.command + " " + r.id})
		}
	}
	return r.j.RecordVersions(ctx, tx, rows)
}

// beginRun opens the journal, takes the writer lock when the run writes, and
// records the run as started.
func (s *Settings) beginRun(ctx context.Context, command string, write bool, wait time.Duration) (*run, error) {
	r := &run{s: s, command: command, started: now()}
	r.id = journal.NewRunID(r.started)
	place, err := s.journalPlace()
	if err != nil {
		return nil, err
	}
	path, create := place.Location, place.Create
	if write && s.State != "" {
		holder := journal.Holder{RunID: r.id, PID: os.Getpid(), Command: "reconctl " + command, StartedAt: r.started}
		var lock journal.WriterLock
		if localstate.HasServerLock(s.State) {
			// The server's own lock, one per table the run may write.
			tables, err := s.lockTables()
			if err != nil {
				return nil, err
			}
			lock, err = journal.AcquireServerLock(ctx, s.State, s.serverOptions(), tables, holder, wait)
			if err != nil {
				if !errors.Is(err, journal.ErrLocked) {
					return nil, s.storeSaysFirst(ctx, err)
				}
				return nil, err
			}
		} else {
			lockFile, err := localstate.LockFileOf(s.State)
			if err != nil {
				return nil, err
			}
			lock, err = journal.AcquireLock(ctx, lockFile, holder, wait)
			if err != nil {
				return nil, err
			}
		}
		r.lock = lock
		if note := lock.StaleNote(); note != "" {
			s.Logger.Warn(note)
		}
	}
	opts := journal.Options{Create: create}
	if fi, err := os.Stat(s.State); err == nil && create && localstate.IsFile(s.State) {
		opts.Mode = fi.Mode().Perm() // a journal beside a 0600 snapshot is 0600 too
	}
	opts.Server = s.journalServerOptions(path)
	j, err := journal.Open(ctx, path, opts)
	if err != nil {
		r.releaseLock()
		if place.InState && !errors.Is(err, journal.ErrNotWritable) {
			err = s.storeSaysFirst(ctx, err)
		}
		return nil, s.journalErr(place, err)
	}
	r.j = j
	r.inState = place.InState
	name, _ := providers.SplitSpec(s.Provider)
	resources := s.Resources
	if len(resources) == 0 {
		for _, res := range s.Config.Resources {
			resources = append(resources, res.Name)
		}
	}
	if r.lock != nil && create && !r.inState {
		r.resolvePending(ctx)
	}
	if err := j.StartRun(ctx, journal.Run{ID: r.id, Command: command, Args: s.Args, Provider: name, State: localstate.RedactLocation(s.State), Resources: resources, StartedAt: r.started}); err != nil {
		j.Close()
		r.releaseLock()
		return nil, s.journalErr(place, err)
	}
	return r, nil
}

// storeSaysFirst returns, when the server state itself cannot be opened,
// the store's own error instead of err (it knows what to tell the operator:
// not reachable, no such database, not supported); else err.
func (s *Settings) storeSaysFirst(ctx context.Context, err error) error {
	if localstate.IsFile(s.State) {
		return err
	}
	st, oerr := localstate.Open(ctx, s.State, localstate.OpenOptions{ReadOnly: true})
	if oerr != nil {
		return oerr
	}
	st.Close()
	return err
}

// journalErr explains a journal that cannot be written (a role that may
// only SELECT): where the journal was to go and what to do. Nothing was
// recorded (the journal's schema steps are transactional or idempotent).
func (s *Settings) journalErr(place localstate.JournalPlace, err error) error {
	var ne *journal.NotWritableError
	if !errors.As(err, &ne) || localstate.IsFile(place.Location) {
		return err
	}
	why := fmt.Sprintf("%s: %v", ne.Op, ne.Err)
	if s.Journal == "" {
		return &explained{err: err, msg: fmt.Sprintf("cannot record the run: the state's database %s does not let this role create or write the journal's reconctl_* tables (%s); "+
			"pass --journal PATH (a SQLite file) or --journal DSN (another database) that reconctl may write, or set journal: in reconctl.yaml; "+
			"or grant the role CREATE on the schema (MySQL: on the database) and SELECT, INSERT, UPDATE, DELETE on the reconctl_* tables",
			ne.Journal, why)}
	}
	return &explained{err: err, msg: fmt.Sprintf("cannot record the run: the journal %s (--journal/journal:) does not let this role create or write its reconctl_* tables (%s); "+
		"name a SQLite file or a database that reconctl may write (with --journal given, the state's database is not used for the journal)",
		ne.Journal, why)}
}

// explained is an error told in the operator's terms, still matching what
// it wraps (errors.Is(err, journal.ErrNotWritable)).
type explained struct {
	err error
	msg string
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// lockTables are the tables a writing run on a server state may write,
// whose server locks it takes: the resources named by --resource or the
// config, else the provider's defaults, each as its table.
func (s *Settings) lockTables() ([]string, error) {
	names := s.Resources
	if len(names) == 0 {
		for _, res := range s.Config.Resources {
			names = append(names, res.Name)
		}
	}
	if len(names) == 0 {
		p, err := s.openProvider()
		if err != nil {
			return nil, err
		}
		names = p.DefaultResources()
	}
	if len(names) == 0 {
		return nil, errors.New("no resources to write: name them with --resource or resources: in reconctl.yaml")
	}
	var tables []string
	for _, n := range names {
		r := s.Config.Resource(n)
		if r == nil {
			r = &config.Resource{Name: n}
		}
		tables = append(tables, r.LocalTable().Name)
	}
	return tables, nil
}

// serverOptions say how to reach a server state beyond its DSN:
// password_env: and schema: (Settings.Server).
func (s *Settings) serverOptions() localstate.ServerOptions { return s.Server }

// journalServerOptions say how to reach a journal at path: the state's own
// options when it is the state's database; password_env: (not schema:) for
// another database on the same server; the defaults elsewhere.
func (s *Settings) journalServerOptions(path string) localstate.ServerOptions {
	switch {
	case path == s.State:
		return s.Server
	case !localstate.IsFile(path) && !localstate.IsFile(s.State) && localstate.SameServer(path, s.State):
		return localstate.ServerOptions{PasswordEnv: s.Server.PasswordEnv}
	}
	return localstate.ServerOptions{}
}

// checkLock says whether the run still holds its writer lock (a server
// lock's session may have ended); a file lock cannot be lost.
func (r *run) checkLock(ctx context.Context) error {
	if c, ok := r.lock.(interface{ Check(context.Context) error }); ok {
		return c.Check(ctx)
	}
	return nil
}

func (r *run) releaseLock() {
	if r.lock != nil {
		if err := r.lock.Release(); err != nil {
			r.s.Logger.Warn("releasing the state lock", "err", err)
		}
		r.lock = nil
	}
}

// finish records how the run ended. runErr is the error the operator sees
// (nil on success); rep/reportJSON what was printed.
func (r *run) finish(ctx context.Context, exitCode int, runErr error, rep *reconcile.Report, reportJSON []byte, counts any) {
	r.finishWith(ctx, exitCode, runErr, journal.Finish{Report: rep, ReportJSON: reportJSON, Counts: counts})
}

// finishWith is finish with the journal's Finish given (its report, its
// writer or its counts); FinishedAt, Status and ExitCode are set here.
func (r *run) finishWith(ctx context.Context, exitCode int, runErr error, f journal.Finish) {
	defer r.releaseLock()
	defer r.j.Close()
	rep := f.Report
	f.FinishedAt, f.ExitCode = now(), exitCode
	switch {
	case runErr != nil && (errors.Is(runErr, context.Canceled) || ctx.Err() != nil):
		f.Status, f.ExitCode, f.Err = journal.StatusInterrupted, reconcile.ExitError, "interrupted (Ctrl-C): "+runErr.Error()
	case runErr != nil:
		f.Status, f.ExitCode, f.Err = journal.StatusFailed, reconcile.ExitError, runErr.Error()
	case exitCode == reconcile.ExitBrake:
		f.Status = journal.StatusRefused
	case exitCode == reconcile.ExitDrift:
		f.Status = journal.StatusDrift
	case exitCode == reconcile.ExitOK:
		f.Status = journal.StatusOK
	default:
		f.Status = journal.StatusFailed
	}
	if err := r.j.FinishRun(context.WithoutCancel(ctx), r.id, f); err != nil {
		r.s.Logger.Error("could not record the run in the journal", "run", r.id, "err", err)
	} else if r.tenants != nil && rep != nil {
		r.recordTenants(ctx, rep, f.FinishedAt) // tenants.go
	} else if len(r.tenantRows) > 0 {
		if err := r.j.RecordTenantRows(context.WithoutCancel(ctx), r.id, r.command, r.started, f.FinishedAt, r.tenantRows); err != nil {
			r.s.Logger.Error("could not record the run's tenants in the journal", "run", r.id, "err", err)
		}
	}
	if r.lock != nil && ctx.Err() == nil && r.s.Config != nil { // a writing run, holding the writer lock
		r.pruneAfterWrite(ctx)
	}
}

// runReport runs one diff-style command: it records the run in the journal,
// stamps and prints the report, and turns its exit code into an error.
func (s *Settings) runReport(c *cli.Context, command string, write bool, fn func(*reconcile.Report, *run) error) error {
	ctx := c.Context
	var wait time.Duration
	if c.IsSet("wait") {
		wait = c.Duration("wait")
	}
	r, err := s.beginRun(ctx, command, write, wait)
	if err != nil {
		return err
	}
	rep := &reconcile.Report{Command: command, RunID: r.id, StartedAt: r.started, State: s.displayState(), DryRun: !write}
	rep.Provider, _ = providers.SplitSpec(s.Provider)
	if err := fn(rep, r); err != nil {
		r.finish(ctx, reconcile.ExitError, err, nil, nil, nil)
		return err
	}
	rep.FinishedAt = now()
	if rep.Drift == nil {
		rep.Drift = []reconcile.Drift{} // "drift": [] for scripts, never null
	}
	if rep.Summary == nil {
		rep.Summary = map[string]*reconcile.ResourceSummary{}
	}
	var js bytes.Buffer
	if err := report.WriteJSON(&js, rep); err != nil {
		r.finish(ctx, reconcile.ExitError, err, nil, nil, nil)
		return err
	}
	r.finish(ctx, rep.ExitCode, nil, rep, js.Bytes(), nil)
	if err := s.printReport(rep); err != nil {
		return fmt.Errorf("printing the report: %w", err)
	}
	s.writeMetrics(c, func(w io.Writer) error { return report.RunMetrics(w, rep) }) // tenants.go
	return exitWith(rep.ExitCode)
}

// recordFreshness tells replay that the state now reflects the provider as of
// this run's start: for a whole-resource apply (diff --apply, resync) a
// watermark per resource, so an event older than this run is stale.
func (r *run) recordFreshness(ctx context.Context, provider string, resources []string) {
	for _, res := range resources {
		if err := r.j.RecordVersion(ctx, nil, provider, res, "*", r.started, "", r.command+" "+r.id); err != nil {
			r.s.Logger.Warn("could not record the state's freshness in the journal", "resource", res, "err", err)
		}
	}
}

// recordRecordFreshness does the same for single records (check-user --fix,
// or the written records of a resource with unresolved drift).
func (r *run) recordRecordFreshness(ctx context.Context, provider string, drift []reconcile.Drift) {
	var rows []journal.VersionRow
	for _, d := range drift {
		if d.Applied {
			rows = append(rows, journal.VersionRow{Provider: provider, Resource: d.Resource, ObjectID: d.ID, At: r.started, Source: r.command + " " + r.id})
		}
	}
	if len(rows) == 0 {
		return
	}
	err := localstate.InTx(ctx, r.j.Begin, func(tx localstate.Tx) error { return r.j.RecordVersions(ctx, tx, rows) })
	if err != nil {
		r.s.Logger.Warn("could not record the records' freshness in the journal", "err", err)
	}
}
