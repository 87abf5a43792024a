// replay over tenants (issue #17): with tenants: in reconctl.yaml, replay
// reads each tenant's events (a Stripe Connect account's own, through its
// Stripe-Account header; a listed tenant's with its own credentials) and
// applies them into that tenant's scoped rows only, concurrently under the
// one request budget. Each tenant keeps its own checkpoint and idempotency
// rows in the journal (under journal.TenantKey), so --since last resumes
// per tenant; a failing tenant is reported and the others go on.

package commands

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/reconctl/reconctl/config"
	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/reconcile"
	"github.com/reconctl/reconctl/replay"
)

// errTenantDelivery refuses replay --deliver-to with tenants: one endpoint
// and one signing secret for every tenant's events is a guess reconctl does
// not make.
var errTenantDelivery = errors.New("replay --deliver-to does not run over tenants: every tenant's events would go to one endpoint signed with one secret, " +
	"right for a Stripe Connect endpoint but not for tenants with their own credentials and endpoints; " +
	"replay into the state instead (drop --deliver-to; --tenant ID for one tenant), " +
	"or deliver with a reconctl.yaml without tenants: whose provider settings are that tenant's")

// replayTenants is replay over the configured tenants: each tenant's
// replay.Run with its own provider, scoped tables and journal key; rep
// gets their events (each with its tenant), the totals, the tenants section
// and the worst exit code; r the tenants' journal rows.
func (s *Settings) replayTenants(ctx context.Context, r *run, o replay.Options, rep *replay.Report) error {
	if o.Target != "" {
		return errTenantDelivery
	}
	store, err := s.openStore(ctx, true)
	if err != nil {
		return err
	}
	closeStore := sync.OnceFunc(func() { store.Close() })
	defer closeStore()
	if store.Features().Begin == nil {
		return localstate.ErrScopeNeedsSQL
	}
	// The platform's provider lists the tenants (Stripe Connect) and names
	// the resources, as for diff (runTenants).
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
	if providers.FeaturesOf(p).Events == nil {
		return fmt.Errorf("%s: %w", p.Name(), providers.ErrNoEvents)
	}
	tables, err := s.tables(p)
	if err != nil {
		return err
	}
	var resources []string
	for _, t := range tables {
		resources = append(resources, t.Resource)
	}
	ids, err := s.tenantIDs(ctx, store, p, tables)
	if err != nil {
		return err
	}
	closeStore()
	ids = r.orderTenants(ctx, ids)
	if s.Tenant.Due {
		ids = r.dueTenants(ctx, ids, time.Now(), false)
	}
	s.Logger.Info("tenants", "count", len(ids), "concurrency", s.Tenant.Concurrency)

	budget := s.budget()
	_, accounts := p.(accountLister)
	defer s.shareTenantHTTP()() // one connection pool for every tenant (tenants.go)
	column := s.Config.Tenants.Column
	turns := &tenantAgg{} // applyTurn: one tenant's apply at a time on SQLite and MySQL
	parts := make([]*replay.Report, len(ids))
	results := make([]replay.TenantResult, len(ids))
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
			trep := replay.NewReport(r.id, r.started, rep.State, o)
			err := s.replayTenant(ctx, r, o, trep, id, resources, column, budget, accounts, turns)
			res := replay.TenantResult{Tenant: id, Summary: trep.Summary, ExitCode: trep.ExitCode, Cursor: trep.Cursor}
			if err != nil {
				msg := err.Error()
				res.Error, res.ExitCode = &msg, reconcile.ExitError
				s.Logger.Warn("tenant failed", "tenant", id, "err", msg)
			}
			parts[i], results[i] = trep, res
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	replay.MergeTenants(rep, parts, results)
	r.tenantRows = make([]journal.TenantRow, len(rep.Tenants))
	for i, t := range rep.Tenants {
		r.tenantRows[i] = journal.TenantRow{Tenant: t.Tenant, ExitCode: t.ExitCode, Error: t.Error, Summary: t.Summary}
	}
	return nil
}

// replayTenant is one tenant's replay: its provider, its scoped tables, its
// checkpoint and idempotency rows.
func (s *Settings) replayTenant(ctx context.Context, r *run, o replay.Options, rep *replay.Report, id string, resources []string, column string, budget providers.Waiter, accounts bool, turns *tenantAgg) error {
	p, err := s.openTenantProvider(id, budget, accounts)
	if err != nil {
		return err
	}
	env := &replay.Env{Provider: p, Journal: r.j, RunID: r.id, Resources: resources,
		JournalKey: journal.TenantKey(p.Name(), id),
		Table:      func(resource string) *localstate.Table { return s.table(resource).Scoped(column, id) },
		Prepare:    s.prepare,
		OpenStore: func(ctx context.Context, readOnly bool) (localstate.Store, error) {
			st, err := s.openReplayStore(ctx, readOnly)
			if err != nil || readOnly {
				return st, err
			}
			// Tenants fetch concurrently; their applies into one SQLite
			// file (or MySQL's shared key gaps) take turns, from the
			// store's opening to its closing.
			return &turnStore{Store: st, done: sync.OnceFunc(turns.applyTurn(st))}, nil
		},
		JournalInState: r.journalsInState(), CheckLock: r.checkLock, Logger: s.Logger.With("tenant", id)}
	return replay.Run(ctx, env, o, rep)
}

// turnStore is a store holding its tenant's apply turn until it is closed.
type turnStore struct {
	localstate.Store
	done func()
}

func (t *turnStore) Close() error {
	defer t.done()
	return t.Store.Close()
}
