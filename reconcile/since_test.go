package reconcile

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// feedProvider is memProvider with a changes feed, counting its Gets.
type feedProvider struct {
	*memProvider
	changes []providers.Change
	cov     providers.Coverage
	mu      sync.Mutex
	gets    map[string]int
}

func (p *feedProvider) ChangesSince(_ context.Context, resource string, since time.Time, fn func(providers.Change) error) (providers.Coverage, error) {
	for _, c := range p.changes {
		if c.Resource == resource && !c.At.Before(since) {
			if err := fn(c); err != nil {
				return p.cov, err
			}
		}
	}
	return p.cov, nil
}

func (p *feedProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	p.mu.Lock()
	p.gets[id]++
	p.mu.Unlock()
	return p.memProvider.Get(ctx, resource, id)
}

// TestCompareSince: only the ids the feed named are compared, an event's
// record by a Get (once, also for the deletion check), a listing's as
// listed; a deletion event of a row the app has is missing_remote deleted,
// an inaccessible one inaccessible; the results are scoped, their brake base
// the whole table.
func TestCompareSince(t *testing.T) {
	mem, s := fixture()
	now := time.Now()
	since := now.Add(-24 * time.Hour)
	listed := rec("cus_listed", `{"email":"l@x","metadata":{"plan":"team"}}`)
	ev := func(id string, deleted bool) providers.Change {
		c := providers.Change{Resource: "customers", ID: id, At: now.Add(-time.Hour), EventID: "evt_" + id, Deleted: deleted}
		if !deleted {
			// The event's object is stale: the Get's values are compared.
			c.Record = &providers.Record{ID: id, Data: map[string]any{"id": id, "email": "stale@x"}}
		}
		return c
	}
	p := &feedProvider{memProvider: mem, gets: map[string]int{}, cov: providers.Coverage{Source: providers.SourceEvents, Deletions: true},
		changes: []providers.Change{
			{Resource: "customers", ID: "cus_1", At: now.Add(-48 * time.Hour), EventID: "evt_old"}, // before the window
			ev("cus_3", false), ev("cus_new", false), ev("cus_gone", true), ev("cus_403", false),
			{Resource: "customers", ID: "cus_listed", At: now.Add(-time.Hour), Record: &listed}, // a listing's change
		}}
	e := &Engine{Provider: p, Store: s}
	r, err := e.Prepare(context.Background(), customersTable())
	if err != nil {
		t.Fatal(err)
	}
	res, sr, err := e.CompareSince(context.Background(), []*Resource{r}, ModeDiff, since)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Coverage["customers"] != p.cov || sr.Changed["customers"] != 5 {
		t.Errorf("since result %+v", sr)
	}
	got := map[string]Drift{}
	for _, d := range res.Drift {
		got[d.ID] = d
	}
	want := map[string][3]string{
		"cus_3":      {KindChanged, RemotePresent, ActionUpdate},
		"cus_new":    {KindMissingLocal, RemotePresent, ActionCreate},
		"cus_listed": {KindMissingLocal, RemotePresent, ActionCreate},
		"cus_gone":   {KindMissingRemote, RemoteDeleted, ActionDelete},
		"cus_403":    {KindMissingRemote, RemoteInaccessible, ActionNone},
	}
	if len(got) != len(want) {
		t.Fatalf("drift %+v, want %d items (cus_err, cus_scope, cus_1 are outside the window)", res.Drift, len(want))
	}
	for id, w := range want {
		if d := got[id]; d.Kind != w[0] || d.RemoteStatus != w[1] || d.Action != w[2] {
			t.Errorf("%s: %s/%s/%s, want %v", id, d.Kind, d.RemoteStatus, d.Action, w)
		}
	}
	if f := got["cus_3"].Fields; len(f) != 1 || f[0].Name != "plan" || f[0].Remote != "pro" {
		t.Errorf("cus_3 compared with the event's stale object, not the Get: %+v", f)
	}
	for _, id := range []string{"cus_3", "cus_new", "cus_gone", "cus_403"} {
		if p.gets[id] != 1 {
			t.Errorf("%s read %d times, want once", id, p.gets[id])
		}
	}
	if p.gets["cus_listed"] != 0 || p.gets["cus_1"] != 0 {
		t.Errorf("gets %v: a listed change or one before the window was read", p.gets)
	}
	rr := res.Resources[0]
	if !rr.Scoped || rr.BrakeBase != len(s.rows) || rr.Summary.Local != 3 || rr.Summary.Remote != 3 {
		t.Errorf("scoped %v, brake base %d (want %d), local %d remote %d", rr.Scoped, rr.BrakeBase, len(s.rows), rr.Summary.Local, rr.Summary.Remote)
	}
	// The plan is the engine's own: Apply writes it.
	if err := e.Apply(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	if s.rows["cus_3"]["plan"] != "pro" || s.rows["cus_listed"] == nil || s.rows["cus_new"] == nil || s.rows["cus_gone"] != nil || s.rows["cus_403"] == nil {
		t.Errorf("after apply: %v", s.rows)
	}

	// A changed record that cannot be read fails the run: it cannot be compared.
	mem2, s2 := fixture()
	p2 := &feedProvider{memProvider: mem2, gets: map[string]int{}, changes: []providers.Change{ev("cus_err", false)}}
	e2 := &Engine{Provider: p2, Store: s2}
	r2, _ := e2.Prepare(context.Background(), customersTable())
	if _, _, err := e2.CompareSince(context.Background(), []*Resource{r2}, ModeDiff, since); err == nil || !strings.Contains(err.Error(), "cus_err") {
		t.Errorf("unreadable change: %v", err)
	}
	// No feed: the provider's error, naming it.
	e3 := &Engine{Provider: mem2, Store: s2}
	if _, _, err := e3.CompareSince(context.Background(), []*Resource{r2}, ModeDiff, since); !errors.Is(err, providers.ErrNoChangesFeed) {
		t.Errorf("no feed: %v", err)
	}
}
