package clerk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/reconctl/reconctl/providers"
	"github.com/reconctl/reconctl/providers/pick"
)

// List implements providers.Provider.
func (p *Provider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	if resource != Users {
		return p.unknown(resource)
	}
	return p.listUsers(ctx, url.Values{}, nil, fn)
}

// ListPaths implements providers.PathLister: List, each user decoded with
// only paths (and what toRecord reads: id, updated_at, the primary email's
// fields) kept.
func (p *Provider) ListPaths(ctx context.Context, resource string, paths [][]string, fn func(providers.Record) error) error {
	if resource != Users {
		return p.unknown(resource)
	}
	return p.listUsers(ctx, url.Values{}, pick.Compile(paths, "id", "updated_at", "primary_email_address_id", "email_addresses"), fn)
}

// FindByEmail implements providers.EmailFinder through the list's
// email_address filter.
func (p *Provider) FindByEmail(ctx context.Context, resource, email string) ([]providers.Record, error) {
	if resource != Users {
		return nil, p.unknown(resource)
	}
	var out []providers.Record
	err := p.listUsers(ctx, url.Values{"email_address": {email}}, nil, func(r providers.Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// maxCursorStepBack bounds how many earlier users a listing tries as its
// cursor when the last one it read was deleted meanwhile.
const maxCursorStepBack = 50

// listUsers reads every user matching filter, exactly once, by keyset
// (cursor) pages: order_by=+created_at and starting_after=<id of the last
// user read>, keeping only keep's paths of each (all of it when nil).
//
// Source: Clerk's Backend API spec for the version we send
// (github.com/clerk/openapi-specs bapi/2021-02-05.yml, GET /users): "To walk
// more than a few pages, paginate with starting_after rather than offset ...
// a large offset ... gets progressively slower and eventually times out";
// starting_after "requires ordering by created_at" and cannot be combined
// with a non-zero offset. The server's keyset is the (created_at, id) order,
// so users created in the same millisecond are neither skipped nor repeated
// at a page boundary, and a page costs the same at any depth.
//
// +created_at (oldest first) means a user created during the listing lands
// at the end (or is not seen); deleting a user already read shifts nothing.
// The cursor names a user: if that user was deleted in the meantime Clerk
// may reject it (422 on starting_after), and the listing steps back to the
// user read before it, skipping ids it has already delivered.
//
// Pages depend on each other (each needs the last id of the one before), so
// they are read one at a time; --concurrency does not apply to Clerk.
func (p *Provider) listUsers(ctx context.Context, filter url.Values, keep *pick.Paths, fn func(providers.Record) error) error {
	limit := p.pageSize
	seen := map[string]bool{}
	var order []string // delivered ids, in listing order (cursor candidates)
	cursor, pageNo, stale := "", 0, 0
	for {
		pageNo++
		users, err := p.fetchPage(ctx, filter, keep, cursor, limit)
		if err == nil && cursor != "" && len(users) < limit {
			// A short page after a cursor may be the end, or Clerk's
			// answer for a deleted cursor user: the spec
			// (bapi/2021-02-05.yml, GET /users starting_after) does not
			// say whether that is a 422 or 200 []. Check the cursor user.
			if gone, gerr := p.userGone(ctx, cursor); gerr != nil {
				err = gerr
			} else if gone {
				err = errCursorGone
			}
		}
		if err != nil && cursor != "" && cursorRejected(err) {
			// The cursor user is gone: resume from an earlier user.
			users, cursor, err = p.stepBack(ctx, filter, keep, order, limit, err)
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("listing clerk users: %w", context.Cause(ctx))
			}
			var ae *providers.AuthError
			if errors.As(err, &ae) {
				return err
			}
			return fmt.Errorf("listing clerk users failed at page %d (%s): %w", pageNo, describeCursor(cursor), err)
		}
		fresh := 0
		for _, u := range users {
			id := userID(u)
			if seen[id] {
				continue
			}
			seen[id] = true
			order = append(order, id)
			fresh++
			rec, err := toRecord(u)
			if err != nil {
				return fmt.Errorf("listing clerk users: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("listing clerk users: %w", context.Cause(ctx))
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		// The spec's end signal: a page with fewer than limit users.
		if len(users) < limit {
			return nil
		}
		// Full pages of users already seen, again and again, are an API
		// ignoring the cursor: stop rather than loop.
		if fresh == 0 {
			stale++
			if stale >= 3 {
				return fmt.Errorf("listing clerk users: %d full pages in a row brought no new user (%s); the API seems to ignore starting_after", stale, describeCursor(cursor))
			}
		} else {
			stale = 0
		}
		cursor = userID(users[len(users)-1])
	}
}

// stepBack retries a page from the users read before a rejected cursor,
// latest first, and returns the page and the cursor that worked.
func (p *Provider) stepBack(ctx context.Context, filter url.Values, keep *pick.Paths, order []string, limit int, first error) ([]map[string]any, string, error) {
	err := first
	// order's last element is the rejected cursor.
	for i, tries := len(order)-2, 0; i >= 0 && tries < maxCursorStepBack; i, tries = i-1, tries+1 {
		c := order[i]
		p.log.Debug("clerk cursor user was deleted; resuming from an earlier user", "starting_after", c)
		var users []map[string]any
		users, err = p.fetchPage(ctx, filter, keep, c, limit)
		if err == nil && len(users) < limit {
			// Short again: this earlier user may be gone too (200 []).
			if gone, gerr := p.userGone(ctx, c); gerr != nil {
				return nil, c, gerr
			} else if gone {
				err = errCursorGone
			}
		}
		if err == nil {
			return users, c, nil
		}
		if !cursorRejected(err) {
			return nil, c, err
		}
	}
	if len(order) <= maxCursorStepBack {
		// Every user read so far is gone: start over (ids already
		// delivered are skipped).
		users, err := p.fetchPage(ctx, filter, keep, "", limit)
		return users, "", err
	}
	return nil, order[len(order)-1], fmt.Errorf("the last %d users read were deleted during the listing, so Clerk has no cursor to resume from; try again: %w", maxCursorStepBack+1, err)
}

// errCursorGone: a page after the cursor came back short and GET
// /v1/users/{cursor} answered 404: the cursor user was deleted.
var errCursorGone = errors.New("the starting_after user was deleted")

// cursorRejected reports Clerk's 422 on the starting_after parameter, or a
// cursor user found deleted after a short page.
func cursorRejected(err error) bool {
	var ae *APIError
	return errors.Is(err, errCursorGone) ||
		errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity && ae.Param == "starting_after"
}

// userGone reports whether GET /v1/users/{id} answers Clerk's 404
// resource_not_found (in the spec: bapi/2021-02-05.yml GET /users/{user_id}).
func (p *Provider) userGone(ctx context.Context, id string) (bool, error) {
	_, st, err := p.Get(ctx, Users, id)
	if err != nil {
		return false, err
	}
	return st == providers.StatusDeleted, nil
}

func describeCursor(c string) string {
	if c == "" {
		return "first page"
	}
	return "starting_after=" + c
}

func userID(u map[string]any) string {
	id, _ := u["id"].(string)
	return id
}

func decodeUsers(body []byte) ([]map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var users []map[string]any
	err := d.Decode(&users)
	return users, err
}

// fetchPage reads limit users after the user cursor (from the start when
// empty), oldest first, keeping only keep's paths of each (all when nil).
func (p *Provider) fetchPage(ctx context.Context, filter url.Values, keep *pick.Paths, cursor string, limit int) ([]map[string]any, error) {
	q := url.Values{}
	for k, v := range filter {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("order_by", "+created_at")
	if cursor != "" {
		q.Set("starting_after", cursor)
	}
	return p.fetchUsers(ctx, q, keep)
}

// fetchUsers reads one page of GET /v1/users with the query q, keeping only
// keep's paths of each user (all when nil).
func (p *Provider) fetchUsers(ctx context.Context, q url.Values, keep *pick.Paths) ([]map[string]any, error) {
	resp, body, err := p.get(ctx, "/v1/users", q)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, p.apiError(resp, body)
	}
	var users []map[string]any
	err = errors.New("no paths")
	if keep != nil {
		users, err = keep.Objects(body)
	}
	if err != nil { // encoding/json, which also says what is wrong
		users, err = decodeUsers(body)
	}
	if err != nil {
		// Clerk's list is a bare JSON array; anything else (an envelope, a
		// proxy's page) must not read as an empty listing.
		return nil, fmt.Errorf("decoding clerk users page (want a JSON array): %w", err)
	}
	if users == nil && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		return nil, errors.New("decoding clerk users page: null instead of a JSON array")
	}
	for i, u := range users {
		if userID(u) == "" {
			return nil, fmt.Errorf("clerk users page: item %d has no id", i)
		}
	}
	return users, nil
}
