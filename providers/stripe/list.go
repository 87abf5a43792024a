package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	stripeapi "github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/form"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/httpx"
	"github.com/reconctl/reconctl/providers/pick"
)

// rawPage is one list response with its items kept as raw JSON: records keep
// Stripe's own field names and numbers exactly, whatever the SDK's structs
// model. (The SDK's List iterators hide has_more, which splitting needs.)
type rawPage struct {
	stripeapi.APIResource
	stripeapi.ListMeta
	Data []json.RawMessage `json:"data"`
}

// callList sends a list request the way the SDK's own List methods do
// (form-encode the typed params, then CallRaw): Backend.Call assumes params
// with a Metadata field, which list params lack.
func (p *Provider) callList(path string, params stripeapi.ListParamsContainer, page stripeapi.LastResponseSetter) error {
	values := &form.Values{}
	form.AppendTo(values, params)
	return p.api.CallRaw(http.MethodGet, path, p.key, []byte(values.Encode()), params.GetListParams().GetParams(), page)
}

// objectPage is a list response decoded straight into objects: one JSON
// decoder per page rather than one per item (the per-item copies and decoder
// buffers dominated a 100k listing's allocations).
type objectPage struct {
	stripeapi.APIResource
	stripeapi.ListMeta
	Data objectList `json:"data"`
}

type objectList []map[string]any

// UnmarshalJSON keeps numbers as json.Number, so ids, amounts and
// timestamps survive exactly.
func (o *objectList) UnmarshalJSON(b []byte) error {
	list, err := httpx.DecodeObjects(b, "stripe list data")
	*o = list
	return err
}

// keptPage is objectPage with each object decoded keeping only keep's
// paths (ListPaths); fetch hands it on as an objectPage.
type keptPage struct {
	stripeapi.APIResource
	stripeapi.ListMeta
	Data keptList `json:"data"`
}

type keptList struct {
	objs []map[string]any
	keep *pick.Paths
}

// UnmarshalJSON keeps numbers as json.Number, as objectList does; input
// pick refuses is decoded whole, so errors read the same.
func (o *keptList) UnmarshalJSON(b []byte) error {
	list, err := httpx.DecodeObjectsKeeping(b, "stripe list data", o.keep)
	o.objs = list
	return err
}

// listSpec says how to ask for one page of a listing.
type listSpec struct {
	resource string
	path     string
	// keep, when set, keeps only those paths of each listed object
	// (ListPaths); nil keeps all of it.
	keep *pick.Paths
	// params builds the SDK parameters for a page; rng is nil for no
	// created filter.
	params func(lp stripeapi.ListParams, rng *stripeapi.RangeQueryParams) stripeapi.ListParamsContainer
}

// spec says how to list resource; clock, when not empty, lists only the
// objects on that test clock.
func (p *Provider) spec(resource string, clock ...string) (listSpec, error) {
	var tc *string
	if len(clock) > 0 && clock[0] != "" {
		tc = stripeapi.String(clock[0])
	}
	switch resource {
	case Customers:
		return listSpec{resource: resource, path: "/v1/customers",
			params: func(lp stripeapi.ListParams, rng *stripeapi.RangeQueryParams) stripeapi.ListParamsContainer {
				return &stripeapi.CustomerListParams{ListParams: lp, CreatedRange: rng, TestClock: tc}
			}}, nil
	case Subscriptions:
		return listSpec{resource: resource, path: "/v1/subscriptions",
			params: func(lp stripeapi.ListParams, rng *stripeapi.RangeQueryParams) stripeapi.ListParamsContainer {
				// Without status=all Stripe leaves canceled subscriptions out,
				// and a sync would take them for deleted.
				return &stripeapi.SubscriptionListParams{ListParams: lp, CreatedRange: rng, Status: stripeapi.String("all"), TestClock: tc}
			}}, nil
	}
	return listSpec{}, p.unknown(resource)
}

// List implements providers.Provider. With Concurrency > 1 the listing is
// split by creation time (see lister); with 1 it is a plain cursor walk.
//
// In test mode, objects on a test clock are listed too, one listing per
// clock: Stripe's lists leave them out unless test_clock names their clock
// ("The response will not include customers with test clocks if this
// parameter is not set", and the same for subscriptions unless customer is
// set: stripe-go v84.4.1 CustomerListParams/SubscriptionListParams
// .TestClock), while GET returns them, so without this they would be
// permanent unresolved drift. Live mode has no test clocks.
func (p *Provider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	return p.list(ctx, resource, nil, fn)
}

// ListPaths implements providers.PathLister: List (test clocks included),
// each object decoded keeping only paths and what Stripe's own code reads
// of a listed object (see keepFor).
func (p *Provider) ListPaths(ctx context.Context, resource string, paths [][]string, fn func(providers.Record) error) error {
	return p.list(ctx, resource, keepFor(resource, paths), fn)
}

// keepFor is what ListPaths keeps of resource's objects: the paths, and
// whole: id (toRecord) and created (the lister's cursor ties and
// partitions), deleted, object and livemode (what a Stripe object says of
// itself), and a subscription's customer (ParentPath, how check-user
// matches it to its customer).
func keepFor(resource string, paths [][]string) *pick.Paths {
	keep := []string{"id", "created", "deleted", "object", "livemode"}
	if resource == Subscriptions {
		keep = append(keep, "customer")
	}
	return pick.Compile(paths, keep...)
}

// list lists resource keeping only keep's paths of each object (all of it
// when nil).
func (p *Provider) list(ctx context.Context, resource string, keep *pick.Paths, fn func(providers.Record) error) error {
	s, err := p.spec(resource)
	if err != nil {
		return err
	}
	s.keep = keep
	if !p.testMode() {
		return p.newLister(s, p.concurrency).run(ctx, fn)
	}
	// A test-mode key also lists the objects on each test clock. Which
	// clocks there are is read beside the main listing once its first page
	// has come back (a listing that fails at once sends nothing more), not
	// after it: one request's latency less at the end of a test-mode
	// listing of more than a page.
	type clockList struct {
		ids []string
		err error
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan clockList, 1)
	var start sync.Once
	startClocks := func() {
		start.Do(func() {
			go func() {
				ids, err := p.testClocks(cctx)
				got <- clockList{ids, err}
			}()
		})
	}
	if err := p.newLister(s, p.concurrency).run(ctx, func(r providers.Record) error {
		startClocks()
		return fn(r)
	}); err != nil {
		cancel()
		start.Do(func() { got <- clockList{} })
		<-got
		return err
	}
	startClocks() // an empty listing
	cl := <-got
	clocks, err := cl.ids, cl.err
	if ctx.Err() != nil && err != nil {
		return fmt.Errorf("listing stripe %s: %w", resource, context.Cause(ctx))
	}
	if errors.Is(err, errTestClocksDenied) {
		p.warnTestClocksDenied(resource)
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing stripe %s: %w", resource, err)
	}
	for _, c := range clocks {
		s, _ := p.spec(resource, c)
		s.keep = keep
		if err := p.newLister(s, p.concurrency).run(ctx, fn); err != nil {
			return fmt.Errorf("listing stripe %s on test clock %s: %w", resource, c, err)
		}
	}
	return nil
}

// errTestClocksDenied: the key may not list test clocks (401/403).
var errTestClocksDenied = errors.New("the key may not list test clocks")

// warnTestClocksDenied says, via the provider's logger (stderr in the CLI),
// that objects on test clocks were not listed: the listing goes on without
// them rather than failing as a whole.
func (p *Provider) warnTestClocksDenied(resource string) {
	p.log.Warn("stripe: this key cannot list test clocks (HTTP 401/403 on /v1/test_helpers/test_clocks): " + resource +
		" on test clocks cannot be listed with this key and are left out; give the restricted key read access to test clocks to include them")
}

// testMode reports whether the key is a test-mode key (sk_test_, rk_test_).
func (p *Provider) testMode() bool {
	return strings.HasPrefix(p.key, "sk_test_") || strings.HasPrefix(p.key, "rk_test_")
}

// testClocks lists the account's test clock ids
// (GET /v1/test_helpers/test_clocks, cursor paged like other lists).
func (p *Provider) testClocks(ctx context.Context) ([]string, error) {
	var ids []string
	cursor := ""
	for n := 1; ; n++ {
		params := &stripeapi.TestHelpersTestClockListParams{ListParams: stripeapi.ListParams{Context: ctx, Limit: stripeapi.Int64(pageSize)}}
		if cursor != "" {
			params.StartingAfter = stripeapi.String(cursor)
		}
		page := &objectPage{}
		if err := p.callList("/v1/test_helpers/test_clocks", params, page); err != nil {
			// A restricted key without test clock read access is answered
			// 403 (or 401) here although it could list the objects:
			// stripe-go v84.4.1 Error.HTTPStatusCode; see restricted keys'
			// "rak_…_read" permissions in Stripe's API reference.
			var se *stripeapi.Error
			if ctx.Err() == nil && errors.As(err, &se) && (se.HTTPStatusCode == http.StatusForbidden || se.HTTPStatusCode == http.StatusUnauthorized) {
				return nil, errTestClocksDenied
			}
			return nil, fmt.Errorf("listing test clocks failed at page %d (objects on a test clock are listed per clock; a restricted key needs read access to test clocks): %w", n, p.wrapErr(ctx, err))
		}
		for _, obj := range page.Data {
			id, _ := obj["id"].(string)
			if id == "" {
				return nil, fmt.Errorf("listing test clocks: a test clock without id")
			}
			ids = append(ids, id)
		}
		if !page.HasMore {
			return ids, nil
		}
		if len(page.Data) == 0 || ids[len(ids)-1] == cursor {
			return nil, fmt.Errorf("listing test clocks failed at page %d: the API answered has_more without a usable cursor", n)
		}
		cursor = ids[len(ids)-1]
	}
}

// FindByEmail implements providers.EmailFinder (customers only; Stripe's
// email filter is case-sensitive).
func (p *Provider) FindByEmail(ctx context.Context, resource, email string) ([]providers.Record, error) {
	if resource != Customers {
		if resource == Subscriptions {
			return nil, fmt.Errorf("stripe can look up only customers by email, not %s", resource)
		}
		return nil, p.unknown(resource)
	}
	var out []providers.Record
	collect := func(r providers.Record) error {
		out = append(out, r)
		return nil
	}
	byEmail := func(clock *string) listSpec {
		return listSpec{resource: resource, path: "/v1/customers",
			params: func(lp stripeapi.ListParams, rng *stripeapi.RangeQueryParams) stripeapi.ListParamsContainer {
				return &stripeapi.CustomerListParams{ListParams: lp, CreatedRange: rng, Email: stripeapi.String(email), TestClock: clock}
			}}
	}
	if err := p.newLister(byEmail(nil), 1).run(ctx, collect); err != nil {
		return nil, err
	}
	if !p.testMode() {
		return out, nil
	}
	// Test clock customers are left out unless test_clock names the clock
	// (see List).
	clocks, err := p.testClocks(ctx)
	if errors.Is(err, errTestClocksDenied) {
		p.warnTestClocksDenied(resource)
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up stripe customers by email: %w", err)
	}
	for _, c := range clocks {
		if err := p.newLister(byEmail(stripeapi.String(c)), 1).run(ctx, collect); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RelatedResources implements providers.RelatedLister.
func (p *Provider) RelatedResources(parentResource string) []string {
	if parentResource == Customers {
		return []string{Subscriptions}
	}
	return nil
}

// ParentPath implements providers.RelatedLister: a subscription names its
// customer by id in "customer".
func (p *Provider) ParentPath(resource, parentResource string) string {
	if resource == Subscriptions && parentResource == Customers {
		return "customer"
	}
	return ""
}

// ListRelated implements providers.RelatedLister: a customer's subscriptions,
// canceled ones included.
func (p *Provider) ListRelated(ctx context.Context, resource, parentResource, parentID string, fn func(providers.Record) error) error {
	if resource != Subscriptions || parentResource != Customers {
		if resource != Customers && resource != Subscriptions {
			return p.unknown(resource)
		}
		return fmt.Errorf("stripe has no %s related to %s", resource, parentResource)
	}
	s := listSpec{resource: resource, path: "/v1/subscriptions",
		params: func(lp stripeapi.ListParams, rng *stripeapi.RangeQueryParams) stripeapi.ListParamsContainer {
			return &stripeapi.SubscriptionListParams{ListParams: lp, CreatedRange: rng,
				Customer: stripeapi.String(parentID), Status: stripeapi.String("all")}
		}}
	return p.newLister(s, 1).run(ctx, fn)
}

// task is a part of a listing: objects created in [gte, lt) (0 = open end)
// that are older than cursor (Stripe's starting_after; "" = from the newest).
type task struct {
	gte, lt int64
	cursor  string

	// tieSecond and tie are the creation second of the last object handed
	// out and the ids handed out with it. If the cursor object is deleted
	// mid-listing and Stripe stops accepting it as starting_after, the task
	// restarts from that second without a cursor and skips these ids.
	tieSecond int64
	tie       []string
	// skip holds tie's ids while restarting after a lost cursor.
	skip map[string]bool

	// seenN objects were listed by this task, the newest created at
	// seenTop: the density of the data just behind the cursor, from which
	// a split sizes its pieces.
	seenN   int
	seenTop int64
	// last is the creation second of the last object listed; est, before
	// the first page, the pages the piece was cut to hold.
	last int64
	est  float64
	// blind: the range was cut off an open-ended one and may reach below
	// the oldest object, so how much it holds is not known.
	blind bool
}

func (t *task) describe() string {
	var parts []string
	if t.gte != 0 {
		parts = append(parts, fmt.Sprintf("created[gte]=%d", t.gte))
	}
	if t.lt != 0 {
		parts = append(parts, fmt.Sprintf("created[lt]=%d", t.lt))
	}
	if t.cursor != "" {
		parts = append(parts, "starting_after="+t.cursor)
	}
	if len(parts) == 0 {
		return "first page"
	}
	return strings.Join(parts, " ")
}

func (t *task) contains(created int64) bool {
	return (t.gte == 0 || created >= t.gte) && (t.lt == 0 || created < t.lt)
}

// lister runs one listing. Stripe pages newest first by cursor, so one
// cursor walk is bound to one request in flight. The lister starts with one
// task covering everything; whenever a worker reads a page that has more
// while fewer tasks run than the pipe needs (see target), it splits the rest
// of its range by creation time: it keeps the newest part (its cursor is
// still valid there) and queues the older parts as fresh tasks. Creation
// time never changes, so the parts are disjoint and every object that
// existed at the start is listed exactly once; objects created during the
// run sort before every cursor, so they land in the newest part or not at
// all.
//
// Every piece ends with a page that is rarely full, so a piece costs about
// half a request more than its objects need: pieces are sized from the
// density the task has seen to hold a whole number of pages (a little under,
// so the last one comes back nearly full rather than one object over), and
// the lister keeps only as many tasks running as the rate limit can serve,
// rather than one per worker (at 25 req/s and 100 ms a call, 2.5 requests
// are in flight: 8 tasks would each end with a part-filled page, and split
// again, for no more throughput). Without a client-side limit every idle
// worker gets a piece at once (splitIdle).
type lister struct {
	p       *Provider
	spec    listSpec
	workers int

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*task
	idle    int // workers waiting for a task
	active  int // tasks being worked on
	stopped bool
	running map[*task]bool // the active tasks
	// lat holds the durations of the latest fetches; their minimum is the
	// call's latency without the wait for the client-side rate limit.
	lat  [16]time.Duration
	latN int
	// dataFrom, once an open-ended task has ended, is the creation second
	// of the oldest object: ranges below it are empty.
	dataFrom int64

	pages atomic.Int64
}

// minPiecePages is the smallest piece (in pages) cut off an open-ended range.
const minPiecePages = 8

func (p *Provider) newLister(s listSpec, workers int) *lister {
	l := &lister{p: p, spec: s, workers: max(workers, 1), running: map[*task]bool{}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *lister) run(parent context.Context, fn func(providers.Record) error) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.stopped = true
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()

	l.queue = []*task{{}}
	// Pages go to this goroutine, which alone calls fn.
	out := make(chan []providers.Record, l.workers)
	var wg sync.WaitGroup
	for range l.workers {
		wg.Go(func() {
			if err := l.work(ctx, out); err != nil {
				cancel(err)
			}
		})
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	var fnErr error
	for recs := range out {
		if fnErr != nil {
			continue // drain until the workers have stopped
		}
		for _, r := range recs {
			if ctx.Err() != nil {
				break // cancelled: stop handing out records at once
			}
			if err := fn(r); err != nil {
				fnErr = err
				cancel(err)
				break
			}
		}
	}
	if fnErr != nil {
		return fnErr
	}
	if parent.Err() != nil {
		return fmt.Errorf("listing stripe %s: %w", l.spec.resource, context.Cause(parent))
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// next blocks for a task; nil means the listing is over.
func (l *lister) next() *task {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.stopped {
			return nil
		}
		if len(l.queue) > 0 {
			t := l.queue[0]
			l.queue = l.queue[1:]
			l.active++
			l.running[t] = true
			return t
		}
		if l.active == 0 {
			l.stopped = true
			l.cond.Broadcast()
			return nil
		}
		l.idle++
		l.cond.Wait()
		l.idle--
	}
}

func (l *lister) done(t *task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	delete(l.running, t)
	if t.gte == 0 {
		if t.seenN > 0 {
			l.dataFrom = t.last
		} else {
			l.dataFrom = max(l.dataFrom, t.lt)
		}
	}
	if l.active == 0 && len(l.queue) == 0 {
		l.cond.Broadcast()
	}
}

// observe records how long one fetch took.
func (l *lister) observe(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lat[l.latN%len(l.lat)] = d
	l.latN++
}

// target is how many tasks keep the pipe full: with a client-side limit of
// rps and a call latency of lat, rps×lat requests are in flight at the
// limit; rounded up and one spare absorb the variance of the latency.
// Without a limit (or before the first page) it is one task per worker.
// l.mu is held.
func (l *lister) target() int {
	rps := l.p.rps
	if rps <= 0 || l.latN == 0 {
		return l.workers
	}
	lat := l.lat[0]
	for i := 1; i < min(l.latN, len(l.lat)); i++ {
		lat = min(lat, l.lat[i])
	}
	return min(l.workers, int(math.Ceil(rps*lat.Seconds()*1.25))+1)
}

// splitIdle is the split without a client-side rate limit (nothing waits
// for a limiter, so every idle worker is worth a piece): it narrows t to
// objects created up to lastCreated and, if workers are idle and nothing is
// queued, hands them the older part of the range.
// pageSpan is how many seconds the page just read covered and n how many
// objects it held: the local density. Every piece costs at least one
// request, so a range is never cut into more pieces than the objects it is
// estimated to hold fill pages (a concurrency of 500 over 500 objects must
// not send hundreds of requests for empty ranges).
func (l *lister) splitIdle(t *task, lastCreated, pageSpan int64, n int) {
	if l.idle == 0 || len(l.queue) > 0 {
		return
	}
	hi := lastCreated + 1 // everything newer has been delivered
	pieces := l.idle + 1
	// An open bottom is cut into pieces doubling in width back to the
	// floor (below), so their number is logarithmic in the time span
	// whatever the concurrency.
	if t.gte != 0 {
		// Bounded: at the density just seen, the range holds about
		// n*(hi-gte)/pageSpan objects.
		est := float64(n) * float64(hi-t.gte) / float64(max(pageSpan, 1))
		pieces = min(pieces, int(math.Ceil(est/pageSize)))
	}
	// Boundaries, newest first: bounds[0] = hi, then one per piece; the last
	// piece keeps t's lower bound (open or not).
	bounds := []int64{hi}
	if t.gte == 0 {
		// Open bottom: we do not know where the data starts, and accounts
		// grow, so older data is sparser. Pieces double in width going back
		// from one page's worth of time, instead of cutting 2010..now evenly
		// (which leaves most pieces empty for a young account).
		w := max(pageSpan, 1)
		for k := 1; k < pieces; k++ {
			b := hi - w*(int64(1)<<k-1)
			if b <= max(l.p.floor, 1) {
				break
			}
			bounds = append(bounds, b)
		}
	} else {
		lo := t.gte
		if hi-lo < int64(pieces) {
			pieces = int(hi - lo)
		}
		for k := 1; k < pieces; k++ {
			bounds = append(bounds, hi-int64(k)*(hi-lo)/int64(pieces))
		}
	}
	if len(bounds) < 2 {
		return
	}
	bottom := t.gte
	t.lt, t.gte = hi, bounds[1] // keeps the cursor: bounds[1] <= lastCreated
	for k := 1; k < len(bounds); k++ {
		nt := &task{lt: bounds[k], gte: bottom}
		if k+1 < len(bounds) {
			nt.gte = bounds[k+1]
		}
		l.queue = append(l.queue, nt)
	}
	l.cond.Broadcast()
}

// perSec is the density of the objects t has listed, in objects per second
// (n objects span n-1 gaps).
func (t *task) perSec() float64 {
	return float64(max(t.seenN-1, 1)) / float64(max(t.seenTop-t.last, 1))
}

// left estimates the pages t has still to read: unbounded for an open
// range, from the density it has seen for a bounded one (down to the oldest
// object, when known). l.mu is held.
func (l *lister) left(t *task) float64 {
	switch {
	case t.gte == 0:
		return math.Inf(1)
	case t.seenN == 0:
		return t.est
	case t.seenTop == t.last:
		// Every object it listed has the same creation second (a bulk
		// import): no density to size pieces by, and cutting its range into
		// one-second pieces would send requests for empty seconds.
		return 0
	}
	return max(t.perSec()*float64(t.last+1-max(t.gte, l.dataFrom))/pageSize, 0)
}

// maybeSplit narrows t to objects created up to lastCreated and, under a
// client-side rate limit, when fewer tasks run than target and nothing is
// queued, hands the older part of its range to new tasks (without a limit:
// splitIdle, from the page just read: pageSpan seconds held n objects). Pieces are cut from the density t has seen so that
// each holds a whole number of pages. Every piece costs at least one
// request, so a bounded range is never cut into more pieces than the pages
// it is estimated to hold (a concurrency of 500 over 500 objects must not
// send hundreds of requests for empty ranges).
func (l *lister) maybeSplit(t *task, lastCreated, pageSpan int64, n int) {
	if l.workers == 1 {
		return // a plain cursor walk: no created filters at all
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p.rps <= 0 {
		l.splitIdle(t, lastCreated, pageSpan, n)
		return
	}
	want := l.target() - l.active
	if want <= 0 || len(l.queue) > 0 || t.seenN == 0 {
		return
	}
	// Of the bounded tasks, the one with the most left splits (at its next
	// page, if not t): splitting a small one leaves small pieces, each
	// ending with a part-filled page, that soon end and split again.
	// Nor does a bounded task right above a running open-ended one: its
	// range was cut blind, and may reach below the oldest object (its
	// pieces there would be empty) until the open one has ended and told
	// where the data starts.
	if t.gte != 0 {
		for o := range l.running {
			if o != t && (o.gte != 0 && l.left(o) > l.left(t) || o.gte == 0 && o.lt == t.gte) {
				return
			}
		}
	}
	hi := lastCreated + 1 // everything newer has been delivered
	perSec := t.perSec()
	// seconds is how many seconds hold a little under p full pages at that
	// density (three objects and a quarter percent under: the estimate's
	// error), and at least one.
	seconds := func(p int) int64 {
		objs := float64(p*pageSize) - 3 - float64(p*pageSize)/400
		return max(int64(objs/perSec), 1)
	}
	// Boundaries, newest first: bounds[0] = hi, then one per piece; the last
	// piece keeps t's lower bound (open or not).
	bounds := []int64{hi}
	if t.gte == 0 {
		// Open bottom: we do not know where the data starts, so a piece cut
		// from here may turn out empty (a request for nothing). The next
		// stretch of about twice as many pages as the listing has read so
		// far (so pieces, and the part-filled pages they end with, grow with
		// the listing) goes to t, and the open rest is handed on alone: only
		// it is cut blind, and more pieces come from the bounded ranges,
		// whose ends are known. At the first page nothing else runs yet: the
		// stretch is shared out between t and the other pieces wanted.
		q := max(minPiecePages, 2*int(l.pages.Load()))
		n, share := 1, q
		if l.pages.Load() <= 1 {
			n, share = want, max(q/want, 1)
		}
		b := hi
		for k := 0; k < n; k++ {
			b -= seconds(share)
			if b <= max(l.p.floor, l.dataFrom, 1) {
				break
			}
			bounds = append(bounds, b)
		}
	} else {
		pages := int(l.left(t)) // full pages left, about
		pieces := min(want+1, pages)
		if t.blind {
			// Where the data starts is unknown: cut in two only, the
			// blind lower half handed on.
			pieces = min(pieces, 2)
		}
		if pieces < 2 {
			return
		}
		q := pages / pieces
		for k := 1; k < pieces; k++ {
			b := hi - int64(k)*seconds(q)
			if b <= t.gte {
				break
			}
			bounds = append(bounds, b)
		}
	}
	if len(bounds) < 2 {
		return
	}
	bottom, blind := t.gte, t.gte == 0 || t.blind
	t.lt, t.gte = hi, bounds[1] // keeps the cursor: bounds[1] <= lastCreated
	t.blind = bottom == 0       // the stretch right above the open rest
	for k := 1; k < len(bounds); k++ {
		nt := &task{lt: bounds[k], gte: bottom}
		if k+1 < len(bounds) {
			nt.gte = bounds[k+1]
		}
		if nt.gte != 0 {
			nt.est = perSec * float64(nt.lt-max(nt.gte, l.dataFrom)) / pageSize
			nt.blind = blind && k+1 == len(bounds) // the lowest piece
		}
		l.queue = append(l.queue, nt)
	}
	l.cond.Broadcast()
}

func (l *lister) work(ctx context.Context, out chan<- []providers.Record) error {
	for {
		t := l.next()
		if t == nil {
			return nil
		}
		for {
			start := time.Now()
			page, err := l.fetch(ctx, t)
			if err != nil {
				return err
			}
			l.observe(time.Since(start))
			recs := make([]providers.Record, 0, len(page.Data))
			var lastID string
			var lastCreated, firstCreated int64
			for _, obj := range page.Data {
				rec, err := toRecord(obj)
				if err != nil {
					return fmt.Errorf("listing stripe %s: %w", l.spec.resource, err)
				}
				lastID, lastCreated = rec.ID, created(obj)
				if firstCreated == 0 {
					firstCreated = lastCreated
				}
				// Under l.mu: maybeSplit, in another task's worker, reads
				// these through left(t).
				l.mu.Lock()
				if t.seenN == 0 {
					t.seenTop = lastCreated
				}
				t.seenN++
				t.last = lastCreated
				l.mu.Unlock()
				if lastCreated != t.tieSecond {
					t.tieSecond, t.tie, t.skip = lastCreated, t.tie[:0], nil
				}
				t.tie = append(t.tie, rec.ID)
				// Stripe honours the created filter; this guard keeps a server
				// that ignores it (stripe-mock does) from doubling records.
				if t.contains(lastCreated) && !t.skip[rec.ID] {
					recs = append(recs, rec)
				}
			}
			select {
			case out <- recs:
			case <-ctx.Done():
				return nil
			}
			if !page.HasMore || len(page.Data) == 0 {
				break
			}
			if lastID == t.cursor {
				return fmt.Errorf("listing stripe %s: the API repeated starting_after=%s; stopping instead of looping", l.spec.resource, lastID)
			}
			t.cursor = lastID
			l.maybeSplit(t, lastCreated, firstCreated-lastCreated, len(page.Data))
		}
		l.done(t)
	}
}

// fetch reads one page of t. Its error names the resource, the page number
// and where the page starts, so an operator can tell how far the listing got.
func (l *lister) fetch(ctx context.Context, t *task) (*objectPage, error) {
	n := l.pages.Add(1)
	lp := stripeapi.ListParams{Context: ctx, Limit: stripeapi.Int64(pageSize)}
	if t.cursor != "" {
		lp.StartingAfter = stripeapi.String(t.cursor)
	}
	var rng *stripeapi.RangeQueryParams
	if t.gte != 0 || t.lt != 0 {
		rng = &stripeapi.RangeQueryParams{GreaterThanOrEqual: t.gte, LesserThan: t.lt}
	}
	page := &objectPage{}
	var dst stripeapi.LastResponseSetter = page
	var kept *keptPage
	if l.spec.keep != nil {
		kept = &keptPage{Data: keptList{keep: l.spec.keep}}
		dst = kept
	}
	if err := l.p.callList(l.spec.path, l.spec.params(lp, rng), dst); err != nil {
		err = l.p.wrapErr(ctx, err)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if lostCursor(err) && t.cursor != "" && t.skip == nil && t.tieSecond != 0 {
			// The cursor object was deleted and is no longer accepted:
			// restart at the cursor's creation second, skipping what that
			// second gave.
			l.p.log.Debug("stripe cursor object gone; restarting from its creation second",
				"resource", l.spec.resource, "starting_after", t.cursor)
			t.cursor, t.lt, t.skip = "", t.tieSecond+1, map[string]bool{}
			for _, id := range t.tie {
				t.skip[id] = true
			}
			return l.fetch(ctx, t)
		}
		return nil, fmt.Errorf("listing stripe %s failed at page %d (%s): %w", l.spec.resource, n, t.describe(), err)
	}
	if kept != nil {
		page.APIResource, page.ListMeta, page.Data = kept.APIResource, kept.ListMeta, kept.Data.objs
	}
	if page.HasMore && len(page.Data) == 0 {
		// Not the end: there is more, but no object to continue after.
		return nil, fmt.Errorf("listing stripe %s failed at page %d (%s): the API answered has_more: true with no data; stopping rather than reporting a partial listing as complete", l.spec.resource, n, t.describe())
	}
	return page, nil
}

// lostCursor reports whether err is Stripe refusing our starting_after
// object. Stripe answers a deleted (or unknown) cursor object with HTTP 400,
// error.code resource_missing and error.param "starting_after" — not 404
// (stripe-go issue #1030; stripe-node issue #258 shows the same body, with
// param starting_after). Older accounts' answers may lack the code, so a 400
// naming starting_after is enough; a 404 resource_missing is accepted too.
func lostCursor(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	param := ""
	if ae.Err != nil {
		param = ae.Err.Param
	}
	missing := ae.Code == string(stripeapi.ErrorCodeResourceMissing)
	switch ae.Status {
	case http.StatusBadRequest:
		return param == "starting_after" && (missing || ae.Code == "")
	case http.StatusNotFound:
		return missing && (param == "" || param == "starting_after")
	}
	return false
}
