package reconcile

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// eventMem is memProvider with an events API whose customer.deleted events
// confirm deletions (Features.Deletions); it counts Gets and event reads.
type eventMem struct {
	*memProvider
	events  []providers.Event // oldest first
	evErr   error
	mu      sync.Mutex
	gets    []string
	queries []providers.EventQuery
}

func (p *eventMem) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	p.mu.Lock()
	p.gets = append(p.gets, id)
	p.mu.Unlock()
	return p.memProvider.Get(ctx, resource, id)
}

func (p *eventMem) Events(ctx context.Context, q providers.EventQuery, fn func(providers.Event) error) error {
	p.mu.Lock()
	p.queries = append(p.queries, q)
	p.mu.Unlock()
	if p.evErr != nil {
		return p.evErr
	}
	for _, ev := range p.events {
		if ev.Created.Before(q.Since) || len(q.Types) > 0 && !slices.Contains(q.Types, ev.Type) {
			continue
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

func (p *eventMem) EventRetention() time.Duration { return 30 * 24 * time.Hour }

func (p *eventMem) DeletionEvents(resource string) (gone, created []string) {
	if resource == "customers" {
		return []string{"customer.deleted"}, []string{"customer.created"}
	}
	return nil, nil
}

func (p *eventMem) Features() providers.Features { return providers.Features{}.Fill(p) }

func (p *eventMem) gotten() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.gets)
	slices.Sort(out)
	return out
}

func custEvent(typ, id string, at time.Time) providers.Event {
	res := "customers"
	if typ == "customer.subscription.deleted" {
		res = "subscriptions"
	}
	return providers.Event{ID: "evt_" + typ + id + at.String(), Type: typ, Created: at, Resource: res, ObjectID: id,
		Deleted: typ == "customer.deleted" || typ == "customer.subscription.deleted"}
}

// TestDeletionsConfirmedFromEvents: the deletion events settle the ids they
// show gone without a Get; a re-creation at or after a deletion, a deletion
// in the future, a subscription's cancel (customer.subscription.deleted) and
// ids with no event are confirmed by Get; the verdicts and the report are
// those of one Get per id.
func TestDeletionsConfirmedFromEvents(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	base, s0 := fixture()
	p, s := fixture()
	// Two more deleted customers, settled by events only: their Get
	// would also say deleted.
	for _, id := range []string{"cus_gone2", "cus_gone3"} {
		s.rows[id] = map[string]any{"email": id + "@x", "plan": "free"}
		p.gets[id] = providers.StatusDeleted
	}
	s0.rows["cus_gone2"], s0.rows["cus_gone3"] = s.rows["cus_gone2"], s.rows["cus_gone3"]
	_, want := compare(t, base, s0, customersTable(), ModeDiff)

	ep := &eventMem{memProvider: p, events: []providers.Event{
		custEvent("customer.deleted", "cus_gone", now.Add(-3*time.Hour)),
		custEvent("customer.deleted", "cus_gone2", now.Add(-2*time.Hour)),
		// deleted, then the id came back: Get decides (exists)
		custEvent("customer.deleted", "cus_scope", now.Add(-2*time.Hour)),
		custEvent("customer.created", "cus_scope", now.Add(-time.Hour)),
		// created and deleted within one second: unsettled
		custEvent("customer.created", "cus_err", now.Add(-time.Hour)),
		custEvent("customer.deleted", "cus_err", now.Add(-time.Hour)),
		// a canceled subscription is not a deleted customer
		custEvent("customer.subscription.deleted", "cus_403", now.Add(-time.Hour)),
		custEvent("customer.deleted", "cus_gone3", now.Add(-time.Minute)),
		// an event of a customer the listing has
		custEvent("customer.deleted", "cus_1", now.Add(-time.Minute)),
	}}
	e := &Engine{Provider: ep, Store: s, Now: func() time.Time { return now }, eventConfirmMin: 3}
	r, err := e.Prepare(context.Background(), customersTable())
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Compare(context.Background(), []*Resource{r}, ModeDiff)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Drift, want.Drift) {
		t.Errorf("drift with events:\n%+v\nwant (one Get per id):\n%+v", got.Drift, want.Drift)
	}
	if !reflect.DeepEqual(got.Summaries(), want.Summaries()) {
		t.Errorf("summaries %+v, want %+v", got.Summaries(), want.Summaries())
	}
	if g := ep.gotten(); !reflect.DeepEqual(g, []string{"cus_403", "cus_err", "cus_scope"}) {
		t.Errorf("Gets for %v, want only the ids the events do not settle", g)
	}
	if len(ep.queries) != 1 {
		t.Fatalf("%d event reads, want 1", len(ep.queries))
	}
	q := ep.queries[0]
	if !slices.Contains(q.Types, "customer.deleted") || slices.Contains(q.Types, "customer.subscription.deleted") ||
		q.Since.Before(now.Add(-30*24*time.Hour)) || q.Since.After(now.Add(-29*24*time.Hour)) {
		t.Errorf("event query %+v: want customer.deleted/created over the retention window", q)
	}
}

// TestDeletionEventsInTheFuture: a deletion dated after the engine's clock
// is not trusted; Get decides.
func TestDeletionEventsInTheFuture(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	p, s := fixture()
	ep := &eventMem{memProvider: p, events: []providers.Event{custEvent("customer.deleted", "cus_gone", now.Add(time.Hour))}}
	e := &Engine{Provider: ep, Store: s, Now: func() time.Time { return now }, eventConfirmMin: 3}
	r, _ := e.Prepare(context.Background(), customersTable())
	if _, err := e.Compare(context.Background(), []*Resource{r}, ModeDiff); err != nil {
		t.Fatal(err)
	}
	if g := ep.gotten(); len(g) != 4 {
		t.Errorf("Gets for %v, want all 4 missing ids", g)
	}
}

// TestDeletionEventsFallBack: a failed read of the events, or a window with
// more events than the Gets would cost, leaves every id to Get (same
// verdicts); a rejected key fails the run.
func TestDeletionEventsFallBack(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	base, s0 := fixture()
	_, want := compare(t, base, s0, customersTable(), ModeDiff)
	busy := []providers.Event{custEvent("customer.deleted", "cus_gone", now.Add(-2*time.Hour))}
	for i := range 4*eventPageSize + 1 { // 4 missing ids: 4 pages is the budget
		busy = append(busy, custEvent("customer.created", fmt.Sprintf("cus_other%d", i), now.Add(-time.Hour)))
	}
	for name, ep := range map[string]*eventMem{
		"error": {evErr: errors.New("events API down")},
		"busy":  {events: busy},
	} {
		t.Run(name, func(t *testing.T) {
			p, s := fixture()
			ep.memProvider = p
			e := &Engine{Provider: ep, Store: s, Now: func() time.Time { return now }, eventConfirmMin: 3}
			r, _ := e.Prepare(context.Background(), customersTable())
			got, err := e.Compare(context.Background(), []*Resource{r}, ModeDiff)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Drift, want.Drift) {
				t.Errorf("drift %+v, want %+v", got.Drift, want.Drift)
			}
			if g := ep.gotten(); len(g) != 4 {
				t.Errorf("Gets for %v, want all 4 missing ids", g)
			}
		})
	}
	p, s := fixture()
	ep := &eventMem{memProvider: p, evErr: &providers.AuthError{Provider: "mem", KeyEnv: "MEM_KEY"}}
	e := &Engine{Provider: ep, Store: s, Now: func() time.Time { return now }, eventConfirmMin: 3}
	r, _ := e.Prepare(context.Background(), customersTable())
	var auth *providers.AuthError
	if _, err := e.Compare(context.Background(), []*Resource{r}, ModeDiff); !errors.As(err, &auth) {
		t.Errorf("rejected key on the events: %v, want the AuthError", err)
	}
}

// TestFewMissingAreConfirmedByGet: below a page of events' worth of missing
// ids, each is confirmed by Get (whose 403 says inaccessible, which a
// deletion event cannot), and the events are not read.
func TestFewMissingAreConfirmedByGet(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	p, s := fixture()
	ep := &eventMem{memProvider: p, events: []providers.Event{custEvent("customer.deleted", "cus_403", now.Add(-time.Hour))}}
	e := &Engine{Provider: ep, Store: s, Now: func() time.Time { return now }}
	r, _ := e.Prepare(context.Background(), customersTable())
	res, err := e.Compare(context.Background(), []*Resource{r}, ModeDiff)
	if err != nil {
		t.Fatal(err)
	}
	if g := ep.gotten(); len(g) != 4 || len(ep.queries) != 0 {
		t.Errorf("Gets for %v, %d event reads; want 4 Gets and no event read", g, len(ep.queries))
	}
	for _, d := range res.Drift {
		if d.ID == "cus_403" && d.RemoteStatus != RemoteInaccessible {
			t.Errorf("cus_403: %s, want inaccessible", d.RemoteStatus)
		}
	}
}
