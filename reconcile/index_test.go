package reconcile

import (
	"fmt"
	"github.com/reconctl/reconctl/localstate"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestLocalIndex: the open-addressing index finds every key it was given
// and no other, refuses a duplicate, grows past a size hint far too small,
// keeps each entry's hashes, updated_at and seen bit, and finds keys
// looked up in the order added, in reverse and shuffled alike.
func TestLocalIndex(t *testing.T) {
	// Keys in increasing order (no table until lookups need one) and not.
	for _, sortedKeys := range []bool{true, false} {
		for _, hint := range []int{1, 5000} {
			testLocalIndex(t, hint, sortedKeys)
		}
	}
	// Without a separate exact hash or updated_at: the value hash and 0.
	x := newLocalIndex(4, false, false)
	x.add("a", 9, 9, 123, localstate.RowVersion{})
	if e := x.lookup("a"); x.exact(e) != 9 || x.updated(e) != 0 {
		t.Errorf("exact %d updated %d, want 9 and 0", x.exact(e), x.updated(e))
	}
	// Sorted keys, then one out of order, then a repeat of an early key.
	x = newLocalIndex(4, false, false)
	for _, k := range []string{"a", "b", "c"} {
		x.add(k, 1, 1, 0, localstate.RowVersion{})
	}
	if !x.add("B", 1, 1, 0, localstate.RowVersion{}) || x.add("a", 1, 1, 0, localstate.RowVersion{}) || x.add("c", 1, 1, 0, localstate.RowVersion{}) || x.len() != 4 {
		t.Errorf("after an out-of-order key a repeat was added (len %d)", x.len())
	}
	if x.add("c", 1, 1, 0, localstate.RowVersion{}) || x.add("b", 1, 1, 0, localstate.RowVersion{}) {
		t.Error("a repeat was added")
	}
}

func testLocalIndex(t *testing.T, hint int, sortedKeys bool) {
	t.Helper()
	{
		const n = 5000
		name := func(i int) string {
			if sortedKeys {
				return fmt.Sprintf("k%06d", i)
			}
			return "k" + strconv.Itoa(i)
		}
		x := newLocalIndex(hint, true, true)
		for i := range n {
			k := name(i)
			if !x.add(k, uint64(i), uint64(i)+1e6, int64(i)*7, localstate.RowVersion{}) {
				t.Fatalf("hint %d: add %s refused", hint, k)
			}
		}
		if x.add(name(42), 0, 0, 0, localstate.RowVersion{}) || x.add(name(n-1), 0, 0, 0, localstate.RowVersion{}) || x.len() != n {
			t.Fatalf("hint %d: a duplicate was added (len %d)", hint, x.len())
		}
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		rev := make([]int, n)
		for i := range rev {
			rev[i] = n - 1 - i
		}
		shuf := append([]int(nil), order...)
		rand.Shuffle(n, func(a, b int) { shuf[a], shuf[b] = shuf[b], shuf[a] })
		for _, seq := range [][]int{order, rev, shuf} {
			for _, i := range seq {
				k := name(i)
				e := x.lookup(k)
				if e < 0 || x.key(e) != k || x.hash(e) != uint64(i) || x.exact(e) != uint64(i)+1e6 || x.updated(e) != int64(i)*7 {
					t.Fatalf("hint %d: lookup %s = %d", hint, k, e)
				}
			}
		}
		for _, k := range []string{"k", name(5000), "K1", "k01", "", "k000001x"} {
			if e := x.lookup(k); e >= 0 {
				t.Errorf("hint %d: lookup %q found entry %d (%s)", hint, k, e, x.key(e))
			}
		}
		for i := 0; i < n; i += 3 {
			x.markSeen(i)
		}
		for i := range n {
			if x.isSeen(i) != (i%3 == 0) {
				t.Fatalf("hint %d: entry %d seen = %v", hint, i, x.isSeen(i))
			}
		}
	}
}
