package reconcile

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/reconctl/reconctl/localstate"
	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/stripe"
	"github.com/reconctl/reconctl/providers/stripe/stripefake"
)

// getsOnly hides the provider's deletion events: every missing_remote
// record is confirmed with one Get, as before Features.Deletions.
type getsOnly struct{ providers.Provider }

func (g getsOnly) Features() providers.Features {
	inner := providers.FeaturesOf(g.Provider)
	keep := inner
	keep.Deletions = nil
	return inner.Mask(keep)
}

// BenchmarkConfirmDeletions: a diff of N customers (default 20,000;
// RECONCTL_BENCH_N=100000 for more) of which 1% were deleted on the
// provider (customer.deleted recorded by the fake), against the fake Stripe
// answering every call after 100 ms and enforcing 25 req/s server-side, the
// client paced at 25 req/s. Run twice in the same benchmark: with the
// deletions confirmed from the events (a page of events settles up to 100)
// and with one Get per missing record (the baseline). It reports each
// run's provider calls and seconds, and their ratios.
//
//	go test -run '^$' -bench ConfirmDeletions -benchtime 1x ./reconcile/
func BenchmarkConfirmDeletions(b *testing.B) {
	n := 20_000
	if v := os.Getenv("RECONCTL_BENCH_N"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	const key = "sk_test_benchconfirm0123456789"
	b.Setenv("BENCH_STRIPE_KEY", key)
	fake, srv := stripefake.NewServer(stripefake.Config{APIKey: key})
	defer srv.Close()
	now := time.Now()
	ids := fake.SeedCustomers(n, now.Add(-10000*time.Hour), now.Add(-2*time.Hour), func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("u%d@example.com", i)}
	})
	s := &memStore{cols: []string{"email"}, rows: make(map[string]map[string]any, n)}
	deleted := 0
	for i, id := range ids {
		s.rows[id] = map[string]any{"email": fmt.Sprintf("u%d@example.com", i)}
		if i%100 == 42 {
			if err := fake.DeleteCustomer(id); err != nil {
				b.Fatal(err)
			}
			deleted++
		}
	}
	tbl := &localstate.Table{Resource: "customers", Name: "users", Key: "id", Fields: []localstate.Field{{Column: "email", Path: "email"}}}
	p, err := stripe.New(providers.Options{APIBase: srv.URL, APIKeyEnv: "BENCH_STRIPE_KEY", RPS: 25, Concurrency: 8})
	if err != nil {
		b.Fatal(err)
	}
	diff := func(prov providers.Provider) (calls int, took time.Duration) {
		fake.SetFaults(stripefake.Faults{Latency: 100 * time.Millisecond, LimitRPS: 25, LimitBurst: 5})
		fake.ResetStats()
		e := &Engine{Provider: prov, Store: s}
		r, err := e.Prepare(context.Background(), tbl)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		res, err := e.Compare(context.Background(), []*Resource{r}, ModeDiff)
		took = time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if sum := res.Summaries()["customers"]; sum.MissingRemote != deleted {
			b.Fatalf("missing_remote %d, want %d", sum.MissingRemote, deleted)
		}
		for _, d := range res.Drift {
			if d.RemoteStatus != RemoteDeleted || d.Action != ActionDelete {
				b.Fatalf("%s: %s/%s, want deleted/delete", d.ID, d.RemoteStatus, d.Action)
			}
		}
		return fake.Stats().Requests, took
	}
	for b.Loop() {
		callsGet, tGet := diff(getsOnly{p})
		callsEv, tEv := diff(p)
		b.ReportMetric(float64(callsEv), "calls_events")
		b.ReportMetric(float64(callsGet), "calls_one_get_per_id")
		b.ReportMetric(tEv.Seconds(), "s_events")
		b.ReportMetric(tGet.Seconds(), "s_one_get_per_id")
		b.ReportMetric(float64(callsEv)/float64(callsGet), "calls_ratio")
		b.ReportMetric(tEv.Seconds()/tGet.Seconds(), "time_ratio")
	}
}
