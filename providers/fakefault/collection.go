package fakefault

import "slices"

// Collection is a fake server's store of one kind of object: by id, and
// in list order (Cmp ascending), sorted lazily. Every in-repo fake keeps
// its objects in one (each with its own entry type and order).
type Collection[E any] struct {
	ByID   map[string]E
	Sorted []E // ascending by Cmp once SortIfNeeded has run
	Cmp    func(a, b E) int
	dirty  bool
}

// NewCollection returns an empty collection ordered by cmp.
func NewCollection[E any](cmp func(a, b E) int) Collection[E] {
	return Collection[E]{ByID: map[string]E{}, Cmp: cmp}
}

// Add stores e under id, appending it to the list order (an entry older
// than the last marks the order for sorting).
func (c *Collection[E]) Add(id string, e E) {
	c.ByID[id] = e
	if n := len(c.Sorted); n > 0 && c.Cmp(e, c.Sorted[n-1]) < 0 {
		c.dirty = true
	}
	c.Sorted = append(c.Sorted, e)
}

// SortIfNeeded restores the list order after out-of-order adds.
func (c *Collection[E]) SortIfNeeded() {
	if c.dirty {
		slices.SortFunc(c.Sorted, c.Cmp)
		c.dirty = false
	}
}
