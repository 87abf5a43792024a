package fakefault

import (
	"slices"
	"testing"
)

func TestCursorPage(t *testing.T) {
	list := []int{10, 11, 12, 13, 14, 15, 16, 17}
	at := func(k int) int { return list[k] }
	all := func(int) bool { return true }
	even := func(v int) bool { return v%2 == 0 }
	for _, tc := range []struct {
		name                  string
		ok                    func(int) bool
		bound, limit          int
		forward               bool
		want                  []int
		moreBefore, moreAfter bool
	}{
		{"first page", all, 0, 3, true, []int{10, 11, 12}, false, true},
		{"after cursor", all, 3, 3, true, []int{13, 14, 15}, true, true},
		{"last page exact", all, 5, 3, true, []int{15, 16, 17}, true, false},
		{"last page short", all, 6, 3, true, []int{16, 17}, true, false},
		{"past the end", all, 8, 3, true, nil, false, false},
		{"before cursor", all, 5, 3, false, []int{12, 13, 14}, true, true},
		{"before near start", all, 2, 3, false, []int{10, 11}, false, true},
		{"before at start", all, 0, 3, false, nil, false, false},
		{"filtered forward", even, 1, 2, true, []int{12, 14}, true, true},
		{"filtered forward end", even, 5, 2, true, []int{16}, true, false},
		{"filtered backward", even, 7, 2, false, []int{14, 16}, true, false},
		{"filtered backward start", even, 3, 5, false, []int{10, 12}, false, true},
		{"bound clamped high", all, 99, 2, false, []int{16, 17}, true, false},
		{"bound clamped low", all, -4, 2, true, []int{10, 11}, false, true},
		// Only the entry right next to the page is accepted on that side.
		{"more before is the neighbour", func(v int) bool { return v >= 12 }, 3, 2, true, []int{13, 14}, true, true},
		{"more after is the neighbour", func(v int) bool { return v <= 14 }, 4, 2, false, []int{12, 13}, true, true},
		{"none accepted", func(int) bool { return false }, 0, 3, true, nil, false, false},
	} {
		p := CursorPage(len(list), at, tc.ok, tc.bound, tc.limit, tc.forward)
		if !slices.Equal(p.Items, tc.want) || p.MoreBefore != tc.moreBefore || p.MoreAfter != tc.moreAfter {
			t.Errorf("%s: got %v before=%t after=%t, want %v before=%t after=%t",
				tc.name, p.Items, p.MoreBefore, p.MoreAfter, tc.want, tc.moreBefore, tc.moreAfter)
		}
	}
}
