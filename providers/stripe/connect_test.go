package stripe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/reconctl/reconctl/providers"
)

// Stripe Connect: a provider opened for a connected account sees that
// account's data only (every call carries Stripe-Account); the platform's
// provider lists the accounts.
func TestConnectAccounts(t *testing.T) {
	ctx := context.Background()
	f, srv := newFake(t)
	f.CreateCustomer(map[string]any{"email": "platform@example.com"})
	var want []string
	for i := range 150 { // more than one page of /v1/accounts
		id := fmt.Sprintf("acct_%03d", i)
		want = append(want, id)
		a := f.Account(id)
		for j := range i % 3 {
			a.CreateCustomer(map[string]any{"email": fmt.Sprintf("%s-%d@example.com", id, j)})
		}
	}
	platform := newProvider(t, srv.URL, providers.Options{})
	var got []string
	if err := platform.ListAccounts(ctx, func(id string) error { got = append(got, id); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("ListAccounts = %d ids, want %d (%v…)", len(got), len(want), got[:min(3, len(got))])
	}

	emails := func(p *Provider) []string {
		var out []string
		if err := p.List(ctx, Customers, func(r providers.Record) error {
			out = append(out, r.Data["email"].(string))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sort.Strings(out)
		return out
	}
	if got := emails(platform); strings.Join(got, ",") != "platform@example.com" {
		t.Errorf("platform customers = %v", got)
	}
	a2 := newProvider(t, srv.URL, providers.Options{Account: "acct_002"})
	if got := emails(a2); strings.Join(got, ",") != "acct_002-0@example.com,acct_002-1@example.com" {
		t.Errorf("acct_002 customers = %v", got)
	}
	if a2.Account() != "acct_002" {
		t.Errorf("Account() = %q", a2.Account())
	}
	// Get goes to the account too: another account's customer is not there.
	id := ""
	f.Account("acct_001").CreateCustomer(map[string]any{"id": "cus_only1", "email": "x@example.com"})
	a1 := newProvider(t, srv.URL, providers.Options{Account: "acct_001"})
	if err := a1.List(ctx, Customers, func(r providers.Record) error {
		if r.Data["email"] == "x@example.com" {
			id = r.ID
		}
		return nil
	}); err != nil || id == "" {
		t.Fatalf("acct_001 list: %v (id %q)", err, id)
	}
	if _, st, err := a1.Get(ctx, Customers, id); err != nil || st != providers.StatusPresent {
		t.Errorf("Get own customer: %v %v", st, err)
	}
	if _, st, err := a2.Get(ctx, Customers, id); err != nil || st == providers.StatusPresent {
		t.Errorf("Get another account's customer as acct_002: %v %v, want absent", st, err)
	}
	// Every request a connected provider made carried its account.
	for _, r := range f.Account("acct_002").Requests() {
		if !strings.HasPrefix(r.Path, "/v1/") {
			t.Errorf("acct_002 served %s", r.Path)
		}
	}
	if err := a2.ListAccounts(ctx, func(string) error { return nil }); err == nil {
		t.Error("ListAccounts of a connected provider did not fail")
	}
	// An account the key cannot reach: 403 account_invalid.
	gone := newProvider(t, srv.URL, providers.Options{Account: "acct_404"})
	err := gone.List(ctx, Customers, func(providers.Record) error { return nil })
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != "account_invalid" {
		t.Errorf("unknown account: %v", err)
	}
}

// Ids of different accounts never collide (keys are unique across tenants).
func TestConnectIDsUnique(t *testing.T) {
	f, _ := newFake(t)
	seen := map[string]bool{}
	for _, acct := range []string{"", "acct_a", "acct_b"} {
		fk := f
		if acct != "" {
			fk = f.Account(acct)
		}
		for range 50 {
			id := fk.CreateCustomer(map[string]any{"email": "e@example.com"})["id"].(string)
			if seen[id] {
				t.Fatalf("id %s given twice", id)
			}
			seen[id] = true
		}
	}
}

type countingBudget struct{ n atomic.Int64 }

func (b *countingBudget) Wait(ctx context.Context) error { b.n.Add(1); return ctx.Err() }

// Providers sharing a Budget all wait on it: one request budget for many tenants.
func TestSharedBudget(t *testing.T) {
	ctx := context.Background()
	f, srv := newFake(t)
	f.Account("acct_1").CreateCustomer(map[string]any{"email": "a@example.com"})
	f.Account("acct_2").CreateCustomer(map[string]any{"email": "b@example.com"})
	b := &countingBudget{}
	var sent int64
	for _, acct := range []string{"acct_1", "acct_2"} {
		p := newProvider(t, srv.URL, providers.Options{Account: acct, Budget: b})
		if err := p.List(ctx, Customers, func(providers.Record) error { return nil }); err != nil {
			t.Fatal(err)
		}
		sent += p.HTTPStats().Requests
	}
	if sent == 0 || b.n.Load() != sent {
		t.Errorf("budget waited %d times for %d requests", b.n.Load(), sent)
	}
}
