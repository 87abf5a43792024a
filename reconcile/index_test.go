package reconcile

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestLocalIndex: the open-addressing index finds every key it was given
// and no other, refuses a duplicate, grows past a size hint far too small,
// keeps each entry's hashes, updated_at and seen bit, and finds keys
// looked up in the order added, in reverse and shuffled alike.
func TestLocalIndex(t *testing.T) {
	for _, hint := range []int{1, 5000} {
		const n = 5000
		x := newLocalIndex(hint, true, true)
		for i := range n {
			k := "k" + strconv.Itoa(i)
			if !x.add(k, uint64(i), uint64(i)+1e6, int64(i)*7) {
				t.Fatalf("hint %d: add %s refused", hint, k)
			}
		}
		if x.add("k42", 0, 0, 0) || x.len() != n {
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
				k := "k" + strconv.Itoa(i)
				e := x.lookup(k)
				if e < 0 || x.key(e) != k || x.hash(e) != uint64(i) || x.exact(e) != uint64(i)+1e6 || x.updated(e) != int64(i)*7 {
					t.Fatalf("hint %d: lookup %s = %d", hint, k, e)
				}
			}
		}
		for _, k := range []string{"k", "k5000", "K1", "k01", ""} {
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
	// Without a separate exact hash or updated_at: the value hash and 0.
	x := newLocalIndex(4, false, false)
	x.add("a", 9, 9, 123)
	if e := x.lookup("a"); x.exact(e) != 9 || x.updated(e) != 0 {
		t.Errorf("exact %d updated %d, want 9 and 0", x.exact(e), x.updated(e))
	}
}
