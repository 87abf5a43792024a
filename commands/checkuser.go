package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/report"
)

// Verdicts (contract).
const (
	VerdictInSync       = "in_sync"
	VerdictDrifted      = "drifted"
	VerdictMissingLocal = "missing_local"
	VerdictDeleted      = "deleted_remotely"
	VerdictInaccessible = "inaccessible"
	VerdictNotFound     = "not_found"
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
		Flags: withGlobal(
			&cli.BoolFlag{Name: "fix", Usage: "write the corrections (default: report only)", EnvVars: envs("FIX")},
			&cli.BoolFlag{Name: "search", Usage: "for an email, also ask the provider's search API (Stripe: email~\"…\", any case; results can lag up to a minute)"},
			maxChangesFlag(),
			allowEmptyRemoteFlag(),
			allowAbsentPathFlag(),
			waitFlag(),
		),
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
			fix := c.Bool("fix")
			allowEmpty := c.Bool("allow-empty-remote")
			// --allow-absent-path adds to the config's allow_absent_paths (checkUser's Guard reads them).
			s.Config.AllowAbsentPaths = append(s.Config.AllowAbsentPaths, c.StringSlice("allow-absent-path")...)
			var wait time.Duration
			if c.IsSet("wait") {
				wait = c.Duration("wait")
			}
			r, err := s.beginRun(c.Context, "check-user", fix, wait)
			if err != nil {
				return err
			}
			u := &report.UserReport{Command: "check-user", RunID: r.id, StartedAt: r.started.Format(time.RFC3339), State: s.displayState(), Query: c.Args().First(), Fix: fix, Drift: []reconcile.Drift{}}
			res, err := checkUser(c.Context, s, u, fix, c.Bool("search"), brake, allowEmpty, r)
			if err != nil {
				r.finish(c.Context, reconcile.ExitError, err, nil, nil, nil)
				return err
			}
			u.FinishedAt = now().Format(time.RFC3339)
			var js bytes.Buffer
			_ = report.WriteJSON(&js, u)
			var rep *reconcile.Report
			if res != nil {
				rep = &reconcile.Report{Command: "check-user", RunID: r.id, Provider: u.Provider, State: u.State, Drift: res.Drift, Summary: res.Summaries()}
			}
			r.finish(c.Context, u.ExitCode, nil, rep, js.Bytes(), nil)
			if err := report.RenderUser(s.IO.Out, s.Output, u); err != nil {
				return err
			}
			if u.ExitCode == reconcile.ExitError {
				return errors.New(u.Message)
			}
			return exitWith(u.ExitCode)
		},
	}
}

// userResource is the resource check-user looks users up in.
func (s *Settings) userResource(p providers.Provider) string {
	if s.Config.UserResource != "" {
		return s.Config.UserResource
	}
	defs := p.DefaultResources()
	for _, want := range []string{"customers", "users"} {
		if slices.Contains(defs, want) {
			return want
		}
	}
	if len(defs) > 0 {
		return defs[0]
	}
	return "customers"
}

// checkUser fills u and returns the comparison (nil when there was nothing to compare).
func checkUser(ctx context.Context, s *Settings, u *report.UserReport, fix, search bool, brake reconcile.Limiter, allowEmpty bool, r *run) (*reconcile.Result, error) {
	store, err := s.openStore(ctx, !fix)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	p, err := s.openProvider()
	if err != nil {
		return nil, err
	}
	u.Provider = p.Name()
	u.Resource = s.userResource(p)
	eng := &reconcile.Engine{Provider: p, Store: store, Logger: s.Logger}
	userTable := s.table(u.Resource)
	userRes, err := s.prepare(ctx, eng, userTable)
	if err != nil {
		return nil, err
	}

	// 1. Find the user: by id, or by email on both sides.
	id := u.Query
	var found *providers.Record
	status := providers.RemoteStatus("")
	confirmedDeleted := false // the provider said deleted (not a bare 404)
	if strings.Contains(u.Query, "@") {
		matches, remote, bySearch, err := findByEmail(ctx, p, store, userRes, u.Resource, u.Query, search)
		if err != nil {
			return nil, err
		}
		switch len(matches) {
		case 0:
			u.Verdict, u.ExitCode = VerdictNotFound, reconcile.ExitError
			u.Message = fmt.Sprintf("no %s with email %s, locally or at %s", u.Resource, u.Query, p.Name())
			if search {
				u.Message += "; its search API found none either (its results can lag up to a minute behind changes)"
			} else if n, ok := p.(emailLookupNoter); ok {
				u.Message += "; " + n.EmailLookupNote()
			}
			return nil, nil
		case 1:
		default:
			u.Matches = matches
			u.ExitCode = reconcile.ExitError
			u.Message = fmt.Sprintf("%d records match %s; run check-user with one of their ids", len(matches), u.Query)
			return nil, nil
		}
		id = matches[0].ID
		if rec, ok := remote[id]; ok {
			found, status = &rec, providers.StatusPresent
		}
		if bySearch[id] {
			u.Message = fmt.Sprintf("found only by %s's search API: the exact email filter did not match %s", p.Name(), u.Query)
		}
	}
	u.ID = id
	if found == nil {
		rec, st, err := p.Get(ctx, u.Resource, id)
		if err != nil {
			return nil, fmt.Errorf("reading %s %s at %s: %w", u.Resource, id, p.Name(), err)
		}
		status = st
		if st == providers.StatusPresent {
			found = &rec
		}
		confirmedDeleted = st == providers.StatusDeleted && rec.Data != nil
	}
	local, localOK, err := store.Get(ctx, userTable, userRes.Columns(), id)
	if err != nil {
		return nil, err
	}

	// 2. Every mapped field, matched or not.
	for i, f := range userRes.Fields() {
		uf := report.UserField{Name: f.Column, Path: f.Path}
		var lv, rv any
		if localOK {
			lv = local.Values[i]
			uf.Local = reconcile.DisplayValue(lv)
		}
		if found != nil {
			rv, _ = reconcile.Lookup(found.Data, strings.Split(f.Path, "."))
			uf.Remote = rv
		}
		uf.Match = localOK && found != nil && reconcile.Equal(lv, rv, f.Compare)
		u.Fields = append(u.Fields, uf)
	}

	switch {
	case !localOK && status == providers.StatusDeleted:
		// The provider answers "deleted" (Stripe's deleted: true) or "not
		// found" (a 404) and the app has no live row: nothing to fix, but
		// say what is known rather than "neither knows".
		u.Verdict, u.ExitCode = VerdictNotFound, reconcile.ExitError
		u.Message = fmt.Sprintf("%s %s is not found at the provider %s (deleted or never existed) and absent from the local state: nothing to fix", u.Resource, id, p.Name())
		if confirmedDeleted {
			u.Message = fmt.Sprintf("%s %s is deleted at the provider %s and absent from the local state: nothing to fix", u.Resource, id, p.Name())
		}
		return nil, nil
	case !localOK && found == nil && status != providers.StatusInaccessible:
		u.Verdict, u.ExitCode = VerdictNotFound, reconcile.ExitError
		u.Message = fmt.Sprintf("neither the local state nor %s knows %s %s", p.Name(), u.Resource, id)
		return nil, nil
	}

	// 3. The user and its related records through the same engine as diff,
	// scoped to this user: the provider side is what we already read plus
	// one listing per related resource.
	scopedP := &userProvider{Provider: p, resource: u.Resource, id: id, rec: found, status: status}
	scopedS := &userStore{Store: store, userTable: userTable.Name, id: id, related: map[string]string{}}
	resources := []*reconcile.Resource{userRes}
	if rl, ok := p.(providers.RelatedLister); ok && status == providers.StatusPresent {
		for _, rel := range rl.RelatedResources(u.Resource) {
			if s.Config.Resource(rel) == nil {
				continue // compared only when the local side mirrors it
			}
			t := s.table(rel)
			rr, err := s.prepare(ctx, eng, t)
			if err != nil {
				return nil, err
			}
			parentCol := ""
			for _, f := range rr.Fields() {
				if f.Path == rl.ParentPath(rel, u.Resource) {
					parentCol = f.Column
				}
			}
			if parentCol == "" {
				return nil, fmt.Errorf("resource %s: no local column is mapped from %q, so its records cannot be matched to %s %s; map it in reconctl.yaml", rel, rl.ParentPath(rel, u.Resource), u.Resource, id)
			}
			scopedS.related[t.Name] = parentCol
			scopedP.related = append(scopedP.related, rel)
			resources = append(resources, rr)
			u.Related = append(u.Related, rel)
		}
	}
	eng.Provider, eng.Store = scopedP, scopedS
	res, err := eng.Compare(ctx, resources, reconcile.ModeDiff)
	if err != nil {
		return nil, err
	}
	if rules, err := s.ignoreRules(); err != nil {
		return nil, err
	} else {
		res.Ignore(rules)
	}
	u.Drift = res.Drift
	u.Summary = res.Summaries()

	// 4. Verdict: the user's own drift decides; related drift alone makes it drifted.
	u.Verdict = VerdictInSync
	if status == providers.StatusInaccessible {
		u.Verdict = VerdictInaccessible
	}
	for _, d := range res.Drift {
		switch {
		case d.Resource != u.Resource:
			if u.Verdict == VerdictInSync {
				u.Verdict = VerdictDrifted
			}
			continue
		case d.Kind == reconcile.KindMissingLocal:
			u.Verdict = VerdictMissingLocal
		case d.Kind == reconcile.KindChanged:
			u.Verdict = VerdictDrifted
		case d.RemoteStatus == reconcile.RemoteDeleted:
			u.Verdict = VerdictDeleted
		case d.RemoteStatus == reconcile.RemoteInaccessible:
			u.Verdict = VerdictInaccessible
		}
		break
	}
	u.ExitCode = reconcile.ExitOK
	if u.Verdict != VerdictInSync {
		u.ExitCode = reconcile.ExitDrift
	}
	u.Fixable = res.PlannedWrites() > 0
	if !fix || len(res.Drift) == 0 {
		return res, nil
	}
	// The brake's share is of each resource's local records, not of the one
	// user compared (a 2% limit of one record never allows a fix).
	for _, rr := range res.Resources {
		rr.Scoped = true
		if cnt, ok := store.(reconcile.Counter); ok {
			n, err := cnt.Count(ctx, rr.Resource.Table)
			if err != nil {
				return nil, err
			}
			rr.BrakeBase = n
		} else {
			n := 0
			if err := store.Scan(ctx, rr.Resource.Table, nil, func(localstate.Row) error { n++; return nil }); err != nil {
				return nil, err
			}
			rr.BrakeBase = n
		}
	}
	if err := res.Guard(s.Config.AllowAbsentPaths); err != nil {
		return nil, err
	}
	if !allowEmpty {
		if b := res.MassDelete(); b != nil {
			u.Brake, u.ExitCode = b, reconcile.ExitBrake
			return res, nil
		}
	}
	if b := res.Brake(brake); b != nil {
		u.Brake, u.ExitCode = b, reconcile.ExitBrake
		return res, nil
	}
	if err := eng.Apply(ctx, res); err != nil {
		return nil, fmt.Errorf("applying the fix: %w", err)
	}
	r.recordRecordFreshness(ctx, p.Name(), res.Drift)
	u.Drift = res.Drift
	u.Summary = res.Summaries()
	u.Applied = res.PlannedWrites() > 0
	if res.Unresolved() == 0 {
		u.ExitCode = reconcile.ExitOK
	}
	return res, nil
}

// table returns the configured (or default) local mapping of a resource.
func (s *Settings) table(resource string) *localstate.Table {
	if r := s.Config.Resource(resource); r != nil {
		return r.LocalTable()
	}
	return (&configResource{name: resource}).table()
}

// emailSearcher is a provider with a search API that can find an email in
// any case (Stripe's /v1/customers/search); check-user --search uses it.
type emailSearcher interface {
	SearchByEmail(ctx context.Context, resource, email string) ([]providers.Record, error)
}

// emailLookupNoter explains how a provider's email lookup matches, shown
// when nothing matched.
type emailLookupNoter interface {
	EmailLookupNote() string
}

// findByEmail looks an email up locally and at the provider (and, with
// search, through the provider's search API) and returns the distinct
// matches, the provider records it read, and which ids only the search found.
func findByEmail(ctx context.Context, p providers.Provider, store localstate.Store, r *reconcile.Resource, resource, email string, search bool) ([]report.UserMatch, map[string]providers.Record, map[string]bool, error) {
	emailCol, emailPath := "", ""
	for _, f := range r.Fields() {
		if f.Path == "email" || (emailCol == "" && strings.HasSuffix(f.Path, "email")) {
			emailCol, emailPath = f.Column, f.Path
		}
	}
	if emailCol == "" {
		return nil, nil, nil, fmt.Errorf("resource %s maps no local column from the provider's email field, so check-user cannot look up %s: map one (email: email) or pass an id", resource, email)
	}
	byID := map[string]*report.UserMatch{}
	var order []string
	add := func(id, em, created, where string) {
		m, ok := byID[id]
		if !ok {
			m = &report.UserMatch{ID: id, Email: em, Created: created, Where: where}
			byID[id] = m
			order = append(order, id)
			return
		}
		if m.Where != where {
			m.Where = "both"
		}
		if m.Created == "" {
			m.Created = created
		}
	}
	// Local: emails compare case-insensitively (the provider's filter does not).
	spellings := []string{email}
	err := store.Scan(ctx, r.Table, []string{emailCol}, func(row localstate.Row) error {
		if v, ok := row.Values[0].(string); ok && strings.EqualFold(v, email) {
			add(row.Key, v, "", "local")
			if !slices.Contains(spellings, v) {
				spellings = append(spellings, v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	remote := map[string]providers.Record{}
	if f, ok := p.(providers.EmailFinder); ok {
		for _, sp := range spellings {
			recs, err := f.FindByEmail(ctx, resource, sp)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("looking up %s at %s: %w", sp, p.Name(), err)
			}
			for _, rec := range recs {
				em, _ := reconcile.Lookup(rec.Data, strings.Split(emailPath, "."))
				created := ""
				if c, ok := rec.Data["created"]; ok {
					if t, ok := reconcile.Instant(c); ok {
						created = t.Format(time.RFC3339)
					}
				} else if c, ok := rec.Data["created_at"]; ok {
					if t, ok := reconcile.Instant(c); ok {
						created = t.Format(time.RFC3339)
					}
				}
				add(rec.ID, fmt.Sprint(em), created, "remote")
				remote[rec.ID] = rec
			}
		}
	} else if len(order) == 0 {
		return nil, nil, nil, fmt.Errorf("no local %s has email %s, and %s cannot search by email: pass the id", resource, email, p.Name())
	}
	bySearch := map[string]bool{}
	if search {
		sr, ok := p.(emailSearcher)
		if !ok {
			return nil, nil, nil, fmt.Errorf("--search: %s has no search API; look the user up by id", p.Name())
		}
		recs, err := sr.SearchByEmail(ctx, resource, email)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("searching %s at %s: %w", email, p.Name(), err)
		}
		for _, rec := range recs {
			if _, seen := remote[rec.ID]; seen {
				continue
			}
			em, _ := reconcile.Lookup(rec.Data, strings.Split(emailPath, "."))
			created := ""
			if t, ok := reconcile.Instant(rec.Data["created"]); ok {
				created = t.Format(time.RFC3339)
			}
			bySearch[rec.ID] = true
			add(rec.ID, fmt.Sprint(em), created, "remote")
			remote[rec.ID] = rec
		}
	}
	sort.Strings(order)
	out := make([]report.UserMatch, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out, remote, bySearch, nil
}

// userProvider scopes a provider to one user: listing the user resource
// yields only the record already read, related resources list only that
// user's records, and a Get of the user reuses what was read.
type userProvider struct {
	providers.Provider
	resource, id string
	rec          *providers.Record
	status       providers.RemoteStatus
	related      []string
}

func (p *userProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	if resource == p.resource {
		if p.rec != nil {
			return fn(*p.rec)
		}
		return nil
	}
	return p.Provider.(providers.RelatedLister).ListRelated(ctx, resource, p.resource, p.id, fn)
}

func (p *userProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	if resource == p.resource && id == p.id {
		if p.rec != nil {
			return *p.rec, p.status, nil
		}
		return providers.Record{}, p.status, nil
	}
	return p.Provider.Get(ctx, resource, id)
}

// userStore scopes a store to one user's rows: the user's own row and, in
// related tables, the rows whose parent column holds the user's id.
type userStore struct {
	localstate.Store
	userTable string
	id        string
	related   map[string]string // table -> parent column
}

func (s *userStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	if t.Name == s.userTable {
		row, ok, err := s.Store.Get(ctx, t, cols, s.id)
		if err != nil || !ok {
			return err
		}
		return fn(row)
	}
	parent := s.related[t.Name]
	pi := slices.Index(cols, parent)
	ext := cols
	if pi < 0 {
		ext = append(slices.Clone(cols), parent)
		pi = len(cols)
	}
	return s.Store.Scan(ctx, t, ext, func(row localstate.Row) error {
		if reconcile.Equal(row.Values[pi], s.id, "") {
			row.Values = row.Values[:len(cols)]
			return fn(row)
		}
		return nil
	})
}

// KeyHealth passes on the store's duplicate-key count of the whole table
// (a write by the user's key would change every row sharing it); keyless
// rows are no concern of one user's check.
func (s *userStore) KeyHealth(ctx context.Context, t *localstate.Table) (localstate.KeyHealth, error) {
	kc, ok := s.Store.(reconcile.KeyChecker)
	if !ok {
		return localstate.KeyHealth{}, nil
	}
	kh, err := kc.KeyHealth(ctx, t)
	kh.NullKeys = 0
	return kh, err
}
