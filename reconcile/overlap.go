package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// Reading both sides at once (issue #16): the store's scan and the
// provider's listing (its decoding) run together, each on its own
// goroutine, and one consumer goroutine owns the index and every result.
// It indexes the local rows as they come and compares each listed record
// whose key is indexed already (both sides usually come in the same key
// order, so most records compare as they arrive); a record whose key is
// not indexed yet waits, copied, and is compared once the scan has gone
// further, or when it ends (a create waits to the end). At most maxWaiting
// records wait: then the consumer reads only the local side and the
// provider's reading waits, so memory stays bounded when the two orders
// differ. The results are what the one-after-the-other reading gives: the
// creates, candidates and duplicate samples are put back in listing order.

// maxWaiting bounds the listed records waiting for their key's local row.
var maxWaiting = 1 << 16 // a variable for tests

// seqID is a duplicated id and its place in the listing.
type seqID struct {
	seq int
	id  string
}

// waiter is a listed record waiting for the scan (its own copy of vals).
type waiter struct {
	it item
}

// indexAndList reads the local side into the index and compares the
// provider side with it, the two read at once (see above).
func (run *resourceRun) indexAndList(ctx context.Context) error {
	hint := run.newIndex(ctx)
	run.listSetup(hint)
	run.overlapping = true
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lp := newPipe(len(run.cols))
	rp := newPipe(len(run.r.fields))
	merged := make(chan struct{})
	go func() {
		defer close(merged)
		run.merge(lp, rp)
	}()
	var scanErr error
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		scanErr = run.scanInto(ctx, lp)
		lp.close()
		if scanErr != nil {
			cancel(errLocalFailed)
		}
	}()
	listErr := run.listInto(ctx, rp)
	rp.close()
	if listErr != nil {
		cancel(errRemoteFailed)
	}
	<-scanned
	<-merged
	// The local side's failure first, as when it was read first; unless
	// it is the cancellation the provider's failure caused.
	if scanErr != nil && !(listErr != nil && errors.Is(context.Cause(ctx), errRemoteFailed)) {
		return run.indexed(ctx, scanErr)
	}
	if listErr != nil {
		return run.listDone(listErr)
	}
	if err := run.indexed(ctx, nil); err != nil {
		return err
	}
	run.inListingOrder()
	return run.listDone(nil)
}

var (
	errLocalFailed  = errors.New("reading the local side failed")
	errRemoteFailed = errors.New("listing the provider side failed")
)

// merge is the consumer of both pipes: lp's rows are indexed, rp's records
// compared as soon as their key is indexed (see above).
func (run *resourceRun) merge(lp, rp *pipe) {
	var (
		waiting   []waiter
		waitKeys  = map[string]int{} // key -> how many of waiting have it
		indexed   int
		lastRetry int
	)
	// retry compares the waiting records whose key is indexed now, in
	// their order; the others keep waiting.
	retry := func() {
		kept := waiting[:0]
		for _, w := range waiting {
			if run.index.lookup(w.it.key) < 0 {
				kept = append(kept, w)
				continue
			}
			run.compareRemote(&w.it)
			if waitKeys[w.it.key]--; waitKeys[w.it.key] == 0 {
				delete(waitKeys, w.it.key)
			}
		}
		clear(waiting[len(kept):])
		waiting = kept
	}
	remote := rp.full
	for local := lp.full; local != nil; {
		in := remote
		if len(waiting) >= maxWaiting {
			in = nil // only the local side, until the waiting can go
		}
		select {
		case b, ok := <-local:
			if !ok {
				local = nil
				continue
			}
			for i := range b.items {
				run.addLocal(&b.items[i])
			}
			indexed += len(b.items)
			b.items = b.items[:0]
			lp.free <- b
			if len(waiting) > 0 && indexed-lastRetry >= max(len(waiting), 4096) {
				retry()
				lastRetry = indexed
			}
		case b, ok := <-in:
			if !ok {
				remote = nil
				continue
			}
			for i := range b.items {
				it := &b.items[i]
				if waitKeys[it.key] == 0 && run.index.lookup(it.key) >= 0 {
					run.compareRemote(it)
					continue
				}
				waitKeys[it.key]++
				waiting = append(waiting, waiter{it: item{key: it.key, seq: it.seq, upd: it.upd, at: it.at,
					vals: slices.Clone(it.vals), present: slices.Clone(it.present)}})
			}
			b.items = b.items[:0]
			rp.free <- b
		}
	}
	// The local side is complete: what waits is compared in order (a key
	// still not indexed is a create), then the rest of the listing.
	for i := range waiting {
		run.compareRemote(&waiting[i].it)
	}
	waiting = nil
	if remote != nil {
		for b := range remote {
			for i := range b.items {
				run.compareRemote(&b.items[i])
			}
			b.items = b.items[:0]
			rp.free <- b
		}
	}
}

// duplicateRemote counts an id the listing returned again: at once when
// the sides are read one after the other, in listing order at the end when
// they are read together (inListingOrder).
func (run *resourceRun) duplicateRemote(it *item) {
	if run.overlapping {
		run.dupSeq = append(run.dupSeq, seqID{seq: it.seq, id: it.key})
		return
	}
	run.rr.duplicateRemote(it.key)
}

// inListingOrder puts what the consumer compared out of listing order back
// in it: the creates, the candidates and the duplicates' samples.
func (run *resourceRun) inListingOrder() {
	if len(run.createSeq) != len(run.creates) {
		panic(fmt.Sprintf("reconcile: %d creates, %d places", len(run.creates), len(run.createSeq)))
	}
	perm := make([]int, len(run.creates))
	for i := range perm {
		perm[i] = i
	}
	slices.SortFunc(perm, func(a, b int) int { return cmp.Compare(run.createSeq[a], run.createSeq[b]) })
	creates := make([]pending, len(run.creates))
	for i, j := range perm {
		creates[i] = run.creates[j]
		run.createSeq[i] = 0
	}
	run.creates, run.createSeq = creates, nil
	slices.SortFunc(run.candidates, func(a, b candidate) int { return cmp.Compare(a.seq, b.seq) })
	slices.SortFunc(run.dupSeq, func(a, b seqID) int { return cmp.Compare(a.seq, b.seq) })
	for _, d := range run.dupSeq {
		run.rr.duplicateRemote(d.id)
	}
	run.dupSeq = nil
	run.overlapping = false
}
