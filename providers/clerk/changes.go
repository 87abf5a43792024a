package clerk

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// ChangesSince implements providers.ChangeLister: Clerk has no events list
// API and no updated_at filter, so the users changed since since are read
// from GET /v1/users?order_by=-updated_at (newest first; the spec,
// bapi/2021-02-05.yml GET /users, lists updated_at among the order_by
// fields), by offset pages (starting_after requires the created_at order),
// until a user older than since: the rest are older still. Each user is one
// Change with its listed record (its current state). Deletions are not
// covered: a deleted user is simply no longer listed.
//
// An update during the walk moves a user to the front of the order, which
// repeats one at a page boundary (delivered once: ids are de-duplicated); a
// deletion moves the rest back by one, so each page starts one user early
// (an overlap of one) and none is skipped. The window is meant to be small:
// a large offset gets slow on Clerk's side (the spec warns of it).
func (p *Provider) ChangesSince(ctx context.Context, resource string, since time.Time, fn func(providers.Change) error) (providers.Coverage, error) {
	cov := providers.Coverage{Source: providers.SourceUpdatedAtOrder, Deletions: false}
	if resource != Users {
		return cov, p.unknown(resource)
	}
	limit := p.pageSize
	overlap := 0
	if limit > 1 {
		overlap = 1
	}
	seen := map[string]bool{}
	offset, stale := 0, 0
	for pageNo := 1; ; pageNo++ {
		q := url.Values{"limit": {strconv.Itoa(limit)}, "order_by": {"-updated_at"}}
		if offset > 0 {
			q.Set("offset", strconv.Itoa(offset))
		}
		users, err := p.fetchUsers(ctx, q, nil)
		if err != nil {
			if ctx.Err() != nil {
				return cov, fmt.Errorf("listing clerk users changed since %s: %w", since.UTC().Format(time.RFC3339), context.Cause(ctx))
			}
			var ae *providers.AuthError
			if errors.As(err, &ae) {
				return cov, err
			}
			return cov, fmt.Errorf("listing clerk users changed since %s failed at page %d (offset %d): %w", since.UTC().Format(time.RFC3339), pageNo, offset, err)
		}
		fresh := 0
		for _, u := range users {
			rec, err := toRecord(u)
			if err != nil {
				return cov, fmt.Errorf("listing clerk users changed since %s: %w", since.UTC().Format(time.RFC3339), err)
			}
			if rec.UpdatedAt.Before(since) {
				return cov, nil // newest first: every later user is older
			}
			if seen[rec.ID] {
				continue
			}
			seen[rec.ID] = true
			fresh++
			if err := fn(providers.Change{Resource: Users, ID: rec.ID, At: rec.UpdatedAt, Record: &rec}); err != nil {
				return cov, err
			}
		}
		if len(users) < limit {
			return cov, nil
		}
		if fresh == 0 {
			if stale++; stale >= 3 {
				return cov, fmt.Errorf("listing clerk users changed since %s: %d full pages in a row brought no new user (offset %d); the API seems to ignore offset", since.UTC().Format(time.RFC3339), stale, offset)
			}
		} else {
			stale = 0
		}
		offset += len(users) - overlap
	}
}

var _ providers.ChangeLister = (*Provider)(nil)
