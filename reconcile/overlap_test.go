package reconcile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// gatedStore scans half its rows, then waits (at most 20 s) until the
// provider has listed a record: it tells whether the listing ran while
// the scan was under way.
type gatedStore struct {
	*memStore
	listed     chan struct{}
	overlapped bool
}

func (s *gatedStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	n := 0
	return s.memStore.Scan(ctx, t, cols, func(r localstate.Row) error {
		if n++; n == len(s.rows)/2 {
			select {
			case <-s.listed:
				s.overlapped = true
			case <-time.After(20 * time.Second):
			}
		}
		return fn(r)
	})
}

type signalProvider struct {
	*memProvider
	listed chan struct{}
}

func (p *signalProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	first := true
	return p.memProvider.List(ctx, resource, func(r providers.Record) error {
		if first {
			close(p.listed)
			first = false
		}
		return fn(r)
	})
}

// TestReadsOverlap: diff and resync list the provider while the local scan
// is under way (--force reads one side after the other).
func TestReadsOverlap(t *testing.T) {
	for _, mode := range []Mode{ModeDiff, ModeResync} {
		p, s := fixture()
		ch := make(chan struct{})
		gs := &gatedStore{memStore: s, listed: ch}
		compare(t, &signalProvider{memProvider: p, listed: ch}, gs, customersTable(), mode)
		if !gs.overlapped {
			t.Errorf("mode %d: the provider was not listed while the local side was scanned", mode)
		}
	}
}

// TestOverlapSameResults: reading both sides at once gives exactly the
// results of reading one after the other — drift, summaries, the plan in
// its order, duplicate samples — whatever the two orders: the same, the
// listing reversed or shuffled, with creates, deletions, changes, and ids
// listed twice; also when few listed records may wait for the scan.
func TestOverlapSameResults(t *testing.T) {
	const n = 3000
	rng := rand.New(rand.NewPCG(1, 2))
	s := &memStore{cols: []string{"email", "plan", "vip"}, rows: map[string]map[string]any{}}
	var recs []providers.Record
	for i := range n {
		id := fmt.Sprintf("cus_%05d", i)
		if i%50 != 7 { // only remote: a create
			s.rows[id] = map[string]any{"email": fmt.Sprintf("u%d@x", i), "plan": "pro", "vip": nil}
		}
		if i%50 == 9 {
			continue // only local: missing remote
		}
		plan := "pro"
		if i%17 == 0 {
			plan = "team" // changed
		}
		r := rec(id, fmt.Sprintf(`{"email":"U%d@x","metadata":{"plan":%q}}`, i, plan))
		recs = append(recs, r)
		if i%301 == 0 {
			r2 := rec(id, fmt.Sprintf(`{"email":"dup%d@x","metadata":{"plan":"free"}}`, i))
			recs = append(recs, r2) // listed twice, the second copy different
		}
	}
	reversed := make([]providers.Record, len(recs))
	for i, r := range recs {
		reversed[len(recs)-1-i] = r
	}
	shuffled := append([]providers.Record(nil), recs...)
	rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
	defer func(w int) { maxWaiting = w }(maxWaiting)
	for _, order := range []struct {
		name string
		recs []providers.Record
	}{{"same", recs}, {"reversed", reversed}, {"shuffled", shuffled}} {
		for _, wait := range []int{1 << 16, 8} {
			maxWaiting = wait
			for _, mode := range []Mode{ModeDiff, ModeResync} {
				run := func(seq bool) *Result {
					sequentialRead = seq
					defer func() { sequentialRead = false }()
					p := &memProvider{records: map[string][]providers.Record{"customers": order.recs}, gets: map[string]providers.RemoteStatus{}}
					_, res := compare(t, p, s, customersTable(), mode)
					return res
				}
				want, got := run(true), run(false)
				name := fmt.Sprintf("%s/wait %d/mode %d", order.name, wait, mode)
				if !reflect.DeepEqual(got.Drift, want.Drift) {
					t.Errorf("%s: drift differs", name)
				}
				gr, wr := got.Resources[0], want.Resources[0]
				if !reflect.DeepEqual(gr.Summary, wr.Summary) || !reflect.DeepEqual(gr.dupRemote, wr.dupRemote) {
					t.Errorf("%s: summary or samples differ:\n%+v\n%+v\n%v %v", name, gr.Summary, wr.Summary, gr.dupRemote, wr.dupRemote)
				}
				if !reflect.DeepEqual(gr.plan, wr.plan) {
					t.Errorf("%s: plans differ", name)
				}
				// The listed copies, but when each was read (the clock).
				upd := func(m map[string]listedCopy) map[string]time.Time {
					out := map[string]time.Time{}
					for k, c := range m {
						out[k] = c.upd
					}
					return out
				}
				if !reflect.DeepEqual(upd(gr.cond.listed), upd(wr.cond.listed)) {
					t.Errorf("%s: listed copies differ", name)
				}
				if wr.Summary.DuplicateRemote == 0 || wr.Summary.MissingLocal == 0 || wr.Summary.Changed == 0 {
					t.Fatalf("%s: the fixture lacks drift: %+v", name, wr.Summary)
				}
			}
		}
	}
}
