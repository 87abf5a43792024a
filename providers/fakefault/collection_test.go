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

func TestFieldsAt(t *testing.T) {
	src := map[string]any{"a": 1}
	fl := FieldsAt(func(int) map[string]any { return src }, 0)
	fl["b"] = 2
	if len(src) != 1 {
		t.Error("FieldsAt returned the caller's map")
	}
	if FieldsAt(nil, 3) == nil || FieldsAt(func(int) map[string]any { return nil }, 0) == nil {
		t.Error("nil fields gave a nil map")
	}
}
