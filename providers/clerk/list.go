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
)

// List implements providers.Provider.
func (p *Provider) List(ctx context.Context, resource string, fn func(providers.Record) error) error {
	if resource != Users {
		return p.unknown(resource)
	}
	return p.listUsers(ctx, url.Values{}, fn)
}

// FindByEmail implements providers.EmailFinder through the list's
// email_address filter.
func (p *Provider) FindByEmail(ctx context.Context, resource, email string) ([]providers.Record, error) {
	if resource != Users {
		return nil, p.unknown(resource)
	}
	var out []providers.Record
	err := p.listUsers(ctx, url.Values{"email_address": {email}}, func(r providers.Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// fetched is one page, or why it could not be read.
type fetched struct {
	users []map[string]any
	err   error
}

// inflight is a page being fetched ahead.
type inflight struct {
	offset int
	done   chan fetched
	cancel context.CancelFunc
}

// listUsers reads every user matching filter, exactly once.
//
// Clerk pages only by offset, and an offset names a position, not a user:
// with the default order (-created_at) every user created during the
// listing shifts the rest by one (the user at a page boundary is listed
// twice) and every deletion shifts them back (one is skipped). So:
//
//   - Pages are ordered by +created_at: a new user lands at the end (or is
//     not seen at all), never shifting what is left to read.
//   - Consecutive pages overlap by one user (each page starts at the last
//     position of the one before), and users are de-duplicated by id.
//   - The overlap must be a user already seen. If it is not, users before
//     the boundary were deleted and everything moved back: the listing
//     backs up by a page and re-reads (duplicates are skipped) until a page
//     starts at a seen user, or at offset 0.
//
// Why that is complete: the order is fixed per user (creation time, then
// id), and one page is a contiguous run of that order at the moment it was
// read. A page that starts at a user already delivered covers, with the
// pages after it, every user from there on that exists throughout the
// listing. Users created or deleted during the listing may or may not
// appear, as with any listing that is not a snapshot.
//
// Pages are independent requests, so up to Concurrency of them are fetched
// ahead at the predicted offsets once the first page has come back full; a
// back-up discards the ones fetched ahead.
func (p *Provider) listUsers(ctx context.Context, filter url.Values, fn func(providers.Record) error) error {
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	limit := p.pageSize
	seen := map[string]bool{}
	var window []*inflight
	discard := func() {
		for _, w := range window {
			w.cancel()
		}
		window = nil
	}
	defer discard()
	launch := func(offset int) *inflight {
		wctx, cancel := context.WithCancel(ctx)
		w := &inflight{offset: offset, done: make(chan fetched, 1), cancel: cancel}
		go func() {
			users, err := p.fetchPage(wctx, filter, offset, limit)
			w.done <- fetched{users, err}
		}()
		return w
	}
	next, pageNo, backups, stale := 0, 0, 0, 0
	// One page first: most lookups and small instances fit in it, and
	// fetching ahead would only waste requests.
	width := 1
	for {
		for len(window) < width {
			window = append(window, launch(next))
			next += limit - 1 // overlap by one
		}
		w := window[0]
		window = window[1:]
		var page fetched
		select {
		case page = <-w.done:
		case <-ctx.Done():
			return fmt.Errorf("listing clerk users: %w", context.Cause(ctx))
		}
		w.cancel()
		pageNo++
		if page.err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("listing clerk users: %w", context.Cause(ctx))
			}
			var ae *providers.AuthError
			if errors.As(page.err, &ae) {
				return page.err
			}
			return fmt.Errorf("listing clerk users failed at page %d (offset=%d): %w", pageNo, w.offset, page.err)
		}
		users := page.users
		if w.offset > 0 && (len(users) == 0 || !seen[userID(users[0])]) {
			// The users before this page's start moved back: some were
			// deleted. Re-read from a page further back.
			backups++
			if backups > p.maxBackups {
				return fmt.Errorf("listing clerk users: the user list kept shifting under the listing (%d re-reads at page boundaries); try again when fewer users are being deleted", backups-1)
			}
			p.log.Debug("clerk users shifted under the listing; re-reading the page boundary", "offset", w.offset)
			discard()
			next = max(0, w.offset-(limit-1))
			continue
		}
		fresh := 0
		for _, u := range users {
			id := userID(u)
			if seen[id] {
				continue
			}
			seen[id] = true
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
		if len(users) < limit {
			return nil
		}
		// A full page of users already seen, again and again, is an API
		// ignoring offset: stop rather than loop.
		if fresh == 0 {
			stale++
			if stale >= 3 {
				return fmt.Errorf("listing clerk users: %d full pages in a row brought no new user (at offset=%d); the API seems to ignore offset", stale, w.offset)
			}
		} else {
			stale = 0
		}
		width = p.concurrency
	}
}

func userID(u map[string]any) string {
	id, _ := u["id"].(string)
	return id
}

// fetchPage reads limit users from offset, oldest first.
func (p *Provider) fetchPage(ctx context.Context, filter url.Values, offset, limit int) ([]map[string]any, error) {
	q := url.Values{}
	for k, v := range filter {
		q[k] = v
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("offset", strconv.Itoa(offset))
	q.Set("order_by", "+created_at")
	resp, body, err := p.get(ctx, "/v1/users", q)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, p.apiError(resp, body)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var users []map[string]any
	if err := d.Decode(&users); err != nil {
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
