package fakefault

import "slices"

// Page is one page of a cursor walk (CursorPage).
type Page[E any] struct {
	Items []E // in list order
	// MoreBefore and MoreAfter: an accepted entry lies before the first
	// item, or after the last one, in list order (both false when Items
	// is empty).
	MoreBefore, MoreAfter bool
}

// CursorPage is the cursor page walk the in-repo fakes share. The list
// has n entries, at(k) being the k-th in list order; ok says whether an
// entry is listed at all (filters, deleted objects). bound is the cursor's
// place in the list (0..n), found by the caller, which also answers an
// unknown cursor with its own API's error. forward takes the first limit
// accepted entries at positions >= bound (an "after" cursor), !forward the
// last limit accepted entries at positions < bound (a "before" cursor).
func CursorPage[E any](n int, at func(k int) E, ok func(E) bool, bound, limit int, forward bool) Page[E] {
	bound = min(max(bound, 0), n)
	var p Page[E]
	first, last := -1, -1 // list positions of the first and last item
	if forward {
		for k := bound; k < n && len(p.Items) < limit; k++ {
			if e := at(k); ok(e) {
				p.Items = append(p.Items, e)
				if first < 0 {
					first = k
				}
				last = k
			}
		}
	} else {
		for k := bound - 1; k >= 0 && len(p.Items) < limit; k-- {
			if e := at(k); ok(e) {
				p.Items = append(p.Items, e)
				if last < 0 {
					last = k
				}
				first = k
			}
		}
		slices.Reverse(p.Items)
	}
	if len(p.Items) == 0 {
		return p
	}
	for k := first - 1; k >= 0 && !p.MoreBefore; k-- {
		p.MoreBefore = ok(at(k))
	}
	for k := last + 1; k < n && !p.MoreAfter; k++ {
		p.MoreAfter = ok(at(k))
	}
	return p
}
