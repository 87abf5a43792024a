package reconcile

import (
	"strconv"
	"testing"

	"github.com/reconctl/reconctl/localstate"
)

// BenchmarkIndexExactHash: indexing 200,000 local rows (the engine
// benchmarks' four fields, email under casefold) with the exact-value hash
// a conditional write needs (exactValues) against the baseline that hashes
// only the compare modes' canonical forms, measured in the same run: the
// cost of #15's exact conditions on the scan side.
//
//	go test -run '^$' -bench IndexExactHash -benchtime 1x ./reconcile/
func BenchmarkIndexExactHash(b *testing.B) {
	const n = 200_000
	fields := []field{{col: "email", mode: "casefold"}, {col: "name"}, {col: "plan"}, {col: "balance"}}
	rows := make([][]any, n)
	keys := make([]string, n)
	for i := range rows {
		keys[i] = "cus_" + strconv.Itoa(1e8+i)
		rows[i] = []any{"User" + strconv.Itoa(i) + "@Example.com", "User " + strconv.Itoa(i), "pro", int64(i % 1000)}
	}
	for _, exact := range []bool{false, true} {
		name := "baseline-mode-hash-only"
		if exact {
			name = "with-exact-hash"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				x := newLocalIndex(n, exact, false)
				var buf []byte
				for i, vals := range rows {
					get := func(j int) (any, bool) { return vals[j], true }
					var h uint64
					buf, h = hashValues(buf, fields, get)
					xh := h
					if exact {
						buf, xh = exactValues(buf, fields, h, get)
					}
					x.add(keys[i], h, xh, 0, localstate.RowVersion{})
				}
			}
		})
	}
}
