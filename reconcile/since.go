package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
)

// SinceResult is what CompareSince read of each resource's changes feed.
type SinceResult struct {
	// Coverage is, per resource, where its changes came from and whether
	// deletions are in them.
	Coverage map[string]providers.Coverage
	// Changed counts, per resource, the distinct ids the feed named.
	Changed map[string]int
}

// CompareSince is Compare over only the records the provider changed since
// since (diff --since): per resource, the ids providers.ChangesSince names
// are compared with their local rows (the store's Get by key) exactly as
// Compare compares a full listing, under the same modes and the same
// planning; nothing else of either side is read. The provider side of a
// changed id is its current state: the listed record for a listing's change
// (Clerk's updated_at order, REST's updated_after filter: the listing is
// the current state), a Get for an event's (an event's object may be older
// than a later change not yet listed, or in another API version). An id
// whose Get answers deleted (a deletion event's, or any) and that the app
// still has is missing_remote, confirmed by that same Get; one the app
// lacks is missing_local.
//
// The results are scoped (ResourceResult.Scoped): the brake's share and the
// mass-delete guard count every live local record of the resource, not the
// few compared. The plan is the engine's own: Reconfirm, the guards, the
// brake and Apply take it as they take Compare's.
func (e *Engine) CompareSince(ctx context.Context, resources []*Resource, mode Mode, since time.Time) (*Result, *SinceResult, error) {
	sr := &SinceResult{Coverage: map[string]providers.Coverage{}, Changed: map[string]int{}}
	sp := &sinceProvider{Provider: e.Provider, changes: map[string]map[string]providers.Change{}, status: map[string]providers.RemoteStatus{},
		concurrency: e.ConfirmConcurrency}
	ss := &sinceStore{Store: e.Store, keys: map[string][]string{}}
	for _, r := range resources {
		res := r.Table.Resource
		latest := map[string]providers.Change{}
		cov, err := providers.ChangesSince(ctx, e.Provider, res, since, func(c providers.Change) error {
			if c.ID == "" {
				return fmt.Errorf("provider named a changed %s without an id", res)
			}
			// The latest change per id; of changes at the same time the
			// one delivered last (the provider's own order).
			if prev, ok := latest[c.ID]; !ok || !c.At.Before(prev.At) {
				latest[c.ID] = c
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("reading what %s changed in %s since %s: %w", e.Provider.Name(), res, since.UTC().Format(time.RFC3339), err)
		}
		sr.Coverage[res], sr.Changed[res] = cov, len(latest)
		ids := make([]string, 0, len(latest))
		for id := range latest {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		sp.changes[res] = latest
		ss.keys[r.Table.Name] = ids
		e.logger().Debug("changes since", "resource", res, "since", since.UTC().Format(time.RFC3339), "source", cov.Source,
			"ids", len(ids), "deletions_covered", cov.Deletions)
	}
	inner := *e
	inner.Provider, inner.Store = sp, ss
	inner.Incremental = nil // a window's comparison neither reads nor stores a snapshot
	result, err := inner.Compare(ctx, resources, mode)
	if err != nil {
		return nil, nil, err
	}
	for _, rr := range result.Resources {
		rr.Scoped = true
		n, err := liveCount(ctx, e.Store, rr.Resource.Table)
		if err != nil {
			return nil, nil, fmt.Errorf("counting local %s: %w", rr.Resource.Table.Resource, err)
		}
		rr.BrakeBase = max(n, 1)
	}
	return result, sr, nil
}

// liveCount is how many live rows t has: the store's Count, or a scan.
func liveCount(ctx context.Context, store localstate.Store, t *localstate.Table) (int, error) {
	if count := store.Features().Count; count != nil {
		return count(ctx, t)
	}
	n := 0
	err := store.Scan(ctx, t, nil, func(localstate.Row) error { n++; return nil })
	return n, err
}

// sinceProvider scopes a provider to the ids a changes feed named: List
// yields each one's current state (the listed record of a listing's change,
// a Get otherwise) and nothing else; a Get of an id whose read found it
// gone or inaccessible answers from that read (the deletion check costs no
// second call). Features masks every capability beyond List and Get.
type sinceProvider struct {
	providers.Provider
	changes     map[string]map[string]providers.Change // resource -> id -> latest change
	concurrency int

	mu     sync.Mutex
	status map[string]providers.RemoteStatus // resource+"\x00"+id -> a read's deleted or inaccessible
}

func (p *sinceProvider) Features() providers.Features {
	return providers.FeaturesOf(p.Provider).Mask(providers.Features{})
}

func (p *sinceProvider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	latest := p.changes[resource]
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var get []string
	for _, id := range ids {
		if c := latest[id]; c.Record == nil || c.EventID != "" || c.Deleted {
			get = append(get, id)
		}
	}
	got, err := p.getAll(ctx, resource, get)
	if err != nil {
		return err
	}
	for _, id := range ids {
		rec, ok := got[id]
		if !ok {
			c := latest[id]
			if c.Record == nil || c.EventID != "" || c.Deleted {
				continue // gone or inaccessible: the deletion check answers from p.status
			}
			rec = *c.Record
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// getAll reads ids with the provider's Get, a few at a time: the present
// ones are returned, the others' status kept for Get. A failed read fails
// the listing (a changed record that cannot be read cannot be compared).
func (p *sinceProvider) getAll(ctx context.Context, resource string, ids []string) (map[string]providers.Record, error) {
	out := make(map[string]providers.Record, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	n := p.concurrency
	if n <= 0 {
		n = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		next  int
		first error
	)
	for w := 0; w < min(n, len(ids)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p.mu.Lock()
				if next >= len(ids) || first != nil {
					p.mu.Unlock()
					return
				}
				id := ids[next]
				next++
				p.mu.Unlock()
				rec, st, err := p.Provider.Get(ctx, resource, id)
				p.mu.Lock()
				switch {
				case err != nil:
					if first == nil {
						first = fmt.Errorf("reading changed %s %s: %w", resource, id, err)
						var auth *providers.AuthError
						if errors.As(err, &auth) {
							first = err
						}
					}
					cancel()
				case st == providers.StatusPresent:
					out[id] = rec
				default:
					p.status[resource+"\x00"+id] = st
				}
				p.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

func (p *sinceProvider) Get(ctx context.Context, resource, id string) (providers.Record, providers.RemoteStatus, error) {
	p.mu.Lock()
	st, ok := p.status[resource+"\x00"+id]
	p.mu.Unlock()
	if ok {
		return providers.Record{}, st, nil
	}
	return p.Provider.Get(ctx, resource, id)
}

// sinceStore scopes a store to the rows of the ids a changes feed named:
// Scan reads each by key (or, on a table whose key has no index, filters
// one scan). Features keeps the store's key index and transactions, states
// the table's duplicate keys (a write by such a key would change every row
// sharing it), and drops Count: the scoped scan sees a few rows.
type sinceStore struct {
	localstate.Store
	keys map[string][]string // table name -> sorted ids
}

func (s *sinceStore) Features() localstate.Features {
	f := s.Store.Features()
	f.Count = nil
	if f.KeyHealth != nil {
		f.KeyHealth = s.KeyHealth
	}
	return f
}

func (s *sinceStore) Scan(ctx context.Context, t *localstate.Table, cols []string, fn func(localstate.Row) error) error {
	keys := s.keys[t.Name]
	if len(keys) == 0 {
		return nil
	}
	ki := s.Store.Features().KeyIndexed
	if ki != nil && ki(ctx, t) || len(keys) <= 8 {
		for _, k := range keys {
			row, found, err := s.Store.Get(ctx, t, cols, k)
			if err != nil {
				return err
			}
			if found {
				if err := fn(row); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return s.Store.Scan(ctx, t, cols, func(row localstate.Row) error {
		if _, want := slices.BinarySearch(keys, row.Key); want {
			return fn(row)
		}
		return nil
	})
}

// KeyHealth passes on the table's duplicate keys; keyless rows are no
// concern of a comparison by key.
func (s *sinceStore) KeyHealth(ctx context.Context, t *localstate.Table) (localstate.KeyHealth, error) {
	keyHealth := s.Store.Features().KeyHealth
	if keyHealth == nil {
		return localstate.KeyHealth{}, nil
	}
	kh, err := keyHealth(ctx, t)
	kh.NullKeys = 0
	return kh, err
}
