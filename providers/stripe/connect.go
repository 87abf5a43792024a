// Stripe Connect (issue #17): the platform's connected accounts are its
// tenants; a provider opened with Options.Account acts for one of them
// (every call carries Stripe-Account, set in the HTTP layer).

package stripe

import (
	"context"
	"fmt"

	stripeapi "github.com/stripe/stripe-go/v84"
)

// Account returns the connected account this provider acts for ("" for the
// key's own account).
func (p *Provider) Account() string { return p.account }

// ListAccounts calls fn with the id of every connected account of the
// platform (GET /v1/accounts, page by page, newest first). Only the ids are
// kept: memory does not grow with the number of accounts beyond fn's own.
func (p *Provider) ListAccounts(ctx context.Context, fn func(id string) error) error {
	if p.account != "" {
		return fmt.Errorf("listing connected accounts: this provider acts for connected account %s; list them with the platform's", p.account)
	}
	params := &stripeapi.AccountListParams{}
	params.Limit = stripeapi.Int64(pageSize)
	for a, err := range p.sc.V1Accounts.List(ctx, params) {
		if err != nil {
			return fmt.Errorf("listing stripe connected accounts: %w", p.wrapErr(ctx, err))
		}
		if a.ID == "" {
			continue
		}
		if err := fn(a.ID); err != nil {
			return err
		}
	}
	return nil
}
