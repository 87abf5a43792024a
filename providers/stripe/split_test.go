package stripe

import (
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// testLister is a lister of 8 workers under a client-side limit of rps whose
// calls took lat, with the tasks given running.
func testLister(rps float64, lat time.Duration, running ...*task) *lister {
	l := (&Provider{rps: rps, floor: 1}).newLister(listSpec{resource: Customers}, 8)
	for i := range 4 {
		l.observe(lat + time.Duration(i)*time.Millisecond) // the minimum counts
	}
	for _, t := range running {
		l.running[t] = true
		l.active++
	}
	l.pages.Store(10)
	return l
}

// TestTargetFollowsTheLimit: under a rate limit the lister keeps rps×latency
// tasks (rounded up, a quarter more, and one spare), not one per worker;
// without a limit, one per worker.
func TestTargetFollowsTheLimit(t *testing.T) {
	if got := testLister(25, 100*time.Millisecond).target(); got != 5 {
		t.Errorf("25 req/s at 100 ms: target %d, want 5", got)
	}
	if got := testLister(25, 400*time.Millisecond).target(); got != 8 {
		t.Errorf("25 req/s at 400 ms: target %d, want the 8 workers", got)
	}
	if got := testLister(0, 100*time.Millisecond).target(); got != 8 {
		t.Errorf("no limit: target %d, want the 8 workers", got)
	}
}

// TestSplitSizesWholePages: a bounded task splits into pieces that hold a
// little under a whole number of pages at the density it has seen, and
// does not split when the pipe is full.
func TestSplitSizesWholePages(t *testing.T) {
	const last = 1_000_000
	// 1 object a second: 301 objects seen over 300 s; about 12 pages left.
	tk := &task{gte: last - 1200, lt: last + 2000, cursor: "cus_x", seenN: 301, seenTop: last + 300, last: last}
	l := testLister(25, 100*time.Millisecond, tk) // target 5, 1 running: 4 wanted
	l.maybeSplit(tk, last, 0, 0)
	if len(l.queue) != 4 {
		t.Fatalf("%d pieces queued, want 4", len(l.queue))
	}
	if tk.lt != last+1 || tk.cursor != "cus_x" {
		t.Errorf("the task keeps [%d, %d) from %q, want up to %d with its cursor", tk.gte, tk.lt, tk.cursor, last+1)
	}
	pieces := append([]*task{tk}, l.queue...)
	for i, p := range pieces {
		if i > 0 && p.lt != pieces[i-1].gte {
			t.Errorf("piece %d ends at %d, not where piece %d starts (%d)", i, p.lt, i-1, pieces[i-1].gte)
		}
		if i == len(pieces)-1 {
			if p.gte != last-1200 {
				t.Errorf("the last piece starts at %d, want the task's old bound", p.gte)
			}
			continue
		}
		// 2 pages each (12 pages over 5 pieces), a few objects under.
		if w := p.lt - p.gte; w > 200 || w < 195 {
			t.Errorf("piece %d holds %d objects, want a little under 2 full pages", i, w)
		}
	}
	full := testLister(25, 100*time.Millisecond, &task{gte: 1}, &task{gte: 1}, &task{gte: 1}, &task{gte: 1})
	tk2 := &task{gte: last - 1200, lt: last + 2000, seenN: 301, seenTop: last + 300, last: last}
	full.running[tk2] = true
	full.active++
	full.maybeSplit(tk2, last, 0, 0)
	if len(full.queue) != 0 {
		t.Errorf("split with the pipe full (%d tasks of a target of 5)", full.active)
	}
}

// TestOpenSplitHandsOnTheRest: after the first page, an open-ended task
// under a limit keeps a bounded stretch of about the pages read so far and
// hands on only the open rest, blind; its stretch is blind too (it may
// reach below the oldest object), and does not split while the open rest
// runs.
func TestOpenSplitHandsOnTheRest(t *testing.T) {
	const last = 1_000_000
	tk := &task{cursor: "cus_x", seenN: 301, seenTop: last + 300, last: last}
	l := testLister(25, 100*time.Millisecond, tk)
	l.maybeSplit(tk, last, 0, 0)
	if len(l.queue) != 1 {
		t.Fatalf("%d pieces queued, want only the open rest", len(l.queue))
	}
	rest := l.queue[0]
	if rest.gte != 0 || rest.lt != tk.gte || !tk.blind {
		t.Errorf("rest [%d, %d), task [%d, %d) blind=%v", rest.gte, rest.lt, tk.gte, tk.lt, tk.blind)
	}
	if w := tk.lt - tk.gte; w > 2000 || w < 1990 { // 2 × the 10 pages read, 1 object a second
		t.Errorf("the task keeps %d objects, want a little under 20 pages", w)
	}
	l.queue = nil
	l.running[rest] = true
	l.active++
	tk.seenN, tk.seenTop, tk.last = 501, last+300, last-200
	l.maybeSplit(tk, last-200, 0, 0)
	if len(l.queue) != 0 {
		t.Error("the blind stretch split while the open rest runs")
	}
}

// TestNoSplitWithoutDensity: a task whose objects all share one creation
// second (a bulk import) has no density to size pieces by, and is not cut
// into one-second pieces (each a request for an empty second).
func TestNoSplitWithoutDensity(t *testing.T) {
	const last = 1_000_000
	tk := &task{gte: last - 100_000, lt: last + 1, cursor: "cus_x", seenN: 500, seenTop: last, last: last}
	l := testLister(25, 100*time.Millisecond, tk)
	l.maybeSplit(tk, last, 0, 0)
	if len(l.queue) != 0 {
		t.Errorf("%d pieces cut from a range with no density seen", len(l.queue))
	}
}

// TestLimitedListingListsEachOnce: under a client-side limit (the
// whole-page sizing) every customer is listed exactly once, with most
// created over two years and a bulk import of 700 in one second, in few
// more requests than full pages would take and no 429 from a fake that
// enforces the same limit.
func TestLimitedListingListsEachOnce(t *testing.T) {
	f, srv := newFake(t)
	ids := seedCustomers(f, 2300)
	bulk := time.Now().Add(-400 * 24 * time.Hour)
	ids = append(ids, f.SeedCustomers(700, bulk, bulk, nil)...)
	f.SetFaults(stripefake.Faults{Latency: 2 * time.Millisecond, LimitRPS: 400, LimitBurst: 40})
	p := newProvider(t, srv.URL, providers.Options{Concurrency: 8, RPS: 400})
	var got []string
	mustList(t, p, Customers, func(r providers.Record) { got = append(got, r.ID) })
	requireSameIDs(t, ids, got)
	// 30 full pages are the minimum.
	t.Logf("%d requests, %d 429s", len(f.Requests()), f.Stats().RateLimited)
	if n := len(f.Requests()); n > 50 {
		t.Errorf("%d requests for 3000 customers, want at most 50", n)
	}
	if n := f.Stats().RateLimited; n > 2 {
		t.Errorf("%d 429s from the fake enforcing the client's own limit", n)
	}
}
