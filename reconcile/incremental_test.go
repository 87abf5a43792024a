package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconctl/reconctl/journal"
	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/stripe"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
	"github.com/reconctl/reconctl/reconcile"
)

// world is the fake Stripe, a SQLite state and a journal, on one clock the
// test moves; events can be held back (an events list is eventually
// consistent) and shown later.
type world struct {
	t      testing.TB
	ctx    context.Context
	mu     sync.Mutex
	now    time.Time
	fake   *stripefake.Fake
	srv    *httptest.Server
	prov   providers.Provider
	held   map[string]bool // event ids not listed yet
	db     *localstate.DB
	store  localstate.Store
	j      *journal.Journal
	tbl    *localstate.Table
	seq    int
	remote []string
}

const worldKey = "sk_test_incremental0123456789"

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), held: map[string]bool{},
		now: time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)}
	t.Setenv("INCR_STRIPE_KEY", worldKey)
	w.fake, w.srv = stripefake.NewServer(stripefake.Config{APIKey: worldKey, Now: w.clock})
	t.Cleanup(w.srv.Close)
	p, err := stripe.New(providers.Options{APIBase: w.srv.URL, APIKeyEnv: "INCR_STRIPE_KEY", RPS: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.prov = lagging{Provider: p, w: w}
	dir := t.TempDir()
	state := filepath.Join(dir, "app.db")
	if err := localstate.CreateSQLite(w.ctx, state, `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT, name TEXT, plan TEXT)`); err != nil {
		t.Fatal(err)
	}
	if w.db, err = localstate.OpenDB(w.ctx, state, localstate.DBOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.db.Close() })
	if w.store, err = localstate.Open(w.ctx, state, localstate.OpenOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	if w.j, err = journal.Open(w.ctx, filepath.Join(dir, "journal.db"), journal.Options{Create: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.j.Close() })
	w.tbl = &localstate.Table{Resource: "customers", Name: "users", Key: "id", Fields: []localstate.Field{
		{Column: "email", Path: "email"}, {Column: "name", Path: "name"}, {Column: "plan", Path: "metadata.plan"}}}
	return w
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) tick(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

// lastEvent is the id of the event the fake recorded last.
func (w *world) lastEvent() string {
	ids := w.fake.Events()
	return ids[len(ids)-1]
}

func (w *world) hold(id string) {
	w.mu.Lock()
	w.held[id] = true
	w.mu.Unlock()
}

// release lists every held event from now on.
func (w *world) release() {
	w.mu.Lock()
	clear(w.held)
	w.mu.Unlock()
}

func (w *world) isHeld(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held[id]
}

// lagging is the Stripe provider whose events list leaves out held events.
type lagging struct {
	providers.Provider
	w *world
}

func (l lagging) Features() providers.Features {
	f := providers.FeaturesOf(l.Provider)
	f.Events = lagEvents{EventSource: f.Events, w: l.w}
	return f
}

type lagEvents struct {
	providers.EventSource
	w *world
}

func (l lagEvents) Events(ctx context.Context, q providers.EventQuery, fn func(providers.Event) error) error {
	return l.EventSource.Events(ctx, q, func(ev providers.Event) error {
		if l.w.isHeld(ev.ID) {
			return nil
		}
		return fn(ev)
	})
}

func (w *world) exec(q string, args ...any) {
	w.t.Helper()
	if _, err := w.db.ExecContext(w.ctx, q, args...); err != nil {
		w.t.Fatal(err)
	}
}

// remoteIDs are the provider's live customers (the fake's own record, no call).
func (w *world) remoteIDs() []string { return w.remote }

func (w *world) create(fields map[string]any) map[string]any {
	c := w.fake.CreateCustomer(fields)
	w.remote = append(w.remote, c["id"].(string))
	return c
}

func (w *world) delete(id string) {
	if err := w.fake.DeleteCustomer(id); err != nil {
		w.t.Fatal(err)
	}
	w.remote = slices.DeleteFunc(w.remote, func(s string) bool { return s == id })
}

func (w *world) localIDs() []string {
	rows, err := w.db.QueryContext(w.ctx, `SELECT id FROM users ORDER BY id`)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// diff runs one comparison (incremental when inc is set).
func (w *world) diff(inc *reconcile.Incremental) *reconcile.Result {
	w.t.Helper()
	e := &reconcile.Engine{Provider: w.prov, Store: w.store, Now: w.clock, Incremental: inc}
	r, err := e.Prepare(w.ctx, w.tbl)
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := e.Compare(w.ctx, []*reconcile.Resource{r}, reconcile.ModeDiff)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

// driftText is what must agree between the two diffs: every drift item
// (kind, id, remote status, fields, action) and the counts.
func driftText(res *reconcile.Result) string {
	var b strings.Builder
	for _, d := range res.Drift {
		f, _ := json.Marshal(d.Fields)
		fmt.Fprintf(&b, "%s %s %s %s %s\n", d.Kind, d.ID, d.RemoteStatus, d.Action, f)
	}
	for name, sum := range res.Summaries() {
		s := *sum
		s.Reconfirmed = 0
		fmt.Fprintf(&b, "%s %+v\n", name, s)
	}
	return b.String()
}

func pick(r *rand.Rand, ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[r.IntN(len(ids))]
}

// step makes a few random changes on both sides, each provider change with
// its event; some updates are made twice with the first event held back
// (it shows up a step later, older than what the snapshot then holds).
func (w *world) step(r *rand.Rand) {
	for range 1 + r.IntN(4) {
		w.tick(time.Second)
		w.seq++
		switch op := r.IntN(8); op {
		case 0, 1: // provider create (in sync locally half the time)
			email := fmt.Sprintf("u%d@example.com", w.seq)
			c := w.create(map[string]any{"email": email, "name": "N" + fmt.Sprint(w.seq), "metadata": map[string]any{"plan": "free"}})
			if r.IntN(2) == 0 {
				w.exec(`INSERT INTO users (id, email, name, plan) VALUES (?, ?, ?, ?)`, c["id"], email, "N"+fmt.Sprint(w.seq), "free")
			}
		case 2: // provider update, sometimes with a held-back earlier event
			id := pick(r, w.remoteIDs())
			if id == "" {
				continue
			}
			fields := map[string]any{"email": fmt.Sprintf("x%d@example.com", w.seq)}
			if r.IntN(2) == 0 {
				fields = map[string]any{"metadata": map[string]any{"plan": []string{"pro", "team", "free"}[r.IntN(3)]}}
			}
			if r.IntN(3) == 0 {
				if _, err := w.fake.UpdateCustomer(id, map[string]any{"name": fmt.Sprintf("early%d", w.seq)}); err == nil {
					w.hold(w.lastEvent())
				}
				if r.IntN(2) == 0 {
					w.follow(id) // the app saw the early change, not the late one
				}
				w.tick(time.Second)
				fields["name"] = fmt.Sprintf("late%d", w.seq)
			}
			if _, err := w.fake.UpdateCustomer(id, fields); err != nil {
				w.t.Fatal(err)
			}
		case 3: // provider delete
			if id := pick(r, w.remoteIDs()); id != "" {
				w.delete(id)
			}
		case 4: // local row the provider never had
			w.exec(`INSERT INTO users (id, email, name, plan) VALUES (?, ?, ?, ?)`, fmt.Sprintf("cus_local%d", w.seq), "l@example.com", "L", "free")
		case 5: // local update
			if id := pick(r, w.localIDs()); id != "" {
				w.exec(`UPDATE users SET email = ? WHERE id = ?`, fmt.Sprintf("local%d@example.com", w.seq), id)
			}
		case 6: // local delete
			if id := pick(r, w.localIDs()); id != "" {
				w.exec(`DELETE FROM users WHERE id = ?`, id)
			}
		case 7: // the app catches up with one provider record
			if id := pick(r, w.remoteIDs()); id != "" {
				w.follow(id)
			}
		}
	}
}

// follow sets the local row of id to the provider's current values.
func (w *world) follow(id string) {
	obj, _, _ := w.fake.Customer(id)
	md, _ := obj["metadata"].(map[string]any)
	w.exec(`DELETE FROM users WHERE id = ?`, id)
	w.exec(`INSERT INTO users (id, email, name, plan) VALUES (?, ?, ?, ?)`, id, obj["email"], obj["name"], md["plan"])
}

// TestIncrementalMatchesFull: random sequences of provider changes (each
// with its event; some events listed late, older than what the snapshot
// holds by then; some changes made just after a run read the events, dated
// before its cursor, so only the overlap window finds them) and local
// changes; after every step the incremental diff reports exactly the drift
// of a full diff, and every run after the first is incremental.
func TestIncrementalMatchesFull(t *testing.T) {
	seeds, steps := 30, 25
	if testing.Short() {
		seeds = 5
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := newWorld(t)
			r := rand.New(rand.NewPCG(uint64(seed), 18))
			// A starting population, partly in sync.
			for i := range 20 {
				w.tick(time.Second)
				c := w.create(map[string]any{"email": fmt.Sprintf("s%d@example.com", i), "name": "S", "metadata": map[string]any{"plan": "free"}})
				if i%4 != 0 {
					w.exec(`INSERT INTO users (id, email, name, plan) VALUES (?, ?, ?, ?)`, c["id"], fmt.Sprintf("s%d@example.com", i), "S", "free")
				}
			}
			inc := &reconcile.Incremental{Store: w.j, FullEvery: 30 * 24 * time.Hour}
			for k := range steps {
				w.release() // the events held back last step are listed now
				w.step(r)
				full := w.diff(nil)
				incr := w.diff(inc)
				ir := incr.Incremental()
				if ir == nil {
					t.Fatal("no incremental result")
				}
				if k == 0 {
					if ir.Incremental || ir.Fallback == nil || *ir.Fallback != reconcile.FallbackNoSnapshot {
						t.Fatalf("first run: %+v, want a fallback %q", ir, reconcile.FallbackNoSnapshot)
					}
				} else if !ir.Incremental {
					t.Fatalf("step %d: not incremental: %s", k, *ir.Fallback)
				}
				if got, want := driftText(incr), driftText(full); got != want {
					t.Fatalf("step %d: incremental drift\n%s\nfull drift\n%s", k, got, want)
				}
				if r.IntN(3) == 0 {
					// Just after the run read the events: dated (to the
					// second) before its cursor.
					if id := pick(r, w.remoteIDs()); id != "" {
						if _, err := w.fake.UpdateCustomer(id, map[string]any{"email": fmt.Sprintf("racy%d@example.com", k)}); err != nil {
							t.Fatal(err)
						}
					}
				}
				w.tick(time.Minute)
			}
		})
	}
}

// TestIncrementalOverlapNeeded: a change made just after a run read the
// events, dated (to the second) before its cursor, is found by the next run
// through the overlap window, and missed without one.
func TestIncrementalOverlapNeeded(t *testing.T) {
	for _, overlap := range []time.Duration{0, time.Nanosecond} {
		w := newWorld(t)
		c := w.create(map[string]any{"email": "a@example.com", "name": "A", "metadata": map[string]any{"plan": "free"}})
		w.exec(`INSERT INTO users (id, email, name, plan) VALUES (?, ?, ?, ?)`, c["id"], "a@example.com", "A", "free")
		inc := &reconcile.Incremental{Store: w.j, Overlap: overlap}
		w.diff(inc) // the snapshot
		if _, err := w.fake.UpdateCustomer(c["id"].(string), map[string]any{"email": "b@example.com"}); err != nil {
			t.Fatal(err)
		}
		w.tick(time.Minute)
		if full := w.diff(nil); len(full.Drift) != 1 {
			t.Fatalf("full diff: %+v", full.Drift)
		}
		got := w.diff(inc)
		if !got.Incremental().Incremental {
			t.Fatalf("overlap %s: not incremental", overlap)
		}
		if found := len(got.Drift) == 1 && got.Drift[0].Kind == reconcile.KindChanged; found != (overlap == 0) {
			t.Fatalf("overlap %s (0: the default): drift %+v", overlap, got.Drift)
		}
	}
}

// TestIncrementalNoEventCaughtByFullEvery: a provider change that emitted
// no event is missed by the incremental diff until full_every has passed
// since the last full listing; that run lists in full and finds it.
func TestIncrementalNoEventCaughtByFullEvery(t *testing.T) {
	w := newWorld(t)
	var ids []string
	for i := range 5 {
		c := w.create(map[string]any{"email": fmt.Sprintf("e%d@example.com", i), "name": "E", "metadata": map[string]any{"plan": "free"}})
		id := c["id"].(string)
		ids = append(ids, id)
		w.exec(`INSERT INTO users (id, email, name, plan) VALUES (?, ?, ?, ?)`, id, fmt.Sprintf("e%d@example.com", i), "E", "free")
	}
	inc := &reconcile.Incremental{Store: w.j, FullEvery: 24 * time.Hour}
	if res := w.diff(inc); len(res.Drift) != 0 {
		t.Fatalf("in sync at first: %+v", res.Drift)
	}
	w.tick(time.Minute)
	if _, err := w.fake.UpdateCustomer(ids[2], map[string]any{"email": "silent@example.com"}); err != nil {
		t.Fatal(err)
	}
	w.hold(w.lastEvent()) // never listed: as if Stripe never created it
	for range 3 {
		w.tick(6 * time.Hour)
		res := w.diff(inc)
		if ir := res.Incremental(); !ir.Incremental {
			t.Fatalf("fell back before full_every: %s", *ir.Fallback)
		}
		if len(res.Drift) != 0 {
			t.Fatalf("the change without an event was found: %+v", res.Drift)
		}
	}
	if full := w.diff(nil); len(full.Drift) != 1 {
		t.Fatalf("full diff: %+v", full.Drift)
	}
	w.tick(6 * time.Hour) // a day since the full listing
	res := w.diff(inc)
	ir := res.Incremental()
	if ir.Incremental || ir.Fallback == nil || !strings.HasPrefix(*ir.Fallback, "full_every") {
		t.Fatalf("at full_every: %+v", ir)
	}
	if len(res.Drift) != 1 || res.Drift[0].ID != ids[2] || res.Drift[0].Kind != reconcile.KindChanged {
		t.Fatalf("at full_every: %+v", res.Drift)
	}
	// The next run is incremental again, over the fresh snapshot.
	w.tick(time.Minute)
	if res := w.diff(inc); !res.Incremental().Incremental || len(res.Drift) != 1 {
		t.Fatalf("after the full listing: %+v %+v", res.Incremental(), res.Drift)
	}
}

// seedWorld makes n customers, in sync locally, and returns their ids.
func seedWorld(w *world, n int) []string {
	var ids []string
	for i := range n {
		c := w.create(map[string]any{"email": fmt.Sprintf("e%d@example.com", i), "name": "E", "metadata": map[string]any{"plan": "free"}})
		id := c["id"].(string)
		ids = append(ids, id)
		w.exec(`INSERT INTO users (id, email, name, plan) VALUES (?, ?, ?, ?)`, id, fmt.Sprintf("e%d@example.com", i), "E", "free")
	}
	return ids
}

// noEvents hides the provider's events API (Clerk, a REST API without events:).
type noEvents struct{ providers.Provider }

func (p noEvents) Features() providers.Features {
	f := providers.FeaturesOf(p.Provider)
	keep := f
	keep.Events, keep.Deletions = nil, nil
	return f.Mask(keep)
}

// TestIncrementalFallbacks: a provider without an events API lists in full
// every run; a cursor older than the event retention less a day lists in
// full; afterwards the runs are incremental again.
func TestIncrementalFallbacks(t *testing.T) {
	w := newWorld(t)
	seedWorld(w, 3)
	inc := &reconcile.Incremental{Store: w.j, FullEvery: 90 * 24 * time.Hour}
	live := w.prov
	w.prov = noEvents{live}
	for range 2 {
		ir := w.diff(inc).Incremental()
		if ir.Incremental || ir.Fallback == nil || *ir.Fallback != reconcile.FallbackNoEventsAPI {
			t.Fatalf("without an events API: %+v", ir)
		}
		w.tick(time.Minute)
	}
	w.prov = live
	if ir := w.diff(inc).Incremental(); !ir.Incremental {
		t.Fatalf("with events, over the stored snapshot: %s", *ir.Fallback)
	}
	w.tick(29*24*time.Hour + time.Minute) // past 30 days less a day
	ir := w.diff(inc).Incremental()
	if ir.Incremental || ir.Fallback == nil || !strings.Contains(*ir.Fallback, "older than the provider's event retention") {
		t.Fatalf("an old cursor: %+v", ir)
	}
	w.tick(time.Minute)
	if ir := w.diff(inc).Incremental(); !ir.Incremental {
		t.Fatalf("after the full listing: %s", *ir.Fallback)
	}
}

// TestIncrementalForeignVersion: an event rendered in another API version
// is replaced by a live read of its object; when that read fails the
// resource is listed in full, and the report says why.
func TestIncrementalForeignVersion(t *testing.T) {
	w := newWorld(t)
	ids := seedWorld(w, 3)
	inc := &reconcile.Incremental{Store: w.j}
	w.diff(inc)
	w.tick(time.Minute)
	w.fake.SetEventAPIVersion(stripefake.OldAPIVersion)
	if _, err := w.fake.UpdateCustomer(ids[0], map[string]any{"email": "new@example.com"}); err != nil {
		t.Fatal(err)
	}
	w.fake.SetEventAPIVersion("")
	res := w.diff(inc)
	if ir := res.Incremental(); !ir.Incremental {
		t.Fatalf("re-fetchable: %s", *ir.Fallback)
	}
	if got, want := driftText(res), driftText(w.diff(nil)); got != want {
		t.Fatalf("incremental\n%s\nfull\n%s", got, want)
	}
	w.tick(time.Minute)
	w.fake.SetEventAPIVersion(stripefake.OldAPIVersion)
	if _, err := w.fake.UpdateCustomer(ids[1], map[string]any{"email": "newer@example.com"}); err != nil {
		t.Fatal(err)
	}
	w.fake.SetEventAPIVersion("")
	w.fake.Forbid(ids[1])
	res = w.diff(inc)
	ir := res.Incremental()
	if ir.Incremental || ir.Fallback == nil || !strings.Contains(*ir.Fallback, "could not be re-fetched") {
		t.Fatalf("not re-fetchable: %+v", ir)
	}
}

// hideOne is a provider whose listing leaves out one record that a Get
// still finds (a customer of a test clock the key may not list, a WorkOS
// user of another directory).
type hideOne struct {
	providers.Provider
	id string
}

func (h hideOne) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	return h.Provider.List(ctx, resource, func(r providers.Record) error {
		if r.ID == h.id {
			return nil
		}
		return fn(r)
	})
}

func (h hideOne) Features() providers.Features {
	f := providers.FeaturesOf(h.Provider)
	keep := f
	keep.Paths = nil // listed through List above
	return f.Mask(keep)
}

// TestIncrementalUnlistedRecordStaysExists: a local record the listing
// never returns is missing_remote "exists" in a full diff; an incremental
// run whose live read finds it must not take it into the snapshot (and then
// call it in sync, or plan an update for it).
func TestIncrementalUnlistedRecordStaysExists(t *testing.T) {
	w := newWorld(t)
	ids := seedWorld(w, 4)
	w.exec(`UPDATE users SET name = 'Local' WHERE id = ?`, ids[1])
	w.prov = hideOne{w.prov, ids[1]}
	inc := &reconcile.Incremental{Store: w.j}
	w.tick(10 * time.Minute) // the seeding's events before the overlap: only the live read meets the record
	w.diff(inc)              // lists in full: no snapshot yet
	for range 2 {
		w.tick(time.Minute)
		res := w.diff(inc)
		if ir := res.Incremental(); !ir.Incremental {
			t.Fatalf("fell back: %s", *ir.Fallback)
		}
		full := w.diff(nil)
		if got, want := driftText(res), driftText(full); got != want {
			t.Fatalf("incremental\n%s\nfull\n%s", got, want)
		}
		if !strings.Contains(driftText(full), "missing_remote "+ids[1]+" exists") {
			t.Fatalf("full diff: %s", driftText(full))
		}
	}
}
