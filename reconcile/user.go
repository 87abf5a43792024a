package reconcile

// check-user: one user and its related records, by id or email.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// Verdicts of check-user (contract).
const (
	VerdictInSync       = "in_sync"
	VerdictDrifted      = "drifted"
	VerdictMissingLocal = "missing_local"
	VerdictDeleted      = "deleted_remotely"
	VerdictInaccessible = "inaccessible"
	VerdictNotFound     = "not_found"
)

// UserReport is check-user's report (contract: check-user JSON).
type UserReport struct {
	Command    string                      `json:"command"`
	RunID      string                      `json:"run_id"`
	Provider   string                      `json:"provider"`
	State      string                      `json:"state"`
	StartedAt  string                      `json:"started_at"`
	FinishedAt string                      `json:"finished_at"`
	Resource   string                      `json:"resource"`
	ID         string                      `json:"id"`
	Query      string                      `json:"query"`
	Verdict    string                      `json:"verdict"`
	Fields     []UserField                 `json:"fields"`
	Related    []string                    `json:"related_resources,omitempty"`
	Summary    map[string]*ResourceSummary `json:"summary,omitempty"`
	Drift      []Drift                     `json:"drift"`
	Matches    []UserMatch                 `json:"matches,omitempty"`
	Brake      *BrakeRefusal               `json:"brake,omitempty"`
	Fix        bool                        `json:"fix"`
	Applied    bool                        `json:"applied"`
	Message    string                      `json:"message,omitempty"`
	ExitCode   int                         `json:"exit_code"`
	// Fixable: the comparison planned writes, so --fix would change
	// something (the verdict suggests --fix only then).
	Fixable bool `json:"-"`
}

// UserField is one mapped field of the user's record, matched or not.
type UserField struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Local  any    `json:"local"`
	Remote any    `json:"remote"`
	Match  bool   `json:"match"`
}

// UserMatch is one candidate when an email matches several records.
type UserMatch struct {
	ID      string `json:"id"`
	Email   string `json:"email"`
	Created string `json:"created,omitempty"`
	Where   string `json:"where"` // local, remote, both
}

// UserOptions say how CheckUser looks the user up and what it may write.
type UserOptions struct {
	Search     bool // for an email, also ask the provider's search API
	Fix        bool // write the corrections
	Brake      Limiter
	AllowEmpty bool // lift the mass-delete guard
	// AllowAbsentPaths confirms mapped paths the provider's record lacks
	// (--allow-absent-path, allow_absent_paths): a fix may then write NULL
	// from them.
	AllowAbsentPaths []string
	// Table is a resource's local mapping; Prepare compiles it against the
	// store (the command reports a schema error at its config line).
	Table   func(resource string) *localstate.Table
	Prepare func(ctx context.Context, e *Engine, t *localstate.Table) (*Resource, error)
	// Mirrored says whether the local side mirrors a related resource
	// (only those are compared).
	Mirrored func(resource string) bool
	// IgnoreRules is the ignore baseline in force (nil: none).
	IgnoreRules func() ([]IgnoreRule, error)
	// Applied is called once a fix is written (the journal's freshness).
	Applied func(ctx context.Context, res *Result)
}

// UserResource is the resource check-user looks users up in: the
// configured one, else the provider's customers or users, else its first.
func UserResource(configured string, p providers.Provider) string {
	if configured != "" {
		return configured
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

// CheckUser answers check-user for u.Query (an id, or an email: it holds
// an @) in u.Resource: it finds the user on both sides, compares every mapped
// field, scopes the engine to the user and its related records, computes the
// verdict and, with o.Fix, plans, brakes and applies the corrections. It
// fills u and returns the comparison (nil when there was nothing to
// compare). e is not changed: the scoped comparison runs on a copy.
func (e *Engine) CheckUser(ctx context.Context, u *UserReport, o UserOptions) (*Result, error) {
	p, store := e.Provider, e.Store
	fix, search := o.Fix, o.Search
	u.Provider = p.Name()
	eng := &Engine{}
	*eng = *e
	userTable := o.Table(u.Resource)
	userRes, err := o.Prepare(ctx, eng, userTable)
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
			u.Verdict, u.ExitCode = VerdictNotFound, ExitError
			u.Message = fmt.Sprintf("no %s with email %s, locally or at %s", u.Resource, u.Query, p.Name())
			if search {
				u.Message += "; its search API found none either (its results can lag up to a minute behind changes)"
			} else if n := providers.FeaturesOf(p).EmailNote; n != nil {
				u.Message += "; " + n.EmailLookupNote()
			}
			return nil, nil
		case 1:
		default:
			u.Matches = matches
			u.ExitCode = ExitError
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
		uf := UserField{Name: f.Column, Path: f.Path}
		var lv, rv any
		if localOK {
			lv = local.Values[i]
			uf.Local = DisplayValue(lv)
		}
		if found != nil {
			rv, _ = Lookup(found.Data, strings.Split(f.Path, "."))
			uf.Remote = rv
		}
		uf.Match = localOK && found != nil && Equal(lv, rv, f.Compare)
		u.Fields = append(u.Fields, uf)
	}

	switch {
	case !localOK && status == providers.StatusDeleted:
		// The provider answers "deleted" (Stripe's deleted: true) or "not
		// found" (a 404) and the app has no live row: nothing to fix, but
		// say what is known rather than "neither knows".
		u.Verdict, u.ExitCode = VerdictNotFound, ExitError
		u.Message = fmt.Sprintf("%s %s is not found at the provider %s (deleted or never existed) and absent from the local state: nothing to fix", u.Resource, id, p.Name())
		if confirmedDeleted {
			u.Message = fmt.Sprintf("%s %s is deleted at the provider %s and absent from the local state: nothing to fix", u.Resource, id, p.Name())
		}
		return nil, nil
	case !localOK && found == nil && status != providers.StatusInaccessible:
		u.Verdict, u.ExitCode = VerdictNotFound, ExitError
		u.Message = fmt.Sprintf("neither the local state nor %s knows %s %s", p.Name(), u.Resource, id)
		return nil, nil
	}

	// 3. The user and its related records through the same engine as diff,
	// scoped to this user: the provider side is what we already read plus
	// one listing per related resource.
	scopedP := &userProvider{Provider: p, resource: u.Resource, id: id, rec: found, status: status}
	scopedS := &userStore{Store: store, userTable: userTable.Name, id: id, related: map[string]string{}}
	resources := []*Resource{userRes}
	if rl := providers.FeaturesOf(p).Related; rl != nil && status == providers.StatusPresent {
		for _, rel := range rl.RelatedResources(u.Resource) {
			if o.Mirrored == nil || !o.Mirrored(rel) {
				continue // compared only when the local side mirrors it
			}
			t := o.Table(rel)
			rr, err := o.Prepare(ctx, eng, t)
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
	res, err := eng.Compare(ctx, resources, ModeDiff)
	if err != nil {
		return nil, err
	}
	if o.IgnoreRules != nil {
		rules, err := o.IgnoreRules()
		if err != nil {
			return nil, err
		}
		res.Ignore(rules)
	}
	u.Drift = res.Drift
	u.Summary = res.Summaries()

	userVerdict(u, res, status)
	u.Fixable = res.PlannedWrites() > 0
	if !fix || len(res.Drift) == 0 {
		return res, nil
	}
	return eng.fixUser(ctx, u, res, o, store, status)
}

// userVerdict sets u's verdict and exit code: the user's own drift
// decides; related drift alone makes it drifted.
func userVerdict(u *UserReport, res *Result, status providers.RemoteStatus) {
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
		case d.Kind == KindMissingLocal:
			u.Verdict = VerdictMissingLocal
		case d.Kind == KindChanged:
			u.Verdict = VerdictDrifted
		case d.RemoteStatus == RemoteDeleted:
			u.Verdict = VerdictDeleted
		case d.RemoteStatus == RemoteInaccessible:
			u.Verdict = VerdictInaccessible
		}
		break
	}
	u.ExitCode = ExitOK
	if u.Verdict != VerdictInSync {
		u.ExitCode = ExitDrift
	}
}

// fixUser plans, brakes and applies the corrections of a check-user
// --fix on the user-scoped engine.
// store is the whole (unscoped) store: the brake's share is of its records.
// status is the user's status at the lookup (the verdict is re-derived
// from the re-planned drift).
func (eng *Engine) fixUser(ctx context.Context, u *UserReport, res *Result, o UserOptions, store localstate.Store, status providers.RemoteStatus) (*Result, error) {
	// The brake's share is of each resource's local records, not of the one
	// user compared (a 2% limit of one record never allows a fix).
	for _, rr := range res.Resources {
		rr.Scoped = true
		if count := store.Features().Count; count != nil {
			n, err := count(ctx, rr.Resource.Table)
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
	// Just before writing: an old listed copy is read again (issue #15),
	// from the provider itself, not from what the lookup read.
	if up, ok := eng.Provider.(*userProvider); ok {
		up.reread = true
	}
	if err := eng.Reconfirm(ctx, res); err != nil {
		return nil, err
	}
	if o.IgnoreRules != nil {
		rules, err := o.IgnoreRules()
		if err != nil {
			return nil, err
		}
		res.Ignore(rules)
	}
	u.Drift, u.Summary = res.Drift, res.Summaries()
	// The re-reads may have re-planned the user (changed at the provider
	// since the lookup, or deleted there): the verdict is the fresh one's.
	userVerdict(u, res, status)
	if err := res.Guard(o.AllowAbsentPaths); err != nil {
		return nil, err
	}
	if !o.AllowEmpty {
		if b := res.MassDelete(); b != nil {
			u.Brake, u.ExitCode = b, ExitBrake
			return res, nil
		}
	}
	if b := res.Brake(o.Brake); b != nil {
		u.Brake, u.ExitCode = b, ExitBrake
		return res, nil
	}
	if err := eng.Apply(ctx, res); err != nil {
		return nil, fmt.Errorf("applying the fix: %w", err)
	}
	if o.Applied != nil {
		o.Applied(ctx, res)
	}
	u.Drift = res.Drift
	u.Summary = res.Summaries()
	u.Applied = res.PlannedWrites() > res.Conflicts() // a conflict was not written
	if res.Unresolved() == 0 {
		u.ExitCode = ExitOK
	}
	return res, nil
}

// findByEmail looks an email up locally and at the provider (and, with
// search, through the provider's search API) and returns the distinct
// matches, the provider records it read, and which ids only the search found.
func findByEmail(ctx context.Context, p providers.Provider, store localstate.Store, r *Resource, resource, email string, search bool) ([]UserMatch, map[string]providers.Record, map[string]bool, error) {
	emailCol, emailPath := "", ""
	for _, f := range r.Fields() {
		if f.Path == "email" || (emailCol == "" && strings.HasSuffix(f.Path, "email")) {
			emailCol, emailPath = f.Column, f.Path
		}
	}
	if emailCol == "" {
		return nil, nil, nil, fmt.Errorf("resource %s maps no local column from the provider's email field, so check-user cannot look up %s: map one (email: email) or pass an id", resource, email)
	}
	byID := map[string]*UserMatch{}
	var order []string
	add := func(id, em, created, where string) {
		m, ok := byID[id]
		if !ok {
			m = &UserMatch{ID: id, Email: em, Created: created, Where: where}
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
	if f := providers.FeaturesOf(p).EmailLookup; f != nil {
		for _, sp := range spellings {
			recs, err := f.FindByEmail(ctx, resource, sp)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("looking up %s at %s: %w", sp, p.Name(), err)
			}
			for _, rec := range recs {
				em, _ := Lookup(rec.Data, strings.Split(emailPath, "."))
				created := ""
				if c, ok := rec.Data["created"]; ok {
					if t, ok := Instant(c); ok {
						created = t.Format(time.RFC3339)
					}
				} else if c, ok := rec.Data["created_at"]; ok {
					if t, ok := Instant(c); ok {
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
		sr := providers.FeaturesOf(p).EmailSearch
		ok := sr != nil
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
			em, _ := Lookup(rec.Data, strings.Split(emailPath, "."))
			created := ""
			if t, ok := Instant(rec.Data["created"]); ok {
				created = t.Format(time.RFC3339)
			}
			bySearch[rec.ID] = true
			add(rec.ID, fmt.Sprint(em), created, "remote")
			remote[rec.ID] = rec
		}
	}
	sort.Strings(order)
	out := make([]UserMatch, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	return out, remote, bySearch, nil
}

// userProvider scopes a provider to one user: listing the user resource
// yields only the record already read, related resources list only that
// user's records, and a Get of the user reuses what was read — until
// reread is set (Reconfirm, just before a fix is written): then every Get
// is the provider's own, a fresh read paced like any other.
// Features masks every capability beyond List and Get: the scoped provider
// serves the one user (and its related records through List), nothing else.
func (p *userProvider) Features() providers.Features {
	return providers.FeaturesOf(p.Provider).Mask(providers.Features{})
}

type userProvider struct {
	providers.Provider
	resource, id string
	rec          *providers.Record
	status       providers.RemoteStatus
	related      []string
	reread       bool
}

func (p *userProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	if resource == p.resource {
		if p.rec != nil {
			return fn(*p.rec)
		}
		return nil
	}
	return providers.FeaturesOf(p.Provider).Related.ListRelated(ctx, resource, p.resource, p.id, fn)
}

func (p *userProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	if resource == p.resource && id == p.id && !p.reread {
		if p.rec != nil {
			return *p.rec, p.status, nil
		}
		return providers.Record{}, p.status, nil
	}
	return p.Provider.Get(ctx, resource, id)
}

// userStore scopes a store to one user's rows: the user's own row and, in
// related tables, the rows whose parent column holds the user's id.
// Features keeps the store's key index and transactions, states the user's
// own key health (KeyHealth above), and drops Count: the scoped scan sees
// one user's rows, not the table's.
func (s *userStore) Features() localstate.Features {
	f := s.Store.Features()
	f.Count = nil
	if f.KeyHealth != nil {
		f.KeyHealth = s.KeyHealth
	}
	return f
}

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
		if Equal(row.Values[pi], s.id, "") {
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
	keyHealth := s.Store.Features().KeyHealth
	if keyHealth == nil {
		return localstate.KeyHealth{}, nil
	}
	kh, err := keyHealth(ctx, t)
	kh.NullKeys = 0
	return kh, err
}
