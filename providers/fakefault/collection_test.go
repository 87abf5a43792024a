package fakefault

import (
	"cmp"
	"testing"
)

func TestCollectionOrder(t *testing.T) {
	c := NewCollection(func(a, b int) int { return cmp.Compare(a, b) })
	for i, v := range []int{3, 5, 1, 4} {
		c.Add(string(rune('a'+i)), v)
	}
	c.SortIfNeeded()
	if got := c.Sorted; len(got) != 4 || got[0] != 1 || got[3] != 5 || c.ByID["c"] != 1 {
		t.Errorf("sorted %v, byID %v", got, c.ByID)
	}
	c.Add("e", 9) // in order: stays appended
	if c.dirty || c.Sorted[4] != 9 {
		t.Errorf("in-order add: %v dirty=%v", c.Sorted, c.dirty)
	}
}
