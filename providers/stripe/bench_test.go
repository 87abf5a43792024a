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

// BenchmarkStripeRequestRate measures the request rate a listing reaches
// when every call takes 100 ms (Stripe's real latency is 300–500 ms) and the
// client is limited to 25 req/s (Stripe's per-endpoint limit): a sequential
// cursor walk is bound by latency (< 10 req/s); split listing should sit at
// the limit.
//
//	go test -run '^$' -bench StripeRequestRate -benchtime 1x ./providers/stripe
func BenchmarkStripeRequestRate(b *testing.B) {
	const n = 15_000
	f, srv := newFake(b)
	seedCustomers(f, n)
	f.SetFaults(stripefake.Faults{Latency: 100 * time.Millisecond})
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			p := newProvider(b, srv.URL, providers.Options{Concurrency: conc, RPS: 25})
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
			reqs := float64(p.HTTPStats().Requests)
			b.ReportMetric(reqs/el, "req/s")
			b.ReportMetric(float64(n*b.N)/el, "records/s")
			b.ReportMetric(reqs/float64(b.N), "requests/op")
		})
	}
}
