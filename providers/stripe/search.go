package stripe

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	stripeapi "github.com/stripe/stripe-go/v84"

	"github.com/reconctl/reconctl/providers"
)

// maxSearchPages bounds one email search (100 results a page): a search
// with more hits than that is too broad to be one user's.
const maxSearchPages = 10

// searchPage is one /v1/customers/search response ("object":"search_result"):
// paged by next_page, not by cursor (stripe-go v84.4.1 search_params.go,
// SearchMeta).
type searchPage struct {
	stripeapi.APIResource
	stripeapi.SearchMeta
	Data objectList `json:"data"`
}

// EmailLookupNote explains how FindByEmail matches, for check-user to show
// when nothing was found: the list endpoint's email filter is exact and
// case-sensitive (Stripe API reference, List all customers: "A
// case-sensitive filter on the list based on the customer's email field").
func (p *Provider) EmailLookupNote() string {
	return `Stripe's email filter is exact and case-sensitive; --search also asks Stripe's Search API (email~"…", a substring match whose results can lag up to a minute behind changes)`
}

// SearchByEmail asks Stripe's Search API for customers whose email contains
// email (query email~"…") and keeps those whose email equals it ignoring
// case. Search results can lag behind writes: "under normal operating
// conditions, data is searchable in less than a minute" (Stripe API
// reference, Search customers). Stripe requires at least 3 characters for
// a substring match.
func (p *Provider) SearchByEmail(ctx context.Context, resource, email string) ([]providers.Record, error) {
	if resource != Customers {
		if resource == Subscriptions {
			return nil, fmt.Errorf("stripe can search only customers by email, not %s", resource)
		}
		return nil, p.unknown(resource)
	}
	if len(email) < 3 {
		return nil, fmt.Errorf("stripe's Search API needs at least 3 characters to match an email, got %q", email)
	}
	var out []providers.Record
	page := ""
	for n := 1; ; n++ {
		if n > maxSearchPages {
			return nil, fmt.Errorf("searching stripe customers for %s: more than %d results; use an exact email or an id", email, maxSearchPages*pageSize)
		}
		v := url.Values{}
		v.Set("query", `email~"`+quoteSearch(email)+`"`)
		v.Set("limit", strconv.Itoa(pageSize))
		if page != "" {
			v.Set("page", page)
		}
		res := &searchPage{}
		if err := p.api.CallRaw(http.MethodGet, "/v1/customers/search", p.key, []byte(v.Encode()), &stripeapi.Params{Context: ctx}, res); err != nil {
			return nil, fmt.Errorf("searching stripe customers for %s failed at page %d: %w", email, n, p.wrapErr(ctx, err))
		}
		for _, obj := range res.Data {
			rec, err := toRecord(obj)
			if err != nil {
				return nil, fmt.Errorf("searching stripe customers: %w", err)
			}
			if em, _ := obj["email"].(string); strings.EqualFold(em, email) {
				out = append(out, rec)
			}
		}
		if !res.HasMore {
			return out, nil
		}
		if res.NextPage == nil || *res.NextPage == "" || *res.NextPage == page {
			return nil, fmt.Errorf("searching stripe customers for %s: the API answered has_more without a usable next_page at page %d", email, n)
		}
		page = *res.NextPage
	}
}

// quoteSearch escapes a value for a quoted string in Stripe's search query
// language (a backslash escapes a quote).
func quoteSearch(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}
