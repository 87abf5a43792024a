package stripe

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// BenchmarkStripeList100k lists 100,000 customers from the fake with no
// latency and no client-side rate limit: the cost of our own paging,
// decoding and merging (the fake runs in the same process, so its encoding
// is included in allocs).
//
//	go test -run '^$' -bench StripeList100k -benchmem ./providers/stripe
func BenchmarkStripeList100k(b *testing.B) {
	const n = 100_000
	f, srv := newFake(b)
	seedCustomers(f, n)
	for _, conc := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			p := newProvider(b, srv.URL, providers.Options{Concurrency: conc})
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				got := 0
				if err := p.List(context.Background(), Customers, func(providers.Record) error { got++; return nil }); err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("listed %d of %d", got, n)
				}
			}
			el := time.Since(start).Seconds()
			b.ReportMetric(float64(n*b.N)/el, "records/s")
			b.ReportMetric(float64(p.HTTPStats().Requests)/float64(b.N), "requests/op")
		})
	}
}

// BenchmarkStripeRequestRate measures how close a listing gets to the
// record rate Stripe's limit allows: every call takes 100 ms (Stripe's real
// latency is 300–500 ms), the client paces itself at 25 req/s (Stripe's
// per-endpoint limit) and the fake enforces the same 25 req/s server-side
// (a token bucket of 5: a burst above it is answered 429, as Stripe does),
// so a pacing mistake costs 429s and time. The ceiling is rps × 100 records
// a second (full pages at the limit); the benchmark reports records/s, its
// ratio to that ceiling (of_limit, the baseline: the limit itself, known
// exactly), requests per 100 records (1.00 = every page full) and the 429s
// the fake answered.
//
//	go test -run '^$' -bench StripeRequestRate -benchtime 1x ./providers/stripe
func BenchmarkStripeRequestRate(b *testing.B) {
	const rps = 25
	for _, n := range []int{20_000, 100_000} {
		b.Run(fmt.Sprintf("customers=%d", n), func(b *testing.B) {
			f, srv := newFake(b)
			seedCustomers(f, n)
			f.SetFaults(stripefake.Faults{Latency: 100 * time.Millisecond, LimitRPS: rps, LimitBurst: 5})
			p := newProvider(b, srv.URL, providers.Options{Concurrency: 8, RPS: rps})
			f.ResetStats()
			var el float64
			for b.Loop() {
				// The server's bucket starts full for every run, like the
				// client's.
				f.SetFaults(stripefake.Faults{Latency: 100 * time.Millisecond, LimitRPS: rps, LimitBurst: 5})
				start := time.Now()
				got := 0
				if err := p.List(context.Background(), Customers, func(providers.Record) error { got++; return nil }); err != nil {
					b.Fatal(err)
				}
				el += time.Since(start).Seconds()
				if got != n {
					b.Fatalf("listed %d of %d", got, n)
				}
			}
			reqs := float64(p.HTTPStats().Requests)
			recPerSec := float64(n*b.N) / el
			b.ReportMetric(reqs/el, "req/s")
			b.ReportMetric(recPerSec, "records/s")
			b.ReportMetric(recPerSec/(rps*pageSize), "of_limit")
			b.ReportMetric(reqs/float64(n*b.N)*100, "requests/100records")
			b.ReportMetric(float64(f.Stats().RateLimited)/float64(b.N), "429s/op")
		})
	}
}
