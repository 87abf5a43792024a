// Package providertest is the conformance suite every provider passes
// against its own fake server (the rclone fstest idea): complete listings
// across many pages, single-object status, recovery from throttling and
// server errors, loud failure when faults persist, prompt cancellation.
//
// A provider's test supplies a Harness that seeds its fake, injects faults
// and builds the provider pointed at it; Run does the rest.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/fakefault"
	"github.com/reconctl/reconctl/providers/httpx"
)

// Faults are what the suite asks a fake to inject. Every-N counters run
// over all requests the fake serves; 0 disables a fault.
type Faults struct {
	RateLimitEvery   int           // every N-th request answers 429
	ServerErrorEvery int           // every N-th request answers 5xx (1 = every request)
	TruncateEvery    int           // every N-th successful body is cut short
	Latency          time.Duration // added to every request
}

// Config is how the suite wants a provider instance built.
type Config struct {
	Concurrency int // 0 = the provider's default
	Retries     int // as providers.Options.Retries
}

// Fixture is one fresh fake environment for one subtest.
type Fixture interface {
	// Seed creates n records of resource and returns their ids.
	Seed(t *testing.T, resource string, n int) []string
	// Delete removes the object so that Get reports StatusDeleted.
	Delete(t *testing.T, resource, id string)
	// NeverExisted returns an id of resource's shape that was never created.
	NeverExisted(resource string) string
	// SetFaults replaces the injected faults.
	SetFaults(Faults)
	// Faulted is how many faults (429, 5xx, truncated bodies) the fake has
	// injected so far, so a recovery check knows it was tested.
	Faulted() int
	// Provider builds the provider pointed at the fake. It should use a
	// short retry backoff so the suite stays fast.
	Provider(t *testing.T, cfg Config) providers.Provider
}

// Harness describes a provider under test.
type Harness struct {
	// Resource is listed and fetched by the checks (e.g. "customers").
	Resource string
	// New builds a fresh fixture (a new fake) for each subtest.
	New func(t *testing.T) Fixture
	// Concurrencies are the Concurrency values listing is checked with;
	// nil means just the provider's default.
	Concurrencies []int
}

// ListN is how many records the listing checks seed: several pages at
// every page size providers use (10, 100, 500) plus a partial last page.
const ListN = 537

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	if h.Resource == "" || h.New == nil {
		t.Fatal("providertest: Harness needs Resource and New")
	}
	concs := h.Concurrencies
	if len(concs) == 0 {
		concs = []int{0}
	}
	for _, c := range concs {
		t.Run(fmt.Sprintf("ListComplete/concurrency=%d", c), func(t *testing.T) {
			t.Parallel()
			fx := h.New(t)
			ids := fx.Seed(t, h.Resource, ListN)
			p := fx.Provider(t, Config{Concurrency: c})
			got := listIDs(t, p, h.Resource)
			requireSameIDs(t, ids, got)
		})
	}
	t.Run("ListEmpty", func(t *testing.T) {
		t.Parallel()
		fx := h.New(t)
		p := fx.Provider(t, Config{})
		if got := listIDs(t, p, h.Resource); len(got) != 0 {
			t.Fatalf("empty fake listed %d records", len(got))
		}
	})
	t.Run("Get", func(t *testing.T) { t.Parallel(); checkGet(t, h) })
	t.Run("ListPaths", func(t *testing.T) { t.Parallel(); checkListPaths(t, h) })
	t.Run("UnknownResource", func(t *testing.T) {
		t.Parallel()
		fx := h.New(t)
		p := fx.Provider(t, Config{})
		var ure *providers.UnknownResourceError
		err := p.List(context.Background(), "no_such_resource", func(providers.Record) error { return nil })
		if !errors.As(err, &ure) {
			t.Errorf("List(no_such_resource) = %v, want *providers.UnknownResourceError", err)
		}
		_, _, err = p.Get(context.Background(), "no_such_resource", "x")
		if !errors.As(err, &ure) {
			t.Errorf("Get(no_such_resource) = %v, want *providers.UnknownResourceError", err)
		}
	})
	t.Run("RecoversFrom429", func(t *testing.T) {
		t.Parallel()
		checkRecovery(t, h, Faults{RateLimitEvery: 3})
	})
	t.Run("RecoversFrom5xx", func(t *testing.T) {
		t.Parallel()
		checkRecovery(t, h, Faults{ServerErrorEvery: 4})
	})
	t.Run("RecoversFromTruncatedBodies", func(t *testing.T) {
		t.Parallel()
		checkRecovery(t, h, Faults{TruncateEvery: 3})
	})
	t.Run("FailsWhenFaultsPersist", func(t *testing.T) { t.Parallel(); checkPersistentFailure(t, h) })
	t.Run("CallbackErrorStops", func(t *testing.T) {
		t.Parallel()
		fx := h.New(t)
		fx.Seed(t, h.Resource, 150)
		p := fx.Provider(t, Config{})
		stop := errors.New("stop here")
		n := 0
		err := p.List(context.Background(), h.Resource, func(providers.Record) error {
			n++
			if n == 5 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("List returned %v, want the callback's error", err)
		}
		if n != 5 {
			t.Fatalf("callback called %d times after returning an error at 5", n)
		}
	})
	t.Run("Cancel", func(t *testing.T) { t.Parallel(); checkCancel(t, h) })
}

func listIDs(t *testing.T, p providers.Provider, resource string) []string {
	t.Helper()
	var ids []string
	var inFn atomic.Int32
	err := p.List(context.Background(), resource, func(r providers.Record) error {
		if inFn.Add(1) != 1 {
			t.Error("fn called concurrently")
		}
		defer inFn.Add(-1)
		if r.ID == "" {
			t.Error("record without ID")
		}
		if len(r.Data) == 0 {
			t.Errorf("record %s without data", r.ID)
		}
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%s): %v", resource, err)
	}
	return ids
}

// requireSameIDs checks that got has every id of want exactly once and nothing else.
func requireSameIDs(t *testing.T, want, got []string) {
	t.Helper()
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	var dup, missing []string
	for id, n := range count {
		if n > 1 {
			dup = append(dup, id)
		}
	}
	wantSet := map[string]bool{}
	for _, id := range want {
		wantSet[id] = true
		if count[id] == 0 {
			missing = append(missing, id)
		}
	}
	var extra []string
	for id := range count {
		if !wantSet[id] {
			extra = append(extra, id)
		}
	}
	sort.Strings(dup)
	sort.Strings(missing)
	sort.Strings(extra)
	if len(dup)+len(missing)+len(extra) > 0 {
		t.Fatalf("listed %d records for %d seeded: %d duplicated %v, %d missing %v, %d unexpected %v",
			len(got), len(want), len(dup), head(dup), len(missing), head(missing), len(extra), head(extra))
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

func checkGet(t *testing.T, h Harness) {
	fx := h.New(t)
	ids := fx.Seed(t, h.Resource, 3)
	fx.Delete(t, h.Resource, ids[1])
	p := fx.Provider(t, Config{})
	ctx := context.Background()

	rec, st, err := p.Get(ctx, h.Resource, ids[0])
	if err != nil || st != providers.StatusPresent {
		t.Fatalf("Get(present %s) = %v, %v; want present", ids[0], st, err)
	}
	if rec.ID != ids[0] || len(rec.Data) == 0 {
		t.Errorf("Get(present) record = %+v", rec)
	}
	_, st, err = p.Get(ctx, h.Resource, ids[1])
	if err != nil || st != providers.StatusDeleted {
		t.Errorf("Get(deleted %s) = %v, %v; want deleted", ids[1], st, err)
	}
	missing := fx.NeverExisted(h.Resource)
	_, st, err = p.Get(ctx, h.Resource, missing)
	if err != nil || st != providers.StatusDeleted {
		t.Errorf("Get(never existed %s) = %v, %v; want deleted", missing, st, err)
	}
	// The deleted record must not be listed.
	got := listIDs(t, p, h.Resource)
	requireSameIDs(t, []string{ids[0], ids[2]}, got)
}

func checkRecovery(t *testing.T, h Harness, f Faults) {
	fx := h.New(t)
	ids := fx.Seed(t, h.Resource, ListN)
	fx.SetFaults(f)
	p := fx.Provider(t, Config{Retries: 8})
	requireSameIDs(t, ids, listIDs(t, p, h.Resource))
	if fx.Faulted() == 0 {
		t.Fatalf("the fake injected no faults for %+v", f)
	}
	_, st, err := p.Get(context.Background(), h.Resource, ids[0])
	if err != nil || st != providers.StatusPresent {
		// A Get lands on a faulty request now and then; it must recover too.
		t.Errorf("Get under faults = %v, %v; want present", st, err)
	}
}

func checkPersistentFailure(t *testing.T, h Harness) {
	fx := h.New(t)
	fx.Seed(t, h.Resource, 250)
	p := fx.Provider(t, Config{Retries: 2})
	fx.SetFaults(Faults{ServerErrorEvery: 1})
	n := 0
	err := p.List(context.Background(), h.Resource, func(providers.Record) error { n++; return nil })
	if err == nil {
		t.Fatalf("List with every request failing returned nil after %d records: a silently partial listing", n)
	}
	if !strings.Contains(err.Error(), h.Resource) {
		t.Errorf("List error %q does not name the resource %q", err, h.Resource)
	}
	_, st, err := p.Get(context.Background(), h.Resource, "whatever")
	if err == nil {
		t.Errorf("Get with every request failing = %v, nil error; want an error (unconfirmed)", st)
	}

	// Failing in the middle: the first pages succeed, then everything fails.
	fx2 := h.New(t)
	fx2.Seed(t, h.Resource, ListN)
	p2 := fx2.Provider(t, Config{Retries: 2, Concurrency: 1})
	got := 0
	err = p2.List(context.Background(), h.Resource, func(providers.Record) error {
		got++
		if got == 1 {
			fx2.SetFaults(Faults{ServerErrorEvery: 1})
		}
		return nil
	})
	if err == nil {
		t.Fatalf("List failing mid-way returned nil after %d of %d records", got, ListN)
	}
	if !strings.Contains(err.Error(), "page") {
		t.Errorf("mid-way List error %q does not say which page failed", err)
	}
}

// checkListPaths: a provider that lists decoding only some paths
// (providers.PathLister) lists the same records as List, with the same
// ID and UpdatedAt and, at every asked path, the same value or the same
// absence (a null stays null).
func checkListPaths(t *testing.T, h Harness) {
	fx := h.New(t)
	fx.Seed(t, h.Resource, 25)
	p := fx.Provider(t, Config{})
	pl := providers.FeaturesOf(p).Paths
	if pl == nil {
		t.Skip("the provider has no ListPaths")
	}
	ctx := context.Background()
	whole := map[string]providers.Record{}
	var paths [][]string
	err := p.List(ctx, h.Resource, func(r providers.Record) error {
		if len(whole) == 0 {
			paths = samplePaths(r.Data)
		}
		whole[r.ID] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = pl.ListPaths(ctx, h.Resource, paths, func(r providers.Record) error {
		n++
		w, ok := whole[r.ID]
		if !ok {
			return fmt.Errorf("ListPaths listed %s, List did not", r.ID)
		}
		if !r.UpdatedAt.Equal(w.UpdatedAt) {
			t.Errorf("%s: UpdatedAt %v, List %v", r.ID, r.UpdatedAt, w.UpdatedAt)
		}
		for _, path := range paths {
			gv, gok := providers.ValueAt(r.Data, path)
			wv, wok := providers.ValueAt(w.Data, path)
			if gok != wok || !reflect.DeepEqual(gv, wv) {
				t.Errorf("%s %s: %#v (present %v), List %#v (present %v)", r.ID, strings.Join(path, "."), gv, gok, wv, wok)
			}
		}
		for k := range r.Data {
			if _, ok := w.Data[k]; !ok {
				t.Errorf("%s: ListPaths has %q, List has not", r.ID, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(whole) {
		t.Errorf("ListPaths listed %d records, List %d", n, len(whole))
	}
}

// samplePaths picks paths of an object's shape: its first top-level keys,
// one step into an object and into an array, and a path no record has.
func samplePaths(data map[string]any) [][]string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	paths := [][]string{{"no_such_field"}, {"no_such", "path"}}
	for i, k := range keys {
		switch v := data[k].(type) {
		case map[string]any:
			for sub := range v {
				paths = append(paths, []string{k, sub})
				break
			}
			paths = append(paths, []string{k, "no_such_key"})
		case []any:
			paths = append(paths, []string{k, "0"}, []string{k, "7"})
		default:
			if i%2 == 0 {
				paths = append(paths, []string{k})
			}
		}
	}
	return paths
}

func checkCancel(t *testing.T, h Harness) {
	fx := h.New(t)
	fx.Seed(t, h.Resource, ListN)
	fx.SetFaults(Faults{Latency: 30 * time.Millisecond})
	p := fx.Provider(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt time.Time
	err := p.List(ctx, h.Resource, func(providers.Record) error {
		if cancelledAt.IsZero() {
			cancelledAt = time.Now()
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("List after cancel returned %v, want context.Canceled", err)
	}
	if d := time.Since(cancelledAt); d > 2*time.Second {
		t.Errorf("List took %v to return after cancel", d)
	}

	// Cancel while the client waits out a backoff or a slow response.
	fx.SetFaults(Faults{ServerErrorEvery: 1, Latency: 30 * time.Millisecond})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, _, err = p.Get(ctx2, h.Resource, "whatever")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get under a 150ms deadline with failing server = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Get took %v to honour a 150ms deadline", d)
	}
}

// FastRetries is an httpx.Config tweak for a provider's New that keeps
// retry backoff tiny, so fault tests stay fast.
func FastRetries(c *httpx.Config) {
	c.BaseDelay = time.Millisecond
	c.MaxDelay = 5 * time.Millisecond
	c.MaxRetryAfter = 5 * time.Millisecond
}

// Options is opts as a provider test builds a provider against its fake:
// APIBase set to base (when not empty), APIKeyEnv to keyEnv unless opts
// names one, and no client-side pacing (RPS -1) unless opts sets a rate.
func Options(opts providers.Options, base, keyEnv string) providers.Options {
	if base != "" {
		opts.APIBase = base
	}
	if opts.APIKeyEnv == "" {
		opts.APIKeyEnv = keyEnv
	}
	if opts.RPS == 0 {
		opts.RPS = -1 // no client-side pacing against the local fake
	}
	return opts
}

// FakeFaults is fl in the shared fakes' terms (workosfake, clerkfake,
// restfake take fakefault.Faults).
func (fl Faults) FakeFaults() fakefault.Faults {
	return fakefault.Faults{RateLimitEvery: fl.RateLimitEvery, ServerErrorEvery: fl.ServerErrorEvery,
		TruncateEvery: fl.TruncateEvery, Latency: fl.Latency}
}
