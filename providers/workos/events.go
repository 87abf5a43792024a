package workos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/reconctl/reconctl/providers"
)

// eventTypes are the event types of each resource.
var eventTypes = map[string][]string{
	Users:          {"user.created", "user.updated", "user.deleted"},
	Organizations:  {"organization.created", "organization.updated", "organization.deleted"},
	DirectoryUsers: {"dsync.user.created", "dsync.user.updated", "dsync.user.deleted"},
}

// EventTypesFor returns the event types that change the given resources
// (unknown resources contribute none), in a stable order.
func EventTypesFor(resources ...string) []string {
	var out []string
	for _, r := range knownResources {
		if slices.Contains(resources, r) {
			out = append(out, eventTypes[r]...)
		}
	}
	return out
}

// eventResource maps an event type to the reconctl resource of its object.
func eventResource(typ string) string {
	switch {
	case strings.HasPrefix(typ, "user."):
		return Users
	case strings.HasPrefix(typ, "organization."):
		return Organizations
	case strings.HasPrefix(typ, "dsync.user."):
		return DirectoryUsers
	}
	return ""
}

// Events implements providers.EventSource.
//
// Source: WorkOS's OpenAPI spec (github.com/workos/openapi-spec
// spec/open-api-spec.yaml v0.61.0, GET /events): `events` is optional and
// one comma-separated list (`style: form, explode: false`), and after may be
// combined with range_start/range_end, as workos-go sends them on every page.
// A filter is always sent, so only the types that matter are read: q.Types
// when given, else the types of the provider's default resources. Every
// page carries the range (and after from the second on), so the server
// keeps filtering to the window. Pages ask for order=asc, but the live API has been seen
// ignoring order, so events are collected, filtered to [Since, Until) and
// sorted (created_at, then id) here before delivery.
func (p *Provider) Events(ctx context.Context, q providers.EventQuery, fn func(providers.Event) error) error {
	var types []string
	for _, t := range q.Types {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		types = EventTypesFor(p.DefaultResources()...)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return nil
	}
	pageNo := 0
	return p.eventsRange(ctx, q.Since, q.Until, types, &pageNo, fn)
}

const isoMillis = "2006-01-02T15:04:05.000Z"

// eventsRange delivers the events created in [a, b) (zero = open end).
//
// Memory stays bounded: when the window holds more than p.maxEventBuffer
// events, what was collected is dropped and the window is split where the
// collected part ends, older part first (the collected part is fetched
// again: at most about twice the requests, never unbounded memory).
func (p *Provider) eventsRange(ctx context.Context, a, b time.Time, types []string, pageNo *int, fn func(providers.Event) error) error {
	inRange := func(t time.Time) bool { return (a.IsZero() || !t.Before(a)) && (b.IsZero() || t.Before(b)) }
	ep := endpoint{resource: "events", path: "/events"}
	var buf []providers.Event
	seen := map[string]bool{}
	after := ""
	dir := 0 // the order the server answers in: +1 oldest first, -1 newest first, 0 not known yet
	var newest, oldest time.Time
	for {
		*pageNo++
		// Types go as one comma-separated value (the spec's form,
		// explode=false encoding).
		q := url.Values{"events": {strings.Join(types, ",")}, "limit": {fmt.Sprint(pageSize)}, "order": {"asc"}}
		if !a.IsZero() {
			// One millisecond early, in case range_start is exclusive.
			q.Set("range_start", a.UTC().Truncate(time.Millisecond).Add(-time.Millisecond).Format(isoMillis))
		}
		if !b.IsZero() {
			q.Set("range_end", ceilMilli(b).Format(isoMillis))
		}
		if after != "" {
			q.Set("after", after)
		}
		var lp rawPage
		err := p.fetchInto(ctx, ep, q, &lp)
		if err == nil && lp.Data == nil {
			err = errNotAList
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("listing workos events: %w", context.Cause(ctx))
			}
			var ae *providers.AuthError
			if errors.As(err, &ae) {
				return err
			}
			where := "events=" + strings.Join(types, ",")
			if !a.IsZero() {
				where += " range_start=" + q.Get("range_start")
			}
			if after != "" {
				where += " after=" + after
			}
			return fmt.Errorf("listing workos events failed at page %d (%s): %w", *pageNo, where, err)
		}
		var last, lo, hi time.Time
		up, down := false, false
		for i, raw := range *lp.Data {
			ev, err := toEvent(raw)
			if err != nil {
				return fmt.Errorf("listing workos events: %w", err)
			}
			if ev.Resource == DirectoryUsers && !p.ownDirectory(ev.Object) {
				// Another directory's user: directory_users lists (and so
				// reconciles) the configured directory only.
				ev.Resource = ""
			}
			t := ev.Created
			if i == 0 {
				lo, hi = t, t
			} else {
				up = up || t.After(last)
				down = down || t.Before(last)
				lo, hi = minTime(lo, t), maxTime(hi, t)
			}
			last = t
			if !inRange(t) || seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
			buf = append(buf, ev)
			newest = maxTime(newest, t)
			if oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
		}
		switch {
		case up && !down:
			dir = 1
		case down && !up:
			dir = -1
		}
		next := lp.ListMetadata.After
		if next == nil || *next == "" || len(*lp.Data) == 0 {
			break
		}
		if *next == after {
			return fmt.Errorf("listing workos events: the API repeated after=%s; stopping instead of looping", after)
		}
		// A server ignoring the range: stop once the walk has left the window.
		if dir > 0 && !b.IsZero() && !hi.Before(b) || dir < 0 && !a.IsZero() && lo.Before(a) {
			break
		}
		after = *next
		if len(buf) > p.maxEventBuffer {
			// Split where the collected part ends, so that one side is
			// about what was collected and the other the rest: after the
			// newest event when the walk goes forward in time, before the
			// oldest when it goes backward.
			cut := newest
			if dir < 0 {
				cut = oldest
			}
			if cut.After(a) && (b.IsZero() || cut.Before(b)) {
				buf, seen = nil, nil
				if err := p.eventsRange(ctx, a, cut, types, pageNo, fn); err != nil {
					return err
				}
				return p.eventsRange(ctx, cut, b, types, pageNo, fn)
			}
		}
	}
	return providers.SendInOrder(ctx, buf, "workos events", fn)
}

// ceilMilli rounds t up to a whole millisecond (WorkOS times have millisecond precision).
func ceilMilli(t time.Time) time.Time {
	t = t.UTC()
	if tr := t.Truncate(time.Millisecond); !tr.Equal(t) {
		return tr.Add(time.Millisecond)
	}
	return t
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// rawPage is an events page with each event kept as received.
type rawPage struct {
	Data         *[]json.RawMessage `json:"data"`
	ListMetadata struct {
		After *string `json:"after"`
	} `json:"list_metadata"`
}

// ownDirectory reports whether a dsync.user.* event's object belongs to the
// configured directory (an object naming no directory is taken as its).
func (p *Provider) ownDirectory(obj map[string]any) bool {
	dir, _ := obj["directory_id"].(string)
	return dir == "" || dir == p.directoryID
}

// toEvent maps a WorkOS event: {object:"event", id, event, data,
// created_at, context?}. Raw keeps the bytes as received.
func toEvent(raw json.RawMessage) (providers.Event, error) {
	obj, err := decodeObject(raw)
	if err != nil {
		return providers.Event{}, err
	}
	id, _ := obj["id"].(string)
	typ, _ := obj["event"].(string)
	if id == "" || typ == "" {
		return providers.Event{}, errors.New("workos event without id or event type")
	}
	cs, _ := obj["created_at"].(string)
	created, err := time.Parse(time.RFC3339Nano, cs)
	if err != nil {
		return providers.Event{}, fmt.Errorf("workos event %s: created_at %q is not ISO-8601", id, cs)
	}
	ev := providers.Event{ID: id, Type: typ, Created: created.UTC(), Resource: eventResource(typ),
		Deleted: strings.HasSuffix(typ, ".deleted"), Raw: raw}
	if data, ok := obj["data"].(map[string]any); ok {
		ev.Object = data
		ev.ObjectID, _ = data["id"].(string)
	}
	return ev, nil
}

// EventTypesFor implements providers.EventTyper.
func (p *Provider) EventTypesFor(resources []string) []string { return EventTypesFor(resources...) }

// DeletionEvents implements providers.DeletionEventer: user.deleted,
// organization.deleted and dsync.user.deleted each mean the object is gone
// (GET answers 404 entity_not_found). A deactivated directory user is
// dsync.user.updated with state inactive, not a deletion.
func (p *Provider) DeletionEvents(resource string) (gone, created []string) {
	types, ok := eventTypes[resource]
	if !ok {
		return nil, nil
	}
	prefix := strings.TrimSuffix(types[0], ".created")
	return []string{prefix + ".deleted"}, []string{prefix + ".created"}
}
